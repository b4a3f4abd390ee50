"""Elementwise sampling kernels: fill a work-dtype block from its generator.

Every public kernel has the form ``kernel(rng, out, **params)``: it fills the
1-D C-contiguous float32/float64 array ``out`` deterministically from ``rng``
(a ``numpy.random.Generator`` or a bare BitGenerator).  Random bits come only
from ``rng.bit_generator.random_raw`` (64-bit words); floats are built from
them with a handful of vectorised numpy ops (numpy releases the GIL in all of
them, so blocks can be filled from several threads).

The output is a fixed function of (bit-generator state, len(out), dtype) for a
fixed sub-chunk size ``CHUNK`` (the keyword ``chunk=`` exists for
benchmarking only; an odd one changes the stream, even ones do not: every
sub-chunk takes the next words in order).  A whole block is one sub-chunk,
so a block costs a handful of numpy calls: each holds the GIL for a
microsecond or so, and fewer, larger calls let threads scale.  Scratch memory
is kept in per-thread buffers; ``random_raw`` allocates its result, which
glibc serves from the heap once a block of that size has been freed (its
mmap threshold adapts), so it costs no page faults after the first block.

fill_uniform           24 random bits per float32 value (53 for float64);
                       symmetric [-L, L): arithmetic shift + one int->float
                       multiply, provably never +L.
fill_normal            "mixture ziggurat" (below): 1024 equal-area rectangles
                       inscribed under the density, sampled with no test at
                       all (mask, shift, gather, multiply), plus an exact
                       remainder sampler (wedges, cap, tails) at Bernoulli
                       positions (0.23% of values).  Exact, no tail cut-off
                       (tails by Marsaglia's method with 53-bit uniforms:
                       exact to ~8 sigma, largest possible |z| ~12.6).
fill_truncated_normal  same kernel with tables built for [lower, upper]
                       when the interval contains the mean (so +-2 sigma
                       costs the same as the plain normal; no rejection
                       loop on the fast path); Robert (1995) rejection
                       samplers (uniform / exponential / half-normal
                       proposals, float64) for one-sided tail intervals.
"""
from __future__ import annotations

import functools
import math
import threading
from fractions import Fraction

import numpy as np

from collections.abc import Callable

__all__ = ["fill_uniform", "fill_normal", "fill_truncated_normal", "CHUNK",
           "choose_truncnorm_method", "kernel_for"]

CHUNK = 1 << 18          # elements per sub-chunk: a whole block (one thread:
                         # 2^14..2^18 within 4%; two threads: fewest GIL hand-offs)
_MAXM = 16000            # max proposals per rejection round (temporaries,
                         # incl. numpy's internal index arrays, < 128 KiB)

_F32 = np.dtype(np.float32)
_F64 = np.dtype(np.float64)
_TWO_M32 = 2.0 ** -32
_TWO_M33 = 2.0 ** -33
_TWO_M53 = 2.0 ** -53
_SQRT2 = math.sqrt(2.0)
_SQRT2PI = math.sqrt(2.0 * math.pi)


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------
_tls = threading.local()


def _buf(name, n, dtype):
    """Per-thread scratch buffer (reused across calls: no page faults)."""
    d = _tls.__dict__
    key = (name, dtype)
    b = d.get(key)
    if b is None or b.shape[0] < n:
        b = np.empty(max(n, 1), dtype)
        d[key] = b
    return b[:n]


def _raw(bg, nwords):
    """nwords raw 64-bit words, a fresh array (the caller may work in it)."""
    return bg.random_raw(nwords)


def _bitgen(rng):
    return rng.bit_generator if hasattr(rng, "bit_generator") else rng


def _check_out(out):
    if not isinstance(out, np.ndarray) or out.ndim != 1:
        raise ValueError("out must be a 1-D numpy array")
    if out.dtype not in (_F32, _F64):
        raise TypeError("out must be float32 or float64, got %s" % out.dtype)
    if not out.flags.c_contiguous or not out.flags.writeable:
        raise ValueError("out must be C-contiguous and writeable")
    return out.dtype


def _round_down(x, dt):
    """Largest value of dtype ``dt`` that is <= x (x: Fraction or +-inf)."""
    t = dt.type
    if not isinstance(x, Fraction):
        return t(x)
    with np.errstate(over="ignore"):
        try:
            c = t(float(x))
        except OverflowError:
            c = t(math.inf if x > 0 else -math.inf)
        ninf, pinf = t(-math.inf), t(math.inf)
        while c != ninf and (c == pinf or Fraction(float(c)) > x):
            c = np.nextafter(c, ninf)
        while True:
            nx = np.nextafter(c, pinf)
            if nx != pinf and Fraction(float(nx)) <= x:
                c = nx
            else:
                break
    return c


def _round_up(x, dt):
    """Smallest value of dtype ``dt`` that is >= x."""
    if not isinstance(x, Fraction):
        return dt.type(x)
    return -_round_down(-x, dt)


