"""Streaming statistics of tensor values, accumulated in float64 block by block.

:class:`Moments` of a block are computed in float64 (float16 and bfloat16 reductions are
wrong or overflow in their own precision) and merged with Chan et al.'s pairwise
formula, in block order, so the numbers never depend on the thread count.

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
from dataclasses import dataclass

import numpy as np

#: Elements converted to float64 at a time (bounded scratch memory, cache friendly).
CHUNK = 1 << 16


@dataclass(frozen=True)
class Moments:
    """Count, mean, sum of squared deviations, bounds, zeros and non-finite values."""

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

    @classmethod
    def of(cls, values: np.ndarray) -> "Moments":
        """Moments of any real array (complex arrays: of the real and imaginary parts together)."""
        flat = values.reshape(-1)
        if np.iscomplexobj(flat):
            flat = flat.view(flat.real.dtype)
        total = cls()
        for start in range(0, flat.size, CHUNK):
            total = total.merge(cls._of_chunk(flat[start : start + CHUNK]))
        return total

    @classmethod
    def _of_chunk(cls, chunk: np.ndarray) -> "Moments":
        x = chunk.astype(np.float64)
        finite = np.isfinite(x)
        nonfinite = int(x.size - np.count_nonzero(finite))
        if nonfinite:
            x = x[finite]
        n = int(x.size)
        if n == 0:
            return cls(nonfinite=nonfinite)
        mean = float(x.sum()) / n
        deviation = x - mean
        return cls(
            count=n,
            mean=mean,
            m2=float(np.einsum("i,i->", deviation, deviation)),  # not np.dot: BLAS threads here cost more than they save
            min=float(x.min()),
            max=float(x.max()),
            zeros=n - int(np.count_nonzero(x)),
            nonfinite=nonfinite,
        )

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


#: Values per float32 partial sum in :func:`block_moments` (rounding error grows with it).
ROW = 256
#: Larger magnitudes take the exact float64 path (their squares could overflow float32 sums).
_FAST_LIMIT = 1e15
_scratch = threading.local()


def _buffer(name: str, size: int, dtype: np.dtype) -> np.ndarray:
    """A per-thread scratch array (reused: a fresh one would cost page faults)."""
    buffer = getattr(_scratch, name, None)
    if buffer is None or buffer.size < size or buffer.dtype != dtype:
        buffer = np.empty(size, dtype=dtype)
        setattr(_scratch, name, buffer)
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
