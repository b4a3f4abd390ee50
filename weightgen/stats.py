"""Streaming statistics of tensor values, accumulated in float64 block by block.

:class:`Moments` of a block are computed in float64 (float16 and bfloat16 reductions are
wrong or overflow in their own precision) and merged with Chan et al.'s pairwise
formula, in block order, so the numbers never depend on the thread count.
:class:`Histogram` counts values on a grid of power-of-two-wide bins that coarsens as
values arrive, so it is exact, one pass, bounded in memory and mergeable like
:class:`Moments`. :func:`ks_test` is a Kolmogorov–Smirnov test that knows the values
were rounded to their dtype, and :func:`stratified_positions` picks the deterministic
subsample it runs on.

:func:`block_moments` is the sampler's fast path for one block of floats: min and max
first (which also proves every value finite), then sums of deviations from a shift and of
their squares in float32 over rows of :data:`ROW` values, combined in float64. It costs a
few numpy passes instead of a float64 copy and eight, and agrees with numpy's float64
statistics to about 1e-8 relative (1e-7 at worst: float32's own precision, and better
than numpy's float32 ``mean()``).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

#: Elements converted to float64 at a time (bounded scratch memory, cache friendly).
CHUNK = 1 << 16


class Scratch:
    """One thread's reusable work arrays, :data:`CHUNK` elements each.

    A fresh large temporary per piece would cost a page fault per 4 KiB (the allocator
    hands freed blocks back to the OS), which dwarfs the arithmetic; so pieces are
    converted into, and worked on in, these arrays.
    """

    def __init__(self, size: int = CHUNK) -> None:
        self.values = np.empty(size, dtype=np.float64)
        self.work = np.empty(size, dtype=np.float64)
        self.index = np.empty(size, dtype=np.intp)
        self.mask = np.empty(size, dtype=np.bool_)


_SCRATCH = threading.local()


def scratch() -> Scratch:
    """This thread's :class:`Scratch`."""
    arrays = getattr(_SCRATCH, "arrays", None)
    if arrays is None:
        arrays = _SCRATCH.arrays = Scratch()
    return arrays


def float64_pieces(values: np.ndarray) -> Iterator[np.ndarray]:
    """Successive pieces of ``values`` (flattened) converted to float64.

    Each piece lives in this thread's :class:`Scratch` and is overwritten by the next:
    use it before asking for another. Complex values give their real and imaginary
    parts, interleaved: the statistics of a complex tensor pool both parts.
    """
    flat = values.reshape(-1)
    if np.iscomplexobj(flat):
        flat = flat.view(flat.real.dtype)
    buffer = scratch().values
    for start in range(0, flat.size, CHUNK):
        piece = flat[start : start + CHUNK]
        out = buffer[: piece.size]
        np.copyto(out, piece, casting="unsafe")
        yield out


