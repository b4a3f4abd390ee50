"""``jax.random`` in numpy: threefry2x32 keys and JAX's uniform, normal and truncated normal.

JAX's default generator is threefry2x32 with the *partitionable* layout (the default since
JAX 0.5): element ``i`` of a tensor (its row-major flat index) gets the two words
``threefry2x32(key, (i >> 32, i & 0xffffffff))``, so any range of elements can be drawn
alone; these functions take that range (``start``, ``stop``) and return flat arrays.
Floats come from the top mantissa bits of those words, as ``jax.random.uniform`` does,
and the transforms follow XLA's CPU arithmetic (:mod:`weightgen.streams.xla`) operation
by operation. bfloat16 is computed in float32 arrays holding bfloat16 values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from weightgen.streams import xla
from weightgen.streams.xla import F16, F32, F64, f32_bits, f64_bits, round_bf16

_U32 = np.uint32


# -- keys and bits --------------------------------------------------------------------------


def _rotate_left(v: np.ndarray, bits: int) -> np.ndarray:
    return (v << _U32(bits)) | (v >> _U32(32 - bits))


def threefry2x32(k1, k2, x0, x1) -> tuple[np.ndarray, np.ndarray]:
    """Threefry-2x32 with 20 rounds, as ``jax._src.prng.threefry2x32`` (uint32, wrapping)."""
    k1, k2 = np.asarray(k1, _U32), np.asarray(k2, _U32)
    x0, x1 = (np.array(v, _U32) for v in np.broadcast_arrays(np.asarray(x0, _U32),
                                                               np.asarray(x1, _U32)))
    schedule = (k1, k2, k1 ^ k2 ^ _U32(0x1BD11BDA))
    rotations = ((13, 15, 26, 6), (17, 29, 16, 24))
    with np.errstate(over="ignore"):
        x0 += schedule[0]
        x1 += schedule[1]
        for i in range(5):
            for r in rotations[i % 2]:
                x0 += x1
                x1 = _rotate_left(x1, r)
                x1 ^= x0
            x0 += schedule[(i + 1) % 3]
            x1 += schedule[(i + 2) % 3] + _U32(i + 1)
    return x0, x1


def key(seed: int) -> np.ndarray:
    """``jax.random.key(seed)``'s data for 0 <= seed < 2**32: ``[0, seed]`` in either bit mode."""
    if not 0 <= seed < 2**32:
        raise ValueError("jax keys are built here from 32-bit seeds only")
    return np.array([0, seed], _U32)


def split(k: np.ndarray, count: int = 2) -> list[np.ndarray]:
    """``jax.random.split(key, count)``: new key i is ``threefry2x32(key, (0, i))``."""
    high, low = threefry2x32(k[0], k[1], np.zeros(count, _U32), np.arange(count, dtype=_U32))
    return [np.array([high[i], low[i]], _U32) for i in range(count)]


def random_bits(k: np.ndarray, width: int, start: int, stop: int) -> np.ndarray:
    """``jax.random.bits`` of flat elements ``start:stop`` (partitionable layout)."""
    index = np.arange(start, stop, dtype=np.uint64)
    high, low = threefry2x32(k[0], k[1], (index >> np.uint64(32)).astype(_U32),
                             (index & np.uint64(0xFFFFFFFF)).astype(_U32))
    if width == 64:
        return (high.astype(np.uint64) << np.uint64(32)) | low.astype(np.uint64)
    mixed = high ^ low
    return {32: mixed, 16: mixed.astype(np.uint16), 8: mixed.astype(np.uint8)}[width]


# -- float formats ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Format:
    """A real float dtype as XLA computes it (bfloat16: float32 rounded after every op)."""

    name: str
    #: The numpy dtype arrays are held in (float32 for bfloat16).
    compute: np.dtype
    bits: int
    mantissa: int

    @property
    def bfloat16(self) -> bool:
        return self.name == "bfloat16"

    def round(self, x) -> np.ndarray:
        """An op's result rounded to this format."""
        return round_bf16(np.asarray(x, F32)) if self.bfloat16 else np.asarray(x).astype(self.compute)

    def cast(self, value) -> np.ndarray:
        """A Python or float64 value converted to this format (``jnp.array(value, dtype)``)."""
        if self.bfloat16:
            return round_bf16(np.asarray(value, np.float64).astype(F32))
        return np.asarray(value).astype(self.compute)

    def next_toward(self, x, toward: float) -> np.ndarray:
        """``nextafter`` in this format."""
        if not self.bfloat16:
            return np.nextafter(np.asarray(x, self.compute), self.compute.type(toward))
        value = np.float32(x)
        bits = int(np.array(value).view(_U32)) >> 16
        if value == 0:
            bits = 0x0001 if toward > 0 else 0x8001
        elif (value < toward) == (value > 0):
            bits += 1
        else:
            bits -= 1
        return np.array(bits << 16, _U32).view(F32)[()]


