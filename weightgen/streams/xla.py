"""XLA's CPU float arithmetic, reproduced in numpy, for ``--rng jax``.

JAX's samplers are compiled by XLA, whose CPU backend (on hosts with FMA, which is every
x86-64 since 2013 and every ARM64) fuses ``a * b + c`` into one fused multiply-add when
the product has a single use, expands ``log1p``, ``log``, ``exp``, ``erf`` and
``erf_inv`` of float32 into its own polynomials, calls the C library's ``log``, ``erf``,
``exp``, ``sin`` and ``cos`` for float64 (and ``sinf``/``cosf`` for complex64 angles),
and computes bfloat16 in float32 rounded to nearest-even after every operation. numpy's
own ``log``/``sin``/``exp`` are different (SIMD) implementations, so the functions here
follow XLA's instruction sequence: the bit patterns are XLA's constants.

The fused multiply-add is emulated exactly: float32 through a float64 product (exact) and
a round-to-odd sum; float64 through Dekker's split product and the same round-to-odd sum
(Boldo and Melquiond).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import math

import numpy as np

F16, F32, F64 = np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64)


def f32_bits(bits: int) -> np.float32:
    return np.array(bits, np.uint32).view(np.float32)[()]


def f64_bits(bits: int) -> np.float64:
    return np.array(bits, np.uint64).view(np.float64)[()]


# -- bfloat16 as XLA computes it: float32 values rounded to nearest-even bfloat16 --------


def round_bf16(x: np.ndarray) -> np.ndarray:
    """float32 values rounded to the nearest-even bfloat16, kept as float32 (NaN stays quiet)."""
    x = np.asarray(x, np.float32)
    wide = x.view(np.uint32).astype(np.uint64)
    rounded = ((wide + 0x7FFF + ((wide >> 16) & 1)) & 0xFFFF0000).astype(np.uint32)
    quiet_nan = (x.view(np.uint32) & np.uint32(0xFF800000)) | np.uint32(0x400000)
    return np.where(np.isnan(x), quiet_nan, rounded).view(np.float32)


# -- fused multiply-add ----------------------------------------------------------------------


def _two_sum(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    s = a + b
    b_virtual = s - a
    a_virtual = s - b_virtual
    return s, (a - a_virtual) + (b - b_virtual)


def _add_round_to_odd(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a + b in float64, rounded to odd (so a second rounding to float32 is correct)."""
    s, error = _two_sum(a, b)
    even = (s.view(np.int64) & 1) == 0
    fix = (error != 0) & even & np.isfinite(s)
    return np.where(fix, np.nextafter(s, np.where(error > 0, np.inf, -np.inf)), s)


def fma32(a, b, c) -> np.ndarray:
    """float32 ``fma(a, b, c)``, correctly rounded.

    The float64 product of two float32s is exact, so ``a * b + c`` in float64 is rounded
    once, and rounding it to float32 is a second rounding. The two give another result
    than one correct rounding only where the float64 sum lies exactly halfway between two
    float32s (or among float32 subnormals); those few sums are redone rounded to odd.
    """
    a, b, c = np.broadcast_arrays(*(np.asarray(v, np.float32).astype(np.float64)
                                    for v in (a, b, c)))
    with np.errstate(invalid="ignore", over="ignore"):
        product = a * b
        total = np.array(product + c)
        halfway = (((total.view(np.int64) & 0x1FFFFFFF) == 0x10000000)
                   | (np.abs(total) < 2.0**-125))
        if halfway.any():
            total[halfway] = _add_round_to_odd(product[halfway], c[halfway])
    return total.astype(np.float32)


_DEKKER = np.float64(134217729.0)  # 2**27 + 1