@dataclass(frozen=True)
class Moments:
    """Count, mean, sum of squared deviations, bounds, zeros and non-finite values.

    ``count`` counts the finite values, which are the ones the moments, bounds and
    ``zeros`` describe; ``nonfinite`` counts NaN and infinities.
    """

    count: int = 0
    mean: float = 0.0
    m2: float = 0.0
    min: float = math.inf
    max: float = -math.inf
    zeros: int = 0
    nonfinite: int = 0

    @property
    def variance(self) -> float:
        return self.m2 / self.count if self.count else math.nan

    @property
    def std(self) -> float:
        return math.sqrt(self.variance) if self.count else math.nan

    @property
    def total(self) -> int:
        """Every value seen, finite or not."""
        return self.count + self.nonfinite

    @classmethod
    def of(cls, values: np.ndarray) -> "Moments":
        """Moments of any real array (complex arrays: of the real and imaginary parts together)."""
        total = cls()
        for x in float64_pieces(values):
            total = total.merge(cls.of_piece(x)[0])
        return total

    @classmethod
    def of_piece(cls, x: np.ndarray) -> tuple["Moments", np.ndarray]:
        """Moments of a float64 piece, and its finite values (the piece itself when all are).

        A finite sum proves every value finite, which saves a pass in the usual case.
        """
        total = float(x.sum())
        nonfinite = 0
        if not math.isfinite(total):
            finite = x[np.isfinite(x)]
            nonfinite, x = x.size - finite.size, finite
            total = float(x.sum())
        n = int(x.size)
        if n == 0:
            return cls(nonfinite=nonfinite), x
        mean = total / n
        work = scratch()
        deviation = np.subtract(x, mean, out=work.work[:n])
        moments = cls(
            count=n,
            mean=mean,
            # einsum, not np.dot: BLAS threads stall badly on a busy machine.
            m2=float(np.einsum("i,i->", deviation, deviation)),
            min=float(x.min()),
            max=float(x.max()),
            zeros=int(np.count_nonzero(np.equal(x, 0, out=work.mask[:n]))),
            nonfinite=nonfinite,
        )
        return moments, x

    def merge(self, other: "Moments") -> "Moments":
        """Moments of the concatenation (Chan, Golub and LeVeque)."""
        if other.count == 0:
            return Moments(self.count, self.mean, self.m2, self.min, self.max, self.zeros,
                           self.nonfinite + other.nonfinite)
        if self.count == 0:
            return Moments(other.count, other.mean, other.m2, other.min, other.max, other.zeros,
                           self.nonfinite + other.nonfinite)
        count = self.count + other.count
        delta = other.mean - self.mean
        mean = self.mean + delta * other.count / count
        m2 = self.m2 + other.m2 + delta * delta * self.count * other.count / count
        return Moments(count, mean, m2, min(self.min, other.min), max(self.max, other.max),
                       self.zeros + other.zeros, self.nonfinite + other.nonfinite)

    def as_dict(self) -> dict[str, float | int | None]:
        """Mean, std, min, max as JSON-ready numbers (None when there are none)."""
        if not self.count:
            return {"mean": None, "std": None, "min": None, "max": None}
        return {"mean": self.mean, "std": self.std, "min": self.min, "max": self.max}