# --------------------------------------------------------------------------
# uniform
# --------------------------------------------------------------------------
def fill_uniform(rng, out, low, high, *, chunk=None):
    """Fill ``out`` with U[low, high).

    Guarantee (as real numbers): low <= x < high for every output value x.
    The bounds are rounded *inward* to the output dtype (smallest
    representable value >= low, and x < high), so the guarantee holds even
    when low/high are not representable.  float32 values carry 24 random
    bits, float64 values 53.

    Symmetric fast path (low == -high, e.g. Kaiming/Xavier uniform):
    L = largest dtype value <= high, s = L 2^-23 (exact, power-of-two
    scaling), v = (int32 bits) >> 8 (arithmetic) in [-2^23, 2^23 - 1],
    x = float(v) * s.  The cast is exact (|v| <= 2^23).  Min: -2^23 s = -L.
    Max: fl((2^23 - 1) s) = fl(L - L 2^-23).  Since L = m 2^e with
    m in [1, 2), ulp(L) = 2^(e-23) <= L 2^-23, so the exact product is
    <= L - ulp(L) <= pred(L); rounding is monotone and pred(L) is
    representable, so the rounded product is <= pred(L) < L.  The same proof
    holds for float64 with (int64 >> 11) and 2^-52.  Result: 2^24 equally
    likely values on the grid -L + j L 2^-23, j = 0..2^24-1, i.e. exactly
    uniform on [-L, L) at 24-bit resolution.

    General path: x = fl(lo + fl(k s)), k = bits >> 8 in [0, 2^24),
    s = fl(w 2^-24).  x >= lo always (monotone rounding of lo + nonneg).
    The largest possible output fl(lo + fl((2^24-1) s)) is evaluated with
    the same float ops; only if it is >= high is a clamp pass
    ``minimum(x, pred(high))`` run.
    """
    dt = _check_out(out)
    low, high = float(low), float(high)
    if not (math.isfinite(low) and math.isfinite(high)) or not low < high:
        raise ValueError("need finite low < high, got [%r, %r)" % (low, high))
    bg = _bitgen(rng)
    chunk = int(chunk or CHUNK)
    n = out.shape[0]
    sym, s, lo, need_clamp, top = _uniform_setup(low, high, dt.char)
    word = dt.itemsize
    if sym:
        shift = 8 if word == 4 else 11
        for start in range(0, n, chunk):
            d = out[start:start + chunk]
            m = d.shape[0]
            if word == 4:
                v = _raw(bg, (m + 1) // 2).view(np.int32)[:m]
            else:
                v = _raw(bg, m).view(np.int64)
            np.right_shift(v, shift, out=v)
            _scale_into(d, v, s)
        return out
    for start in range(0, n, chunk):
        d = out[start:start + chunk]
        m = d.shape[0]
        if word == 4:
            v = _raw(bg, (m + 1) // 2).view(np.uint32)[:m]
            np.right_shift(v, 8, out=v)
            v = v.view(np.int32)
        else:
            v = _raw(bg, m)
            np.right_shift(v, 11, out=v)
            v = v.view(np.int64)
        _scale_into(d, v, s)
        if lo != 0:
            np.add(d, lo, out=d)
        if need_clamp:
            np.minimum(d, top, out=d)
    return out


def _scale_into(d, v, s):
    """d = float(v) * s: the integers convert exactly (|v| < 2^24 or 2^53), so
    converting first and multiplying in place rounds once, as one multiply with
    a cast would, without its buffered cast (~20% faster)."""
    np.copyto(d, v, casting="unsafe")
    np.multiply(d, s, out=d)


@functools.lru_cache(maxsize=256)
def _uniform_setup(low, high, dtchar):
    """-> (symmetric?, scale, lo, need_clamp, top); see fill_uniform."""
    dt = np.dtype(dtchar)
    t = dt.type
    mant = 24 if dt == _F32 else 53
    if low == -high:
        L = _round_down(Fraction(high), dt)
        s = t(L * t(2.0 ** -(mant - 1)))
        if L > 0 and s >= np.finfo(dt).tiny and s * t(2.0 ** (mant - 1)) == L:
            assert t(t(2 ** (mant - 1) - 1) * s) < L and t(-(2 ** (mant - 1)) * s) == -L
            return True, s, t(0), False, L
    lo = _round_up(Fraction(low), dt)
    hi = _round_up(Fraction(high), dt)      # for dtype values: x < high <=> x < hi
    with np.errstate(over="ignore"):
        w = t(float(hi) - float(lo))
        if not np.isfinite(w):
            raise ValueError("range too wide for %s" % dt)
        s = t(w * t(2.0 ** -mant))
        xmax = t(lo + t(t(2 ** mant - 1) * s))
    need_clamp = not xmax < hi
    top = np.nextafter(hi, t(-np.inf))
    return False, s, lo, need_clamp, top


# --------------------------------------------------------------------------
# normal / truncated normal: "mixture ziggurat"
# --------------------------------------------------------------------------
#
# Target: density proportional to f(x) = exp(-x^2/2) on [a, b] with
# a <= 0 <= b (a = -inf, b = +inf gives the plain normal).  The x-coordinate
# of a uniform point of G = {(x, y): a <= x <= b, 0 <= y <= f(x)} has exactly
# this law.  G is cut by levels 0 <= y_0 < y_1 < ... < y_N < 1 (N = 1024)
# into layers; in layer k the *inscribed* rectangle [L_k, U_k] x
# [y_k, y_{k+1}] (the slice of G at the layer's top: L_k = max(a,
# -g(y_{k+1})), U_k = min(b, g(y_{k+1})), g = f^-1) lies entirely inside G.
# The levels come from the downward recursion y_k = y_{k+1} - v/(U_k - L_k),
# so all N rectangles have the same area v; (y_N, v) maximise N v subject
# to y_0 >= 0 (vectorised grid search, ~0.15 s per new interval, cached
# or shipped (SHIPPED_INTERVALS);
# intervals containing [-4.03, 4.03] reuse the plain normal's layers).
# A uniform point of G is then a mixture of
#   * probability 1 - p_rem: a uniform point of the union of rectangles =
#     uniform layer k (10 bits) and x uniform on [L_k, U_k) (22-bit signed
#     integer times a table entry for float32, 53-bit for float64).  No
#     test, no rejection: per element one mask, one shift, one gather, one
#     int->float multiply (+ one add for a non-zero mean, + one gather and
#     add for an asymmetric interval);
#   * probability p_rem (0.229% for the plain normal, 0.190% for +-2 sigma):
#     a uniform point of the remainder = the wedges between rectangles and
#     curve, the cap above y_N, the strip below y_0, and the tails beyond
#     the bottom rectangle (|x| > 4.03 for the plain normal).  The positions
#     taking this branch are an iid Bernoulli(p_rem) process generated from
#     geometric gaps (O(p_rem n) work, no scan of the block); the values
#     come from a vectorised exact float64 sampler: boxes chosen by area
#     (alias table), uniform point kept iff under the curve, tails by
#     Marsaglia's (1964) method with 53-bit uniforms: the law is exact
#     while the tail mass >> 2^-53 (|z| < ~8), largest possible |z| 12.6.
# mean and std are folded into the tables.  For truncation the table
# entries are nudged by ulps so every rectangle value lies in [lo_w, hi_w]
# after rounding; remainder values are clipped to it (rounding only).

_ZM_BITS = 10
_ZM_N = 1 << _ZM_BITS
_SQPI2 = math.sqrt(math.pi / 2.0)


def _imass(x0, x1):
    """int_{x0}^{x1} exp(-x^2/2) dx (x0 <= x1, +-inf allowed)."""
    if x0 >= 0.0:
        return _SQPI2 * (math.erfc(x0 / _SQRT2) - math.erfc(x1 / _SQRT2))
    if x1 <= 0.0:
        return _SQPI2 * (math.erfc(-x1 / _SQRT2) - math.erfc(-x0 / _SQRT2))
    return _SQPI2 * (math.erf(x1 / _SQRT2) - math.erf(x0 / _SQRT2))


def _zm_width(y, a, b):
    with np.errstate(divide="ignore", invalid="ignore"):
        g = np.sqrt(-2.0 * np.log(np.maximum(y, 1e-300)))
    return np.minimum(b, g) - np.maximum(a, -g)


def _zm_y0(yN, v, a, b, N):
    """Bottom level reached by the downward recursion y <- y - v/W(y)
    (vectorised over broadcast yN, v; -1 once it went below 0)."""
    y = np.array(yN + 0.0 * v, dtype=float)
    for _ in range(N):
        y -= v / _zm_width(y, a, b)
        np.maximum(y, -1.0, out=y)
    return y


def _zm_vstar(yN, a, b, N, A, rounds=3, k=32):
    """Per top level yN: bracket [vlo, vhi] of the largest v with
    y0(yN, v) >= 0 (grid refinement, vectorised over yN x k candidates)."""
    vlo = np.full(yN.size, 0.5 * A / N)
    vhi = np.full(yN.size, 1.0 * A / N)
    t = np.linspace(0.0, 1.0, k)[None, :]
    for _ in range(rounds):
        vs = vlo[:, None] + (vhi - vlo)[:, None] * t
        ok = _zm_y0(yN[:, None], vs, a, b, N) >= 0.0
        c = ok.sum(axis=1)                     # feasible set is [0, v*]
        r = np.arange(yN.size)
        nlo = np.where(c > 0, vs[r, np.maximum(c - 1, 0)], vlo * 0.5)
        nhi = np.where(c < k, vs[r, np.minimum(c, k - 1)], vhi * 1.5)
        vlo, vhi = nlo, nhi
    return vlo, vhi


def _zm_solve(a, b, N, A):
    """(yN, v): top level and rectangle area with y0(yN, v) >= 0 and v
    (= coverage N v / A) close to its maximum."""
    yN = 1.0 - np.geomspace(0.3, 1e-6, 32)
    vlo, _ = _zm_vstar(yN, a, b, N, A, rounds=3)
    i = int(np.argmax(vlo))
    yN = np.linspace(yN[max(i - 1, 0)], yN[min(i + 1, yN.size - 1)], 16)
    vlo, _ = _zm_vstar(yN, a, b, N, A, rounds=4)
    i = int(np.argmax(vlo))
    return float(yN[i]), float(vlo[i])


def _alias_table(w):
    """Walker/Vose alias table for weights w: (prob, alias)."""
    n = w.size
    p = np.asarray(w, float) * (n / w.sum())
    prob = np.ones(n)
    alias = np.arange(n)
    small = [i for i in range(n) if p[i] < 1.0]
    large = [i for i in range(n) if p[i] >= 1.0]
    while small and large:
        s, l = small.pop(), large.pop()
        prob[s] = p[s]
        alias[s] = l
        p[l] -= 1.0 - p[s]
        (small if p[l] < 1.0 else large).append(l)
    return prob, alias


@functools.lru_cache(maxsize=64)
def _zm_layers(a, b):
    """Levels y_0..y_N and inscribed slices [L_k, U_k] for [a, b] (~0.15 s, or shipped)."""
    shipped = _shipped_table(a, b)
    if shipped is not None:
        return shipped["y"], shipped["L"], shipped["U"], shipped["v"]
    return build_layers(a, b)


def build_layers(a, b):
    """Build the levels and slices of ``_zm_layers``."""
    N = _ZM_N
    A = _imass(a, b)
    yN, v = _zm_solve(a, b, N, A)
    y = np.empty(N + 1)
    y[N] = yN
    for k in range(N - 1, -1, -1):     # same arithmetic as _zm_y0
        y[k] = y[k + 1] - v / float(_zm_width(np.array(y[k + 1]), a, b))
    if not 0.0 <= y[0] < 0.01:
        raise RuntimeError("ziggurat table construction failed for [%r, %r]" % (a, b))
    gt = np.sqrt(-2.0 * np.log(y[1:]))
    return y, np.maximum(a, -gt), np.minimum(b, gt), v


@functools.lru_cache(maxsize=256)
def _zm_table(a, b):
    """Standardized tables for [a, b], a <= 0 <= b, a < b (cached; the
    intervals of :data:`SHIPPED_INTERVALS` are read from package data)."""
    shipped = _shipped_table(a, b)
    return shipped if shipped is not None else build_table(a, b)


def build_table(a, b, layers=None):
    """Build the standardized tables for [a, b] (what ``_zm_table`` returns);
    ``layers(a, b)`` gives levels and slices (default: cached or shipped).

    Intervals containing the plain normal's bottom rectangle (|x| <= 4.03)
    reuse its layers (only the tail pieces change), so e.g. +-100 sigma
    costs no table construction."""
    layers = layers or _zm_layers
    N = _ZM_N
    A = _imass(a, b)
    y0n, L0n, U0n, v0n = layers(-math.inf, math.inf)
    if a <= L0n[0] and b >= U0n[0]:
        y, L, U, v = y0n, L0n, U0n, v0n
    else:
        y, L, U, v = layers(a, b)
    yN = y[N]
    with np.errstate(divide="ignore"):
        gb = np.sqrt(-2.0 * np.log(y[:-1]))        # g(y_k)
    gb[0] = math.inf                               # bottom wedges reach y = 0
    # remainder pieces: kind 0 = box [x0,x1]x[y0,y1] (accept y <= f(x));
    # kind 1/2 = left/right tail beyond r = |L_0| / U_0 (bounded by a / b)
    kind, X0, X1, Y0, Y1, M = [], [], [], [], [], []

    def add(kd, x0, x1, y0, y1, m):
        if m > 0.0:
            kind.append(kd); X0.append(x0); X1.append(x1)
            Y0.append(y0); Y1.append(y1); M.append(m)

    if y[0] > 0.0:                                # strip below the bottom rectangle
        add(0, L[0], U[0], 0.0, y[0], (U[0] - L[0]) * y[0])
    for k in range(N):
        XL = max(a, -gb[k])
        if L[k] > XL:
            if k == 0:                            # x < L_0, 0 < y < f(x)
                m = _imass(XL, L[0])
                box = (L[0] - XL) * y[1]
                add(1 if m < 0.5 * box else 0, XL, L[0], 0.0, y[1], m)
            else:
                add(0, XL, L[k], y[k], y[k + 1], _imass(XL, L[k]) - y[k] * (L[k] - XL))
        XU = min(b, gb[k])
        if XU > U[k]:
            if k == 0:
                m = _imass(U[0], XU)
                box = (XU - U[0]) * y[1]
                add(2 if m < 0.5 * box else 0, U[0], XU, 0.0, y[1], m)
            else:
                add(0, U[k], XU, y[k], y[k + 1], _imass(U[k], XU) - y[k] * (XU - U[k]))
    gt = math.sqrt(-2.0 * math.log(yN))
    x0, x1 = max(a, -gt), min(b, gt)
    add(0, x0, x1, yN, 1.0, _imass(x0, x1) - yN * (x1 - x0))
    M = np.array(M)
    rem = A - N * v
    if not abs(M.sum() - rem) <= 1e-9 * A:
        raise RuntimeError("ziggurat remainder mass mismatch")
    kind = np.array(kind, np.int64)
    X0, X1, Y0, Y1 = np.array(X0), np.array(X1), np.array(Y0), np.array(Y1)
    box = kind == 0
    barea = (X1[box] - X0[box]) * (Y1[box] - Y0[box])
    tot = M.sum()
    pL = M[kind == 1].sum() / tot
    pR = M[kind == 2].sum() / tot
    return dict(a=a, b=b, N=N, y=y, L=L, U=U, v=v, A=A, p_rem=rem / A,
                bx0=X0[box], bw=X1[box] - X0[box], by0=Y0[box], bh=Y1[box] - Y0[box],
                balias=_alias_table(barea), bacc=M[box].sum() / barea.sum(),
                pL=pL, pR=pR, rL=float(-L[0]), rR=float(U[0]),
                bL=float(-a), bR=float(b))      # tail bounds (as |x|)


# The tables of the hot intervals ship with the package (built by
# tools/make_ziggurat_tables.py; tests/test_kernels.py checks that building
# them again gives the same numbers): no ~0.15 s of construction per process,
# and the stream of those intervals does not depend on the machine's libm.
SHIPPED_INTERVALS = {"normal": (-math.inf, math.inf), "truncated_2sigma": (-2.0, 2.0)}
TABLES_FILE = "ziggurat_tables.npz"
_ARRAYS = ("y", "L", "U", "bx0", "bw", "by0", "bh")
_SCALARS = ("a", "b", "N", "v", "A", "p_rem", "bacc", "pL", "pR", "rL", "rR", "bL", "bR")


def table_arrays(table):
    """A table as flat arrays (what the package data file holds per interval)."""
    out = {key: np.asarray(table[key]) for key in _ARRAYS + _SCALARS}
    out["balias_prob"], out["balias_alias"] = table["balias"]
    return out


def _table_from_arrays(arrays):
    table = {key: arrays[key] for key in _ARRAYS}
    table.update({key: arrays[key].item() for key in _SCALARS})
    table["balias"] = (arrays["balias_prob"], arrays["balias_alias"])
    return table


@functools.lru_cache(maxsize=1)
def _shipped_tables():
    import os

    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), TABLES_FILE)
    try:
        with np.load(path, allow_pickle=False) as data:
            contents = {key: data[key] for key in data.files}
    except OSError:  # pragma: no cover - a broken install: build them instead
        return {}
    tables = {}
    for name, interval in SHIPPED_INTERVALS.items():
        prefix = name + "/"
        tables[interval] = _table_from_arrays(
            {key[len(prefix):]: value for key, value in contents.items() if key.startswith(prefix)})
    return tables