def _split(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    t = _DEKKER * a
    high = t - (t - a)
    return high, a - high


def fma64(a, b, c) -> np.ndarray:
    """float64 ``fma(a, b, c)``, exact away from overflowing or subnormal products."""
    a, b, c = (np.asarray(v, np.float64) for v in (a, b, c))
    with np.errstate(invalid="ignore", over="ignore"):
        product = a * b
        a_high, a_low = _split(a)
        b_high, b_low = _split(b)
        product_error = ((a_high * b_high - product) + a_high * b_low + a_low * b_high) + a_low * b_low
        high, low = _two_sum(c, product)
        result = high + _add_round_to_odd(low, product_error)
        plain = ~np.isfinite(product) | ~np.isfinite(c) | (product == 0)
        return np.where(plain, a * b + c, result)


def fma_for(dtype: np.dtype):
    return fma32 if dtype == F32 else fma64


# -- the C library (XLA calls it for float64, and for float32 sin/cos) ------------------


@functools.cache
def _libm_float_function(name: str):
    library = ctypes.CDLL(ctypes.util.find_library("m") or "libm.so.6")
    function = getattr(library, name)
    function.restype = ctypes.c_float
    function.argtypes = [ctypes.c_float]
    return np.frompyfunc(function, 1, 1)


_PYTHON_LIBM = {name: np.frompyfunc(getattr(math, name), 1, 1)
                for name in ("erf", "exp", "sin", "cos")}


def libm(name: str, x, dtype: np.dtype = F64) -> np.ndarray:
    """The C library's ``name`` (``sinf``/``cosf`` in float32, the rest in float64), elementwise."""
    x = np.asarray(x)
    if x.size == 0:
        return x.astype(dtype)
    if name in ("sinf", "cosf"):
        values = _libm_float_function(name)(x.astype(np.float32).astype(np.float64))
    else:
        values = _PYTHON_LIBM[name](x.astype(np.float64))
    return np.asarray(values).astype(dtype)


def libm_log(x) -> np.ndarray:
    """The C library's ``log`` of a float64 array, with its NaN, 0 and infinity rules."""
    x = np.asarray(x, np.float64)
    out = np.empty_like(x)
    positive = x > 0
    out[~positive] = np.where(x[~positive] == 0, -np.inf, np.nan)
    infinite = np.isinf(x) & positive
    out[infinite] = np.inf
    finite = positive & ~infinite
    if finite.any():
        out[finite] = np.asarray(np.frompyfunc(math.log, 1, 1)(x[finite]), np.float64)
    return out


# -- float32 log, log1p, exp (XLA's own polynomials) --------------------------------------


def log_f32(x) -> np.ndarray:
    """XLA's float32 ``log`` (``xla.log.f32``: a Cephes logf polynomial with FMA)."""
    f32 = np.float32
    x = np.asarray(x, np.float32)
    with np.errstate(all="ignore"):
        clamped = np.where(x > f32_bits(0x00800000), x, f32_bits(0x00800000)).astype(f32)
        bits = clamped.view(np.uint32)
        exponent_plus_one = (((bits >> 23).astype(np.int32) - 127).astype(f32) + f32(1)).astype(f32)
        mantissa = ((bits & np.uint32(0x807FFFFF)) | np.uint32(0x3F000000)).view(f32)
        below = mantissa < f32_bits(0x3F3504F3)
        m = ((mantissa + f32(-1)).astype(f32) + np.where(below, mantissa, f32(0))).astype(f32)
        e = (exponent_plus_one - np.where(below, f32(1), f32(0))).astype(f32)
        m2 = (m * m).astype(f32)
        m3 = (m2 * m).astype(f32)
        p1 = fma32(fma32(m, f32_bits(0x3D9021BB), f32_bits(0xBDEBD1B8)), m, f32_bits(0x3DEF251A))
        p2 = fma32(fma32(m, f32_bits(0xBDFE5D4F), f32_bits(0x3E11E9BF)), m, f32_bits(0xBE2AAE50))
        p3 = fma32(fma32(m, f32_bits(0x3E4CCEAC), f32_bits(0xBE7FFFFC)), m, f32_bits(0x3EAAAAAA))
        q = fma32(fma32(p1, m3, p2), m3, p3)
        y = fma32(q, m3, (e * f32_bits(0xB95E8083)).astype(f32))
        t = (m - (m2 * f32(0.5)).astype(f32)).astype(f32)
        result = fma32(e, f32_bits(0x3F318000), (t + y).astype(f32)).view(np.uint32)
        result = np.where((x <= 0) | np.isnan(x), np.uint32(0xFFFFFFFF), result)
        result = np.where((x != 0) & (x != np.inf), result, np.uint32(0))
        special = np.where(x != 0, np.where(x != np.inf, np.uint32(0), np.uint32(0x7F800000)),
                           np.uint32(0xFF800000))
        return (special | result).view(f32)


# Cephes log1p rational approximation (XLA's EmitLog1p, used where |x| < sqrt(2) - 1).
_LOG1P_DENOMINATOR = (1.5062909083469192043167e1, 8.3047565967967209469434e1,
                      2.2176239823732856465394e2, 3.0909872225312059774938e2,
                      2.1642788614495947685003e2, 6.0118660497603843919306e1)
_LOG1P_NUMERATOR = (4.5270000862445199635215e-5, 4.9854102823193375972212e-1,
                    6.5787325942061044846969e0, 2.9911919328553073277375e1,
                    6.0949667980987787057556e1, 5.7112963590585538103336e1,
                    2.0039553499201281259648e1)


def log1p(x: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """XLA's ``log1p`` for float32 or float64 ``x``."""
    if dtype == F32:
        fma, cast, threshold = fma32, np.float32, f32_bits(0x3ED413CD)
        large = log_f32((x + np.float32(1)).astype(np.float32))
    else:
        fma, cast, threshold = fma64, np.float64, f64_bits(0x3FDA827999FCEF32)
        large = libm_log(x + 1.0)
    with np.errstate(all="ignore"):
        x2 = (x * x).astype(dtype)
        denominator = np.ones_like(x)
        for c in _LOG1P_DENOMINATOR:
            denominator = fma(denominator, x, cast(c))
        numerator = np.full_like(x, cast(_LOG1P_NUMERATOR[0]))
        for c in _LOG1P_NUMERATOR[1:]:
            numerator = fma(numerator, x, cast(c))
        ratio = (numerator / denominator).astype(dtype)
        x3 = (x * x2).astype(dtype)
        small = (x + fma(x2, cast(-0.5), (x3 * ratio).astype(dtype))).astype(dtype)
        return np.where(np.abs(x) < threshold, small, large).astype(dtype)


_EXP_POLYNOMIAL = (0x3C088908, 0x3D2AA9C1, 0x3E2AAAAA, 0x3F000000)


def exp_f32(x) -> np.ndarray:
    """XLA's float32 ``exp`` (a Cephes-style polynomial with FMA)."""
    f32 = np.float32
    x = np.asarray(x, f32)
    with np.errstate(all="ignore"):
        x = np.where(x >= f32(-87.8), x, f32(-87.8)).astype(f32)  # NaN becomes -87.8, as in XLA
        x = np.where(x <= f32(88.8), x, f32(88.8)).astype(f32)
        n = np.floor(fma32(x, f32_bits(0x3FB8AA3B), f32(0.5))).astype(f32)
        n = np.clip(n, f32(-127), f32(127)).astype(f32)
        r = fma32(-n, f32_bits(0x3F318000), x)
        r = fma32(-n, f32_bits(0xB95E8083), r)
        y = fma32(r, f32_bits(0x39506967), f32_bits(0x3AB743CE))
        for c in _EXP_POLYNOMIAL:
            y = fma32(y, r, f32_bits(c))
        y = (f32(1) + fma32(y, (r * r).astype(f32), r)).astype(f32)
        scale = ((n.astype(np.int32) + 127) << 23).astype(np.int32).view(f32)
        return (y * scale).astype(f32)


def exp(x, dtype: np.dtype) -> np.ndarray:
    return exp_f32(x) if dtype == F32 else libm("exp", x)


# -- erf and erf_inv --------------------------------------------------------------------------

# M. Giles' single-precision erfinv (chlo.erf_inv), as float32 bit patterns.
_ERF_INV_F32_CENTRAL = (0x32F16588, 0x34B84B36, 0xB66C7357, 0xB6935AC1, 0x396532DB, 0xBAA45408,
                        0xBB88E4EF, 0x3E7C8F63, 0x3FC02E2F)  # w < 5, on w - 2.5
_ERF_INV_F32_TAIL = (0xB951F09B, 0x38D3B56B, 0x3AB0DC72, 0xBB70BDE7, 0x3BBC127B, 0xBBF9C5D7,
                     0x3C1AA57E, 0x3F8036DB, 0x40354F7E)  # w >= 5, on sqrt(w) - 3


def erf_inv_f32(x) -> np.ndarray:
    """XLA's float32 ``erf_inv``: Giles' polynomial, XLA's log1p, FMA Horner steps."""
    f32 = np.float32
    x = np.asarray(x, f32)
    with np.errstate(all="ignore"):
        log = log1p((x * (-x)).astype(f32), F32)
        central = log > f32(-5)
        w = np.where(central, (f32(-2.5) - log).astype(f32),
                     (np.sqrt(-log).astype(f32) + f32(-3)).astype(f32))
        p = np.where(central, f32_bits(_ERF_INV_F32_CENTRAL[0]),
                     f32_bits(_ERF_INV_F32_TAIL[0])).astype(f32)
        for a, b in zip(_ERF_INV_F32_CENTRAL[1:], _ERF_INV_F32_TAIL[1:]):
            p = fma32(w, p, np.where(central, f32_bits(a), f32_bits(b)))
        p = np.where(np.abs(x) == 1, f32(np.inf), p).astype(f32)
        return (x * p).astype(f32)


# Giles' double-precision erfinv: three regions of log(1 - x**2).
_ERF_INV_F64_CENTRAL = (
    -3.6444120640178196996e-21, -1.685059138182016589e-19, 1.2858480715256400167e-18,
    1.115787767802518096e-17, -1.333171662854620906e-16, 2.0972767875968561637e-17,
    6.6376381343583238325e-15, -4.0545662729752068639e-14, -8.1519341976054721522e-14,
    2.6335093153082322977e-12, -1.2975133253453532498e-11, -5.4154120542946279317e-11,
    1.051212273321532285e-09, -4.1126339803469836976e-09, -2.9070369957882005086e-08,
    4.2347877827932403518e-07, -1.3654692000834678645e-06, -1.3882523362786468719e-05,
    0.0001867342080340571352, -0.00074070253416626697512, -0.0060336708714301490533,
    0.24015818242558961693, 1.6536545626831027356)  # w < 6.25, on w - 3.125
_ERF_INV_F64_MIDDLE = (
    2.2137376921775787049e-09, 9.0756561938885390979e-08, -2.7517406297064545428e-07,
    1.8239629214389227755e-08, 1.5027403968909827627e-06, -4.013867526981545969e-06,
    2.9234449089955446044e-06, 1.2475304481671778723e-05, -4.7318229009055733981e-05,
    6.8284851459573175448e-05, 2.4031110387097893999e-05, -0.0003550375203628474796,
    0.00095328937973738049703, -0.0016882755560235047313, 0.0024914420961078508066,
    -0.0037512085075692412107, 0.005370914553590063617, 1.0052589676941592334,
    3.0838856104922207635)  # w < 16, on sqrt(w) - 3.25
_ERF_INV_F64_TAIL = (
    -2.7109920616438573243e-11, -2.5556418169965252055e-10, 1.5076572693500548083e-09,
    -3.7894654401267369937e-09, 7.6157012080783393804e-09, -1.4960026627149240478e-08,
    2.9147953450901080826e-08, -6.7711997758452339498e-08, 2.2900482228026654717e-07,
    -9.9298272942317002539e-07, 4.5260625972231537039e-06, -1.9681778105531670567e-05,
    7.5995277030017761139e-05, -0.00021503011930044477347, -0.00013871931833623122026,
    1.0103004648645343977, 4.8499064014085844221)  # otherwise, on sqrt(w) - 5


def erf_inv_f64(x) -> np.ndarray:
    """XLA's float64 ``erf_inv``: Giles' three regions, FMA Horner steps, the C library's log."""
    x = np.asarray(x, np.float64)
    with np.errstate(all="ignore"):
        log = log1p(x * (-x), F64)
        central = log > -6.25
        middle = log > -16.0
        w = np.where(central, -3.125 - log, np.sqrt(-log) - np.where(middle, 3.25, 5.0))

        def coefficient(i: int) -> np.ndarray:
            return np.where(middle, np.where(central, _ERF_INV_F64_CENTRAL[i],
                                             _ERF_INV_F64_MIDDLE[i]), _ERF_INV_F64_TAIL[i])

        p = coefficient(0)
        for i in range(1, 17):
            p = fma64(w, p, coefficient(i))
        for i in (17, 18):
            step = np.where(central, _ERF_INV_F64_CENTRAL[i], _ERF_INV_F64_MIDDLE[i])
            p = np.where(middle, fma64(w, p, step), p)
        for i in range(19, 23):
            p = np.where(central, fma64(w, p, _ERF_INV_F64_CENTRAL[i]), p)
        p = np.where(np.abs(x) == 1, np.inf, p)
        return x * p


_ERF_NUMERATOR = (0x39702D51, 0x3B5F5DA2, 0x3D50B6EB, 0x3E3DA740, 0x3F906EBA)
_ERF_DENOMINATOR = (0xB3FD3906, 0x37C588DF, 0x3A856D28, 0x3C6687D4, 0x3DE34C21, 0x3EFEB44A,
                    0x3F800000)


def _erf_rational(x, saturation_bits: int, clamp: bool) -> np.ndarray:
    f32 = np.float32
    x = np.asarray(x, f32)
    saturation = f32_bits(saturation_bits)
    saturated = np.abs(x) >= saturation
    xc = np.clip(x, -saturation, saturation) if clamp else x
    z = (xc * xc).astype(f32)
    p = fma32(z, f32_bits(_ERF_NUMERATOR[0]), f32_bits(_ERF_NUMERATOR[1]))
    for c in _ERF_NUMERATOR[2:]:
        p = fma32(p, z, f32_bits(c))
    numerator = (xc * p).astype(f32)
    q = fma32(z, f32_bits(_ERF_DENOMINATOR[0]), f32_bits(_ERF_DENOMINATOR[1]))
    for c in _ERF_DENOMINATOR[2:]:
        q = fma32(q, z, f32_bits(c))
    with np.errstate(all="ignore"):
        ratio = (numerator / q).astype(f32)
    return np.where(saturated, np.copysign(f32(1), x), ratio).astype(f32)


def erf(x, dtype: np.dtype, bfloat16: bool = False) -> np.ndarray:
    """XLA's ``erf``: float32 (and bfloat16) clamp at ±3.7439, float16 its own rule, float64 libm."""
    if bfloat16:
        return round_bf16(_erf_rational(x, 0x406F9C68, clamp=True))
    if dtype == F16:
        return _erf_rational(np.asarray(x, F16).astype(F32), 0x407547CB, clamp=False).astype(F16)
    if dtype == F32:
        return _erf_rational(x, 0x406F9C68, clamp=True)
    return libm("erf", x)


# -- complex helpers ----------------------------------------------------------------------------


def log_on_real_axis(x, dtype: np.dtype) -> np.ndarray:
    """Real part of XLA's complex ``log(x + 0j)`` for x > 0 (x² − 1 by a Dekker split)."""
    x = np.asarray(x, dtype)
    split = dtype.type(4097.0) if dtype == F32 else dtype.type(134217729.0)
    with np.errstate(all="ignore"):
        x2 = (x * x).astype(dtype)
        x2_minus_1 = (x2 + dtype.type(-1)).astype(dtype)
        high = (x * split).astype(dtype)
        high = (high + (x - high).astype(dtype)).astype(dtype)
        low = (x - high).astype(dtype)
        cross = (high * low).astype(dtype)
        error = ((-x2) + (high * high).astype(dtype)).astype(dtype)
        error = (((error + cross).astype(dtype) + cross).astype(dtype)
                 + (low * low).astype(dtype)).astype(dtype)
        total = (x2_minus_1 + error).astype(dtype)
        correction = (error - (total - x2_minus_1).astype(dtype)).astype(dtype)
        near_one = (total + correction).astype(dtype)
        via_log1p = (log1p(near_one, dtype) * dtype.type(0.5)).astype(dtype)
        direct = log_f32(x) if dtype == F32 else libm_log(x)
        return np.where(np.abs(near_one) < dtype.type(0.5), via_log1p, direct).astype(dtype)


def cos_sin(theta, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    """XLA's ``exp(iθ)`` parts: the C library's ``cosf``/``sinf`` (float32) or ``cos``/``sin``."""
    if dtype == F32:
        return libm("cosf", theta, F32), libm("sinf", theta, F32)
    return libm("cos", theta), libm("sin", theta)


def complex_sign(z: np.ndarray) -> np.ndarray:
    """XLA's ``sign`` of complex values: z / (m·sqrt(fma(r, r, 1))), m = max |part|, r = min/m."""
    real = np.dtype(z.real.dtype)
    fma = fma_for(real)
    a, b = z.real.astype(real), z.imag.astype(real)
    with np.errstate(all="ignore"):
        largest = np.maximum(np.abs(a), np.abs(b))
        smallest = np.minimum(np.abs(a), np.abs(b))
        ratio = (smallest / largest).astype(real)
        modulus = (largest * np.sqrt(fma(ratio, ratio, real.type(1))).astype(real)).astype(real)
        modulus = np.where(np.isnan(modulus), smallest, modulus)
        zero = (a == 0) & (b == 0)
        return make_complex(np.where(zero, a, (a / modulus).astype(real)),
                            np.where(zero, b, (b / modulus).astype(real)), z.dtype)


def complex_multiply(x, y, dtype: np.dtype) -> np.ndarray:
    """XLA's complex product: re = fma(a, c, -(b·d)), im = fma(b, c, a·d)."""
    real = np.dtype(np.empty(0, dtype).real.dtype)
    fma = fma_for(real)
    x, y = np.broadcast_arrays(np.asarray(x, dtype), np.asarray(y, dtype))
    a, b, c, d = (v.astype(real) for v in (x.real, x.imag, y.real, y.imag))
    return make_complex(fma(a, c, -(b * d).astype(real)), fma(b, c, (a * d).astype(real)), dtype)


def make_complex(real: np.ndarray, imag: np.ndarray, dtype: np.dtype) -> np.ndarray:
    out = np.empty(np.shape(real), dtype)
    out.real = real
    out.imag = imag
    return out