class Histogram:
    """Exact counts of finite values in bins of width ``2**exponent`` aligned on multiples of it.

    Bin ``k`` of the grid holds the values in ``[k·w, (k+1)·w)``; the histogram keeps a
    window of :attr:`BINS` consecutive bins. When a value falls outside the window, the
    width doubles (merging neighbouring bins exactly, since the grids nest) until the
    window covers every value seen. So one pass gives an exact histogram of at least
    ``BINS / 4`` bins across the data's range, in fixed memory, and two histograms merge
    exactly whatever their grids.
    """

    #: Bins in the window.
    BINS = 512

    def __init__(self) -> None:
        self.exponent: int | None = None
        self.first = 0
        self.counts = np.zeros(self.BINS, dtype=np.int64)
        self.low = math.inf
        self.high = -math.inf

    @property
    def width(self) -> float:
        return math.ldexp(1.0, self.exponent) if self.exponent is not None else math.nan

    @property
    def total(self) -> int:
        return int(self.counts.sum())

    def add(self, x: np.ndarray, low: float | None = None, high: float | None = None) -> None:
        """Count the finite float64 values ``x`` (``low``/``high``: their min and max, if known)."""
        if x.size == 0:
            return
        low = float(x.min()) if low is None else low
        high = float(x.max()) if high is None else high
        self._cover(low, high)
        exponent = self.exponent
        assert exponent is not None
        work = scratch()
        n = x.size
        if n > work.work.size:
            for start in range(0, n, work.work.size):
                self.add(x[start : start + work.work.size])
            return
        # Scaling by a power of two and flooring are exact, and so is subtracting one
        # whole number from another: the result is each value's bin in the window.
        if -1000 < exponent < 1000:
            scaled = np.multiply(x, math.ldexp(1.0, -exponent), out=work.work[:n])
        else:
            scaled = np.ldexp(x, -exponent, out=work.work[:n])
        np.floor(scaled, out=scaled)
        scaled -= self.first
        index = work.index[:n]
        np.copyto(index, scaled, casting="unsafe")
        self.counts += np.bincount(index, minlength=self.BINS)

    def merge(self, other: "Histogram") -> "Histogram":
        """Add ``other``'s counts to this histogram (in place) and return it."""
        if other.exponent is None:
            return self
        self._cover(other.low, other.high)
        assert self.exponent is not None
        if other.exponent > self.exponent:
            self._rescale(other.exponent)
        offsets = np.flatnonzero(other.counts)
        np.add.at(self.counts, _regrid(other.first, offsets, self.exponent - other.exponent, self.first),
                  other.counts[offsets])
        return self

    def _index(self, value: float, exponent: int) -> int:
        return math.floor(math.ldexp(value, -exponent))

    def _cover(self, low: float, high: float) -> None:
        """Coarsen and move the window until it covers ``[low, high]`` and what it holds."""
        low, high = min(low, self.low), max(high, self.high)
        exponent = max(self.exponent if self.exponent is not None else -1074, _exponent_for(low, high))
        while self._index(high, exponent) - self._index(low, exponent) >= self.BINS:
            exponent += 1
        if self.exponent is None:
            self.exponent = exponent
            self.first = self._index(low, exponent)
        elif exponent != self.exponent or self._index(high, exponent) >= self.first + self.BINS \
                or self._index(low, exponent) < self.first:
            self._rescale(exponent, self._index(low, exponent))
        self.low, self.high = low, high

    def _rescale(self, exponent: int, first: int | None = None) -> None:
        assert self.exponent is not None
        shift = exponent - self.exponent
        first = (self.first >> shift) if first is None else first
        counts = np.zeros(self.BINS, dtype=np.int64)
        offsets = np.flatnonzero(self.counts)
        np.add.at(counts, _regrid(self.first, offsets, shift, first), self.counts[offsets])
        self.exponent, self.first, self.counts = exponent, first, counts

    def bins(self, low: float, high: float, rows: int) -> tuple[list[float], list[int]]:
        """At most ``rows`` bins of equal power-of-two width covering ``[low, high]`` and every value.

        Edges fall on multiples of the width (round numbers like 0.015625) and each bin is
        a whole number of the grid's bins, so the counts are exact. A ``high`` no value
        reaches is the end of the last bin rather than the start of a new one.
        """
        if self.exponent is None:
            return [low, high], [0]
        low, high = min(low, self.low), max(high, self.high)
        if low == high:  # every value the same, and nothing else expected
            return [low, high], [self.total]
        exponent = max(self.exponent, _exponent_for(low, high) - 8)
        while True:
            first = self._index(low, exponent)
            stop = max(self._index(self.high, exponent) + 1, math.ceil(math.ldexp(high, -exponent)))
            if stop - first <= rows:
                break
            exponent += 1
        counts = np.zeros(stop - first, dtype=np.int64)
        offsets = np.flatnonzero(self.counts)
        np.add.at(counts, _regrid(self.first, offsets, exponent - self.exponent, first), self.counts[offsets])
        edges = [_edge(first + k, exponent) for k in range(stop - first + 1)]
        return edges, [int(c) for c in counts]


def _edge(index: int, exponent: int) -> float:
    """``index · 2**exponent``, infinite beyond float64's range."""
    try:
        return math.ldexp(float(index), exponent)
    except OverflowError:
        return math.copysign(math.inf, index)


def _regrid(start: int, offsets: np.ndarray, shift: int, first: int) -> np.ndarray:
    """Bins ``start + offsets`` of a grid, on a grid ``2**shift`` times coarser, less ``first``.

    (In Python integers where int64 could overflow: such far-apart grids are rare.)
    """
    if shift < 62 and abs(start) < 2**61 and abs(first) < 2**61:
        return ((start + offsets) >> shift) - first
    return np.array([((start + int(i)) >> shift) - first for i in offsets], dtype=np.intp)