FORMATS = {
    "bfloat16": Format("bfloat16", F32, 16, 7),
    "float16": Format("float16", F16, 16, 10),
    "float32": Format("float32", F32, 32, 23),
    "float64": Format("float64", F64, 64, 52),
}

#: sqrt(2) rounded to each format, and XLA's reciprocal for ``x / sqrt(2)`` (computed in the
#: format: XLA rewrites a division by a constant into a product by its reciprocal).
_SQRT2 = {"bfloat16": np.float32(1.4140625), "float16": np.float16(math.sqrt(2)),
          "float32": np.float32(math.sqrt(2)), "float64": np.float64(math.sqrt(2))}
_INV_SQRT2 = {"bfloat16": f32_bits(0x3F3509E7), "float16": np.float16(0.70703125),
              "float32": np.float32(0.707106769), "float64": f64_bits(0x3FE6A09E667F3BCC)}


def unit_floats(k: np.ndarray, fmt: Format, start: int, stop: int) -> np.ndarray:
    """Floats in [0, 1) from the top mantissa bits: ``bitcast(bits >> s | bits(1.0)) - 1``."""
    width = 8 if fmt.mantissa < 8 else fmt.bits
    unsigned = {8: np.uint8, 16: np.uint16, 32: np.uint32, 64: np.uint64}[fmt.bits]
    shifted = random_bits(k, width, start, stop).astype(unsigned) >> unsigned(width - fmt.mantissa)
    if fmt.bfloat16:
        value = ((shifted.astype(_U32) | _U32(0x3F80)) << _U32(16)).view(F32)
        return (value - np.float32(1)).astype(F32)
    one = np.array(1.0, fmt.compute).view(unsigned)
    return ((shifted | one).view(fmt.compute) - np.array(1.0, fmt.compute)).astype(fmt.compute)


def _affine(f: np.ndarray, low, high, fmt: Format) -> np.ndarray:
    """``max(low, f * (high - low) + low)``; XLA fuses it into one FMA in float32/float64."""
    if fmt.bfloat16:
        span = round_bf16(np.float32(high) - np.float32(low))
        scaled = round_bf16((f * span).astype(F32))
        return np.maximum(np.float32(low), round_bf16((scaled + np.float32(low)).astype(F32)))
    span = np.asarray(np.asarray(high, fmt.compute) - np.asarray(low, fmt.compute), fmt.compute)
    if fmt.compute == F32:
        value = xla.fma32(f, span, low)
    elif fmt.compute == F64:
        value = xla.fma64(f, span, low)
    else:  # float16: two rounded ops, not fused
        value = ((f * span).astype(F16) + np.asarray(low, F16)).astype(F16)
    return np.maximum(np.asarray(low, fmt.compute), value)


def uniform(k: np.ndarray, fmt: Format, start: int, stop: int, minval: float = 0.0,
            maxval: float = 1.0) -> np.ndarray:
    """``jax.random.uniform(key, shape, dtype, minval, maxval)``, flat elements ``start:stop``."""
    low, high = fmt.cast(minval), fmt.cast(maxval)
    f = unit_floats(k, fmt, start, stop)
    if low == 0 and high == 1:
        return np.maximum(low, f)
    return _affine(f, low, high, fmt)


def _erf_inv(u: np.ndarray, fmt: Format) -> np.ndarray:
    """float16 and bfloat16 take float32's erf_inv, rounded back."""
    if fmt.compute == F64:
        return xla.erf_inv_f64(u)
    return fmt.round(xla.erf_inv_f32(np.asarray(u).astype(F32)))


def normal(k: np.ndarray, fmt: Format, start: int, stop: int) -> np.ndarray:
    """``jax.random.normal``: sqrt(2) · erf_inv(u), u uniform on (-1, 1)."""
    f = unit_floats(k, fmt, start, stop)
    if fmt.bfloat16:
        low = np.float32(-0.99609375)  # the bfloat16 after -1 towards 0
        u = np.maximum(low, round_bf16((round_bf16((f * np.float32(2)).astype(F32)) + low)))
        return round_bf16((_erf_inv(u, fmt) * _SQRT2["bfloat16"]).astype(F32))
    dtype = fmt.compute
    low = np.nextafter(np.array(-1.0, dtype), np.array(0.0, dtype))
    # high - low rounds to 2 in every format, so f * 2 is exact and nothing is fused.
    u = np.maximum(low, ((f * dtype.type(2)).astype(dtype) + low).astype(dtype))
    return (_SQRT2[fmt.name] * _erf_inv(u, fmt)).astype(dtype)