def _shipped_table(a, b):
    return _shipped_tables().get((a, b))


@functools.lru_cache(maxsize=256)
def _zm_params(mean, std, a, b, dtchar, lo_w, hi_w):
    """Tables for one (mean, std, interval, dtype): H[k] (half width / 2^S,
    times std), C[k] (centre, mean folded) or None if symmetric."""
    dt = np.dtype(dtchar)
    t = dt.type
    T = _zm_table(a, b)
    S = 31 - _ZM_BITS if dt == _F32 else 52
    c = 0.5 * (T["L"] + T["U"])
    h = 0.5 * (T["U"] - T["L"])
    H = (std * h * 2.0 ** -S).astype(dt)
    sym = a == -b
    C = None if sym else (mean + std * c).astype(dt)
    add = t(mean)
    if lo_w != -np.inf or hi_w != np.inf:
        Cv = np.full(T["N"], add, dt) if sym else C
        np.clip(Cv, lo_w, hi_w, out=Cv)
        lo_s, hi_s = t(-(2.0 ** S)), t(2.0 ** S - 1)
        for _ in range(1000):
            low = Cv + H * lo_s
            high = Cv + H * hi_s
            bad = (low < lo_w) | (high > hi_w)
            if not bad.any():
                break
            H[bad] = np.nextafter(H[bad], t(0))
        else:
            raise RuntimeError("could not fit ziggurat tables into the bounds")
        if sym and (add < lo_w or add > hi_w):
            raise RuntimeError("mean outside bounds")
    return dict(T=T, H=H, C=C, add=add, S=S, sym=sym)