def _exponent_for(low: float, high: float) -> int:
    """The smallest power-of-two bin width that can hold ``[low, high]`` in the window."""
    if high > low:
        span = high / 2 - low / 2  # halves: no overflow between -max and +max
        return math.frexp(span / (Histogram.BINS - 2))[1] + 1
    magnitude = abs(low)
    if magnitude == 0:
        return -1074
    return math.frexp(magnitude)[1] - 30


def stratified_positions(total: int, size: int, seed: int = 0) -> np.ndarray:
    """``size`` sorted positions among ``range(total)``: one uniformly drawn in each of ``size`` equal runs.

    Deterministic (``SFC64`` seeded with ``seed``), spread evenly over the whole tensor,
    and never aligned with its rows the way a fixed stride could be. All positions when
    ``total <= size``.
    """
    if total <= size:
        return np.arange(total, dtype=np.int64)
    quotient, remainder = divmod(total, size)
    j = np.arange(size + 1, dtype=np.int64)
    starts = j * quotient + (j * remainder) // size  # = floor(j·total/size), without overflow
    rng = np.random.Generator(np.random.SFC64(seed))
    return starts[:-1] + rng.integers(0, starts[1:] - starts[:-1])


def real_dtype(dtype: Any) -> np.dtype:
    """The dtype of the values statistics see: a complex dtype's parts, any other itself."""
    dtype = np.dtype(dtype)
    return np.empty(0, dtype).real.dtype if dtype.kind == "c" else dtype


def neighbours(values: np.ndarray, dtype: Any) -> tuple[np.ndarray, np.ndarray]:
    """The representable values just below and just above each value, in ``dtype`` (as float64)."""
    dtype = real_dtype(dtype)
    if dtype.kind in "iub":
        return values - 1.0, values + 1.0
    stored = values.astype(dtype)
    with np.errstate(over="ignore"):
        below = np.nextafter(stored, np.array(-np.inf, dtype=dtype)).astype(np.float64)
        above = np.nextafter(stored, np.array(np.inf, dtype=dtype)).astype(np.float64)
    return below, above


def ks_test(sample: np.ndarray, distribution: Any, dtype: Any) -> tuple[float, float]:
    """Kolmogorov–Smirnov statistic and p-value of finite values stored in ``dtype``.

    The values were rounded to ``dtype`` (and clipped into the distribution's bounds), so
    each distinct value ``u`` stands for the interval between the midpoints to its
    neighbours: the empirical CDF is compared with the expected CDF at those midpoints,
    and the end values absorb everything beyond the bounds. Without this, bfloat16 data
    of a large tensor would fail against its own distribution. Atoms (exact zeros) are
    handled the same way. The p-value is the continuous Kolmogorov distribution's, which
    is conservative for rounded data.
    """
    from scipy.stats import kstwo

    n = int(sample.size)
    if n == 0:
        return math.nan, math.nan
    values, counts = np.unique(sample, return_counts=True)
    after = np.cumsum(counts) / n
    before = after - counts / n
    below, above = neighbours(values, dtype)
    with np.errstate(invalid="ignore", over="ignore"):
        upper = values + (above - values) / 2
        lower = values - (values - below) / 2
    cdf_upper = np.asarray(distribution.cdf(upper), dtype=np.float64)
    cdf_lower = np.asarray(distribution.cdf(lower), dtype=np.float64)
    high, low = distribution.high, distribution.low
    if high is not None:
        beyond = above >= high if distribution.high_open else above > high
        cdf_upper[beyond | (values >= high)] = 1.0
    if low is not None:
        cdf_lower[(below < low) | (values <= low)] = 0.0
    statistic = float(max(np.max(after - cdf_upper), np.max(cdf_lower - before), 0.0))
    return statistic, float(kstwo.sf(statistic, n))