def truncated_normal(k: np.ndarray, fmt: Format, start: int, stop: int, lower: float,
                     upper: float) -> np.ndarray:
    """``jax.random.truncated_normal``: the inverse CDF between erf(lower/√2) and erf(upper/√2)."""
    low, high = fmt.cast(lower), fmt.cast(upper)
    inverse_sqrt2 = _INV_SQRT2[fmt.name]
    a = xla.erf(fmt.round(low * inverse_sqrt2), fmt.compute, fmt.bfloat16)
    b = xla.erf(fmt.round(high * inverse_sqrt2), fmt.compute, fmt.bfloat16)
    u = _affine(unit_floats(k, fmt, start, stop), a, b, fmt)
    values = fmt.round(_erf_inv(u, fmt) * _SQRT2[fmt.name])
    return np.minimum(fmt.next_toward(high, -np.inf),
                      np.maximum(fmt.next_toward(low, np.inf), values)).astype(fmt.compute)


# -- complex draws: parts in the real format ---------------------------------------------------


def complex_normal(k: np.ndarray, fmt: Format, start: int, stop: int
                   ) -> tuple[np.ndarray, np.ndarray]:
    """``jax.random.normal`` of a complex dtype: split keys, each part divided by √2."""
    dtype = fmt.compute
    key_real, key_imag = split(k)
    inverse = (dtype.type(1) / np.array(math.sqrt(2), dtype)).astype(dtype)
    return ((normal(key_real, fmt, start, stop) * inverse).astype(dtype),
            (normal(key_imag, fmt, start, stop) * inverse).astype(dtype))


def complex_uniform(k: np.ndarray, fmt: Format, start: int, stop: int
                    ) -> tuple[np.ndarray, np.ndarray]:
    """JAX's complex uniform: uniform on the disk of radius √2 (E|z|² = 1)."""
    dtype = fmt.compute
    key_radius, key_angle = split(k)
    radius = np.sqrt((dtype.type(2) * uniform(key_radius, fmt, start, stop)).astype(dtype)).astype(dtype)
    angle = (dtype.type(2 * math.pi) * uniform(key_angle, fmt, start, stop)).astype(dtype)
    cos, sin = xla.cos_sin(angle, dtype)
    return (radius * cos).astype(dtype), (radius * sin).astype(dtype)


def complex_truncated_normal(k: np.ndarray, fmt: Format, start: int, stop: int, upper: float
                             ) -> tuple[np.ndarray, np.ndarray]:
    """JAX's complex truncated normal: a complex normal whose modulus is cut at ``upper``."""
    dtype = fmt.compute
    key_radius, key_angle = split(k)
    mass = (dtype.type(1) - xla.exp(np.asarray(-(upper**2), dtype), dtype)).astype(dtype)
    t = (mass * uniform(key_radius, fmt, start, stop)).astype(dtype)
    radius = np.sqrt(-xla.log_on_real_axis((dtype.type(1) - t).astype(dtype), dtype)).astype(dtype)
    angle = (dtype.type(2 * math.pi) * uniform(key_angle, fmt, start, stop)).astype(dtype)
    cos, sin = xla.cos_sin(angle, dtype)
    return (radius * cos).astype(dtype), (radius * sin).astype(dtype)


def orthogonal(k: np.ndarray, n: int, m: int, dtype: np.dtype) -> np.ndarray:
    """``jax.random.orthogonal(key, n, (), dtype, m)``: LAPACK geqrf + orgqr, as JAX on CPU.

    JAX's CPU QR calls the LAPACK that scipy ships (through ``scipy.linalg.cython_lapack``),
    with optimal workspace; ``scipy.linalg.qr(mode="economic")`` makes the same calls.
    """
    from scipy.linalg import qr

    rows, cols = max(n, m), min(n, m)
    count = rows * cols
    if np.issubdtype(dtype, np.complexfloating):
        fmt = FORMATS["float32" if dtype == np.complex64 else "float64"]
        z = xla.make_complex(*complex_normal(k, fmt, 0, count), dtype).reshape(rows, cols)
    else:
        z = normal(k, FORMATS[np.dtype(dtype).name], 0, count).reshape(rows, cols)
    q, r = qr(z, mode="economic")
    diagonal = np.diagonal(r)
    if np.issubdtype(dtype, np.complexfloating):
        x = xla.complex_multiply(q, xla.complex_sign(diagonal)[None, :], dtype)
    else:
        x = (q * np.sign(diagonal)[None, :]).astype(dtype)
    return x.T.copy() if n < m else x