def _zm_chunk(bg, d, P):
    m = d.shape[0]
    idx = _buf("zm_idx", m, np.intp)
    if d.dtype == _F32:
        v = _raw(bg, (m + 1) // 2).view(np.int32)[:m]
        np.bitwise_and(v, _ZM_N - 1, out=idx)
        np.right_shift(v, _ZM_BITS, out=v)        # signed 22-bit position
        P["H"].take(idx, out=d, mode="wrap")         # 'wrap': no bounds check
        np.multiply(d, v, out=d, dtype=_F32, casting="unsafe")
    else:
        v = _raw(bg, m).view(np.int64)
        np.bitwise_and(v, _ZM_N - 1, out=idx)
        np.right_shift(v, 11, out=v)                   # signed 53-bit position
        P["H"].take(idx, out=d, mode="wrap")
        np.multiply(d, v, out=d, casting="unsafe")
    if P["C"] is not None:
        tmp = P["C"].take(idx, out=_buf("zm_c", m, d.dtype), mode="wrap")
        np.add(d, tmp, out=d)
    elif P["add"] != 0:
        np.add(d, P["add"], out=d)


def _bernoulli_positions(bg, n, p):
    """Sorted indices i in [0, n) of an iid Bernoulli(p) sequence, from
    geometric gaps G = floor(ln U / ln(1-p)), U = (k + 1/2) 2^-32
    (float64 arithmetic; gaps longer than ln(2^33)/-ln(1-p) have
    probability < 2^-32 and are cut)."""
    if p <= 0.0 or n == 0:
        return np.empty(0, np.int64)
    inv = 1.0 / math.log1p(-p) if p < 1.0 else 0.0
    parts = []
    last = -1
    while True:
        k = (int(n * p * 1.05 + 6.0 * math.sqrt(n * p) + 16) + 1) & ~1
        u = _raw(bg, k // 2).view(np.uint32)
        g = np.multiply(u, _TWO_M32, out=_buf("bern", k, _F64), casting="unsafe")
        np.add(g, _TWO_M33, out=g)
        np.log(g, out=g)
        np.multiply(g, inv, out=g)                      # >= 0
        gi = _buf("bern_i", k, np.int64)
        np.add(g, 1.0, out=gi, casting="unsafe")        # floor(G) + 1 (trunc)
        pos = np.cumsum(gi, out=gi)
        pos += last
        if pos[-1] >= n:
            parts.append(pos[:np.searchsorted(pos, n)].copy())
            break
        parts.append(pos.copy())
        last = int(pos[-1])
    return np.concatenate(parts) if len(parts) > 1 else parts[0]


def _u53_new(bg, shape):
    m = int(np.prod(shape))
    r = _raw(bg, m)
    np.right_shift(r, 11, out=r)
    return np.multiply(r.view(np.int64), _TWO_M53).reshape(shape)


def _zm_remainder(bg, K, T):
    """K standardized float64 values: uniform points of the remainder.
    Mixture of (tails, boxes) by mass; the boxes (bounding boxes of the
    wedges, the cap and the strip under the bottom rectangle) are sampled
    jointly: box by area (alias table), uniform point, kept iff under the
    curve (acceptance T["bacc"] ~ 0.53); the first accepted values are
    used.  Tails: Marsaglia's method."""
    out = np.empty(K)
    pL, pR = T["pL"], T["pR"]
    if pL + pR > 0.0:
        lab = _u53_new(bg, K)
        isT = lab < pL + pR
        isB = ~isT
        nB = K - int(np.count_nonzero(isT))
    else:
        isT, isB, nB = None, slice(None), K
    if nB:
        out[isB] = _accept_fill(nB, T["bacc"], lambda m: _box_props(bg, m, T))
    if isT is None or nB == K:
        return out
    if T["rL"] == T["rR"] and T["bL"] == T["bR"]:      # symmetric tails
        left = lab[isT] < pL
        t = _accept_fill(left.size, 0.5, lambda m: _tail_props(bg, m, T["rR"], T["bR"]))
        t[left] *= -1.0
        out[isT] = t
    else:
        for sel, r, bnd, sgn in ((isT & (lab < pL), T["rL"], T["bL"], -1.0),
                                 (isT & (lab >= pL), T["rR"], T["bR"], 1.0)):
            k = int(np.count_nonzero(sel))
            if k:
                out[sel] = sgn * _accept_fill(k, 0.5, lambda m: _tail_props(bg, m, r, bnd))
    return out


def _box_props(bg, m, T):
    u = _u53_new(bg, (3, m))
    prob, alias = T["balias"]
    a = u[0]
    a *= prob.size
    j = a.astype(np.intp)
    a -= j                                   # fractional part: fresh uniform
    np.minimum(j, prob.size - 1, out=j)
    j = np.where(a < prob[j], j, alias[j])
    x = u[1]
    x *= T["bw"][j]
    x += T["bx0"][j]
    y = u[2]
    y *= T["bh"][j]
    y += T["by0"][j]
    e = np.multiply(x, x)
    e *= -0.5
    np.exp(e, out=e)
    return x[y <= e]


def _tail_props(bg, m, r, bound=math.inf):
    """Marsaglia (1964): x = r + E1/r, accepted iff 2 E2 > (E1/r)^2 (and
    x <= bound: a tail truncated far out)."""
    u = _u53_new(bg, (2, m))
    np.negative(u, out=u)
    np.log1p(u, out=u)
    xx, yy = u[0], u[1]
    xx *= -1.0 / r
    yy *= -2.0
    ok = yy > xx * xx
    if bound != math.inf:
        ok &= xx <= bound - r
    xa = xx[ok]
    xa += r
    return xa


def _accept_fill(k, acc, props):
    """First k accepted values from repeated calls props(m)."""
    got, n = [], 0
    while n < k:
        v = props(min(int((k - n) / acc * 1.15) + 16, _MAXM))
        got.append(v)
        n += v.size
    v = np.concatenate(got) if len(got) > 1 else got[0]
    return v[:k]


def _zm_fill(bg, out, mean, std, a, b, lo_w, hi_w, chunk):
    dt = out.dtype
    P = _zm_params(mean, std, a, b, dt.char, lo_w, hi_w)
    n = out.shape[0]
    for start in range(0, n, chunk):
        _zm_chunk(bg, out[start:start + chunk], P)
    pos = _bernoulli_positions(bg, n, P["T"]["p_rem"])
    if pos.size:
        x = _zm_remainder(bg, pos.size, P["T"])
        x *= std
        x += mean
        vals = x.astype(dt)
        if lo_w != -np.inf or hi_w != np.inf:
            np.clip(vals, lo_w, hi_w, out=vals)
        out[pos] = vals
    return out


def fill_normal(rng, out, mean=0.0, std=1.0, *, chunk=None):
    """Fill ``out`` with N(mean, std^2) (float32 or float64).

    Method: mixture ziggurat (see above); exact, no tail cut-off: the
    tails beyond the bottom rectangle (|z| > 4.025) are sampled with
    Marsaglia's exact tail method from 53-bit uniforms: exact as long as
    the tail mass is >> 2^-53 (|z| < ~8 sigma; P(|Z| > 8) = 1.2e-15);
    the largest attainable |z| is 4.025 + sqrt(2*53 ln 2) = 12.6 sigma.
    Per value: 10 bits of layer index + a 22-bit (float32) / 53-bit
    (float64) uniform position inside the layer; 99.77% of the values
    need no rejection at all.  Its tables ship with the package.
    float32 requires std >= ~1e-30 (table entries must not underflow).
    """
    dt = _check_out(out)
    mean, std = float(mean), float(std)
    if not (math.isfinite(mean) and math.isfinite(std)) or std < 0:
        raise ValueError("need finite mean and std >= 0")
    if std == 0:
        out.fill(mean)
        return out
    inf = dt.type(np.inf)
    return _zm_fill(_bitgen(rng), out, mean, std, -math.inf, math.inf,
                    -inf, inf, int(chunk or CHUNK))


def _std_normal_f64(bg, z):
    return _zm_fill(bg, z, 0.0, 1.0, -math.inf, math.inf, -np.inf, np.inf, CHUNK)


# --------------------------------------------------------------------------
# truncated normal: one-sided tail intervals (Robert 1995)
# --------------------------------------------------------------------------
# relative cost of one proposal (float64 samplers); used only to pick the method.
_COST = {"halfnormal": 4.0, "uniform": 3.0, "exponential": 4.0}


def _mills(x):
    """M(x) = int_0^inf exp(-x t - t^2/2) dt = sqrt(pi/2) erfcx(x/sqrt2), x>=0."""
    if x < 25.0:
        return math.sqrt(math.pi / 2) * math.exp(0.5 * x * x) * math.erfc(x / _SQRT2)
    y = 1.0 / (x * x)
    return (1.0 - y * (1.0 - y * (3.0 - y * (15.0 - y * 105.0)))) / x


@functools.cache
def _gauss_legendre():
    """64-point Gauss-Legendre nodes and weights (computed on first use: importing
    numpy.polynomial and solving for them costs every run's start-up otherwise)."""
    return np.polynomial.legendre.leggauss(64)


def _J(a, w):
    """int_a^{a+w} exp((a^2 - z^2)/2) dz = int_0^w exp(-a t - t^2/2) dt, a>=0."""
    if w == math.inf or w * (a + 0.5 * w) > 50.0:
        return _mills(a)                       # remaining term < e^-50 relative
    nodes, weights = _gauss_legendre()
    t = 0.5 * w * (nodes + 1.0)
    return float(0.5 * w * np.dot(weights, np.exp(-a * t - 0.5 * t * t)))


def choose_truncnorm_method(lower, upper):
    """Return (method, info) for the standardized interval [lower, upper].

    info has keys: a, b (interval after mirroring so that b > 0), sign
    (-1 if mirrored), acc (acceptance rate of the chosen method), and the
    acceptance of every candidate.
    """
    a, b = float(lower), float(upper)
    if a <= 0.0 <= b:                             # mode inside: mixture ziggurat
        return "zigmix", dict(a=a, b=b, sign=1.0, acc=1.0, accs={})
    sign = 1.0
    if b < 0.0:
        a, b, sign = -b, -a, -1.0
    w = b - a
    accs = {}
    # one-sided, 0 < a < b
    J = _J(a, w)
    accs["halfnormal"] = min(1.0, 2.0 * math.exp(-0.5 * a * a) * J / _SQRT2PI)
    if math.isfinite(w):
        accs["uniform"] = min(1.0, J / w)
    alpha = a * (1.0 + math.sqrt(1.0 + 4.0 / (a * a))) / 2.0
    q = -math.expm1(-alpha * w) if math.isfinite(w) else 1.0
    d = 2.0 / (a + math.sqrt(a * a + 4.0))        # alpha - a, stable
    accs["exponential"] = min(1.0, alpha / q * math.exp(-0.5 * d * d) * J)
    best = min(accs, key=lambda k: (_COST[k] / accs[k]) if accs[k] > 0 else math.inf)
    return best, dict(a=a, b=b, sign=sign, acc=accs[best], accs=accs)


def _u53_into(bg, m, name):
    r = _raw(bg, m)
    np.right_shift(r, 11, out=r)
    return np.multiply(r.view(np.int64), _TWO_M53, out=_buf(name, m, _F64),
                       casting="unsafe")


def _log_u53_open0_into(bg, m, name):
    """log(U), U uniform on (0, 1] (53 bits): minus an Exp(1) variate."""
    r = _raw(bg, m)
    np.right_shift(r, 11, out=r)
    e = np.add(r.view(np.int64), 1.0, out=_buf(name, m, _F64), casting="unsafe")
    np.multiply(e, _TWO_M53, out=e)
    return np.log(e, out=e)


def _sampler(method, bg, a, b):
    """Return f(m) -> (z, accept_mask) for m proposals (scratch arrays)."""
    w = b - a
    if method == "uniform":
        central = False

        def f(m):
            d = _u53_into(bg, m, "s_u")
            np.multiply(d, w, out=d)
            le = _log_u53_open0_into(bg, m, "s_e")
            z = np.add(d, a, out=_buf("s_z", m, _F64))
            t = _buf("s_t", m, _F64)
            if central:
                np.multiply(z, z, out=t)        # t = z^2
            else:
                np.add(z, a, out=t)             # t = (z + a) d = z^2 - a^2
                np.multiply(t, d, out=t)
            np.multiply(t, 0.5, out=t)
            np.add(t, le, out=t)                # accept iff E >= t  <=>  t - E <= 0
            return z, np.less_equal(t, 0.0, out=_buf("s_m", m, np.bool_))
    elif method == "exponential":
        alpha = a * (1.0 + math.sqrt(1.0 + 4.0 / (a * a))) / 2.0
        q = -math.expm1(-alpha * w) if math.isfinite(w) else 1.0

        def f(m):
            d = _u53_into(bg, m, "s_u")
            np.multiply(d, -q, out=d)
            np.log1p(d, out=d)
            np.multiply(d, -1.0 / alpha, out=d)  # truncated Exp(alpha) on [0, w]
            le = _log_u53_open0_into(bg, m, "s_e")
            z = np.add(d, a, out=_buf("s_z", m, _F64))
            t = np.subtract(z, alpha, out=_buf("s_t", m, _F64))
            np.multiply(t, t, out=t)
            np.multiply(t, 0.5, out=t)
            np.add(t, le, out=t)
            return z, np.less_equal(t, 0.0, out=_buf("s_m", m, np.bool_))
    elif method == "halfnormal":
        def f(m):
            z = _buf("s_z", m, _F64)
            _std_normal_f64(bg, z)
            np.abs(z, out=z)
            ok = np.greater_equal(z, a, out=_buf("s_m", m, np.bool_))
            if b != math.inf:
                np.logical_and(ok, np.less_equal(z, b, out=_buf("s_m2", m, np.bool_)), out=ok)
            return z, ok
    else:
        raise ValueError(method)
    return f


def _rejection_fill(f, dest, acc):
    """Fill dest with the accepted proposals of f, in order."""
    n = dest.shape[0]
    filled = 0
    dry = 0
    while filled < n:
        need = n - filled
        m = min(int(need / acc * 1.03) + 64, _MAXM)
        z, ok = f(m)
        k = int(np.count_nonzero(ok))
        if k > need:
            cut = np.flatnonzero(ok)[need - 1]
            ok[cut + 1:] = False
            k = need
        np.compress(ok, z, out=dest[filled:filled + k])
        filled += k
        dry = dry + 1 if k == 0 else 0
        if dry > 1000:
            raise RuntimeError("truncated-normal rejection sampler stalled")
    return dest


@functools.lru_cache(maxsize=256)
def _tn_setup(mean, std, lower, upper, dtchar):
    dt = np.dtype(dtchar)
    fm, fs = Fraction(mean), Fraction(std)
    Lo = fm + fs * Fraction(lower) if math.isfinite(lower) else -math.inf
    Hi = fm + fs * Fraction(upper) if math.isfinite(upper) else math.inf
    if std == 0 or lower == upper:  # one point: its nearest value, as mean + std*z would round
        point = dt.type(float(fm if std == 0 else Lo))
        return point, point, "const", None
    lo_w = _round_up(Lo, dt)
    hi_w = _round_down(Hi, dt)
    if not lo_w <= hi_w or lo_w == np.inf or hi_w == -np.inf:
        raise ValueError("interval [%r, %r] holds no finite %s value"
                         % (float(Lo), float(Hi), dt))
    if lo_w == hi_w:
        return lo_w, hi_w, "const", None
    method, info = choose_truncnorm_method(lower, upper)
    return lo_w, hi_w, method, info


def fill_truncated_normal(rng, out, mean=0.0, std=1.0, lower=-2.0, upper=2.0,
                          *, chunk=None):
    """Fill ``out`` with N(mean, std^2) truncated to the closed interval
    [mean + std*lower, mean + std*upper]; lower/upper in standard
    deviations, +-inf allowed.  Exact (no approximation beyond rounding).

    Method (``choose_truncnorm_method``):
      * lower <= 0 <= upper ("zigmix"): the mixture-ziggurat kernel of
        fill_normal with tables built for the interval (shipped for +-2
        sigma; else built once, ~0.2 s).  No rejection on the fast path, so e.g. +-2 sigma
        runs at the speed of fill_normal; [-0.01, 0.01], [0, inf),
        [-0.5, inf) are equally fast.
      * one-sided (0 < a < b after mirroring intervals with upper < 0):
        float64 rejection samplers (Robert 1995), the one with the best
        cost/acceptance:
          - "halfnormal": |Z| with Z from the mixture ziggurat, accepted if
            in [a, b] (a small, e.g. [0.1, inf));
          - "uniform": z ~ U[a, b], accept iff E >= (z^2 - a^2)/2,
            E ~ Exp(1) (narrow, e.g. [0.1, 0.1001]);
          - "exponential": z = a + Exp(alpha) truncated to [a, b] by
            inversion, alpha = (a + sqrt(a^2 + 4))/2, accept iff
            E >= (z - alpha)^2/2 (tails: [5, inf), [8, 9], [-inf, -6],
            [40, 41], ...).
        The chosen method's acceptance is > 0.4 for every interval, so
        nothing stalls.  Values mean + std*z are formed in float64 and cast.

    Bounds: lo_w / hi_w are the inward-rounded bounds in the output dtype
    (smallest value >= mean+std*lower, largest <= mean+std*upper, exact via
    Fractions).  Rectangle values are kept inside by construction (table
    entries nudged by ulps), everything else is clipped to [lo_w, hi_w]
    (this only moves values that rounding pushed out).  So every output x
    satisfies mean+std*lower <= x <= mean+std*upper as real numbers.  If
    the interval holds no value of the output dtype: ValueError.

    NOTE for callers: when the tensor is finally cast to float16/bfloat16,
    round-to-nearest can step outside the interval again (by up to half an
    ulp of the narrow dtype); the caller must clip again in that dtype, to
    the inward-rounded bounds of the narrow dtype.
    """
    dt = _check_out(out)
    mean, std = float(mean), float(std)
    lower, upper = float(lower), float(upper)
    if not (math.isfinite(mean) and math.isfinite(std)) or std < 0:
        raise ValueError("need finite mean and std >= 0")
    if math.isnan(lower) or math.isnan(upper) or not lower <= upper \
            or lower == math.inf or upper == -math.inf:
        raise ValueError("bad interval [%r, %r]" % (lower, upper))
    bg = _bitgen(rng)
    chunk = int(chunk or CHUNK)
    n = out.shape[0]
    lo_w, hi_w, method, info = _tn_setup(mean, std, lower, upper, dt.char)
    if method == "const":
        out.fill(lo_w)
        return out
    if n == 0:
        return out
    if method == "zigmix":
        return _zm_fill(bg, out, mean, std, lower, upper, lo_w, hi_w, chunk)
    f = _sampler(method, bg, info["a"], info["b"])
    z = out if dt == _F64 else _buf("tnz", n, _F64)
    _rejection_fill(f, z, info["acc"])
    np.multiply(z, info["sign"] * std, out=z)
    np.add(z, mean, out=z)
    if z is not out:
        np.copyto(out, z, casting="same_kind")
    np.clip(out, lo_w, hi_w, out=out)
    return out


# --------------------------------------------------------------------------
# the sampler's entry point
# --------------------------------------------------------------------------
Kernel = Callable[["np.random.Generator", np.ndarray], None]  # a string: np.random imports lazily


def kernel_for(distribution) -> Kernel:
    """The kernel that draws an elementwise ``distribution`` into a work-dtype block."""
    from weightgen.distributions import Normal, TruncatedNormal, Uniform

    d = distribution
    if isinstance(d, Uniform):
        return lambda rng, out: fill_uniform(rng, out, d.low_, d.high_)
    if isinstance(d, Normal):
        return lambda rng, out: fill_normal(rng, out, d.mean_, d.std_)
    if isinstance(d, TruncatedNormal):
        return lambda rng, out: fill_truncated_normal(rng, out, d.mean_, d.std_, d.lower, d.upper)
    raise TypeError(f"no kernel draws {type(distribution).__name__}")
