"""Streaming statistics of tensor values, accumulated in float64 block by block.

:class:`Moments` of a block are computed in float64 (float16 and bfloat16 reductions are
wrong or overflow in their own precision) and merged with Chan et al.'s pairwise
formula, in block order, so the numbers never depend on the thread count.
"""

from __future__ import annotations

import math
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