#: Values per float32 partial sum in :func:`block_moments` (rounding error grows with it).
ROW = 256
#: Larger magnitudes take the exact float64 path (their squares could overflow float32 sums).
_FAST_LIMIT = 1e15
_BLOCK_SCRATCH = threading.local()


def _buffer(name: str, size: int, dtype: np.dtype) -> np.ndarray:
    """A per-thread scratch array (reused: a fresh one would cost page faults)."""
    buffer = getattr(_BLOCK_SCRATCH, name, None)
    if buffer is None or buffer.size < size or buffer.dtype != dtype:
        buffer = np.empty(size, dtype=dtype)
        setattr(_BLOCK_SCRATCH, name, buffer)
    return buffer[:size]


def block_moments(values: np.ndarray, shift: float | None = None) -> Moments:
    """:class:`Moments` of one block of floats, fast; ``shift`` is a guess of its mean.

    float32 values (float16 and bfloat16 converted exactly) are summed as deviations
    ``d = x - shift`` in float32 over rows of :data:`ROW` values, and the row sums of
    ``d`` and ``d²`` are added in float64: mean = shift + Σd/n, m2 = Σd² - (Σd)²/n. A
    guess far from the mean (it would cancel digits) is replaced by the block's own mean
    and summed again. Min, max and zeros are exact. Non-finite, huge and non-float values
    take :meth:`Moments.of`.
    """
    flat = values.reshape(-1)
    if np.iscomplexobj(flat):
        flat = flat.view(flat.real.dtype)
    if flat.dtype.kind != "f" and flat.dtype.name != "bfloat16":
        return Moments.of(flat)
    if flat.dtype.itemsize < 4:
        wide = _buffer("wide", flat.size, np.dtype(np.float32))
        np.copyto(wide, flat, casting="unsafe")
        flat = wide
    n = int(flat.size)
    if n == 0:
        return Moments()
    low, high = float(flat.min()), float(flat.max())
    if not (math.isfinite(low) and math.isfinite(high)) or max(-low, high) > _FAST_LIMIT:
        return Moments.of(flat)
    zeros = 0 if low > 0.0 or high < 0.0 else int(np.count_nonzero(np.equal(
        flat, 0, out=_buffer("mask", n, np.dtype(np.bool_)))))
    centre = 0.0 if shift is None or not math.isfinite(shift) else min(max(shift, low), high)
    total, squares, centre = _shifted_sums(flat, centre)
    if total * total > 0.5 * n * squares:  # the guess was far off: sum about the block's mean
        total, squares, centre = _shifted_sums(flat, centre + total / n)
    mean = centre + total / n
    m2 = max(0.0, squares - total * total / n)
    return Moments(count=n, mean=mean, m2=m2, min=low, max=high, zeros=zeros)


def _shifted_sums(flat: np.ndarray, centre: float) -> tuple[float, float, float]:
    """(Σd, Σd², c) for d = x - c, c the float centre rounded to the values' dtype."""
    c = flat.dtype.type(centre)
    if c != 0:
        flat = np.subtract(flat, c, out=_buffer("deviation", flat.size, flat.dtype))
    rows = flat.size // ROW
    whole = flat[: rows * ROW].reshape(rows, ROW)
    sums = np.einsum("ij->i", whole, out=_buffer("sums", rows, flat.dtype))
    total = float(np.sum(sums, dtype=np.float64))
    # Squares, then row sums: einsum "ij,ij->i" drifts by 1e-7 in float32, and row dot
    # products (matmul) wake BLAS's threads, which then spin beside the sampler's.
    square = np.square(whole, out=_buffer("square", rows * ROW, flat.dtype).reshape(rows, ROW))
    np.einsum("ij->i", square, out=sums)
    squares = float(np.sum(sums, dtype=np.float64))
    if rows * ROW == flat.size:
        return total, squares, float(c)
    tail = flat[rows * ROW :].astype(np.float64)
    return total + float(tail.sum()), squares + float(np.square(tail).sum()), float(c)
