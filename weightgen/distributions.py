"""The distributions initializers produce: what to sample, and what to expect.

Each class is a small frozen value with closed-form moments and bounds, so the summary's
"expected" column, ``inspect --expect`` and the statistical tests all read the same
numbers. The elementwise kinds (:class:`Uniform`, :class:`Normal`,
:class:`TruncatedNormal`) are also what the sampler draws from. CDFs import scipy lazily;
nothing else here needs numpy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

SQRT2 = math.sqrt(2.0)


def _phi(x: float) -> float:
    """Standard normal density (0 at infinity)."""
    return 0.0 if math.isinf(x) else math.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)


def _mass(lower: float, upper: float) -> float:
    """P(lower <= Z <= upper) for standard normal Z, accurate far in either tail."""
    if lower >= 0:
        return 0.5 * (math.erfc(lower / SQRT2) - math.erfc(upper / SQRT2))
    if upper <= 0:
        return 0.5 * (math.erfc(-upper / SQRT2) - math.erfc(-lower / SQRT2))
    return 1.0 - 0.5 * (math.erfc(-lower / SQRT2) + math.erfc(upper / SQRT2))


def _quadrature_moments(a: float, b: float) -> tuple[float, float]:
    """Truncated-normal mean and std by 48-point Gauss–Legendre on a finite interval.

    The closed form cancels catastrophically when the interval is narrow or far in a
    tail (variance << 1); the density restricted to a short interval is smooth enough
    for quadrature to be exact to rounding.
    """
    import numpy as np

    nodes, weights = np.polynomial.legendre.leggauss(48)
    half, middle = (b - a) / 2.0, (a + b) / 2.0
    x = middle + half * nodes
    peak = min(max(0.0, a), b)
    w = weights * np.exp(-0.5 * (x - peak) * (x + peak))
    total = w.sum()
    mean = 0.0 if a == -b else float((w * x).sum() / total)
    variance = float((w * (x - mean) ** 2).sum() / total)
    return mean, math.sqrt(max(variance, 0.0))


class Distribution:
    """Base: the expected summary of a tensor's values."""

    #: Whether values can be compared with a continuous CDF (Kolmogorov–Smirnov).
    continuous = False

    @property
    def mean(self) -> float | None:
        return None

    @property
    def std(self) -> float | None:
        return None

    @property
    def low(self) -> float | None:
        """Smallest possible value (None when unbounded)."""
        return None

    @property
    def high(self) -> float | None:
        """Largest possible value, or the open upper end (None when unbounded)."""
        return None

    #: The upper bound is excluded (uniform's ``[low, high)``).
    high_open = False

    def expected(self) -> dict[str, float | None]:
        return {"mean": self.mean, "std": self.std, "min": self.low, "max": self.high}

    def cdf(self, x: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} has no CDF")

    def describe(self) -> str:
        return type(self).__name__


@dataclass(frozen=True)
class Uniform(Distribution):
    """Uniform on ``[low, high)``."""

    low_: float
    high_: float
    continuous = True
    high_open = True

    @property
    def mean(self) -> float:
        return (self.low_ + self.high_) / 2.0

    @property
    def std(self) -> float:
        return abs(self.high_ - self.low_) / math.sqrt(12.0)

    @property
    def low(self) -> float:
        return min(self.low_, self.high_)

    @property
    def high(self) -> float:
        return max(self.low_, self.high_)

    def cdf(self, x: Any) -> Any:
        import numpy as np

        if self.high == self.low:
            return (np.asarray(x) >= self.low).astype(float)
        return np.clip((np.asarray(x, dtype=float) - self.low) / (self.high - self.low), 0.0, 1.0)

    def describe(self) -> str:
        return f"uniform [{self.low:.6g}, {self.high:.6g})"


@dataclass(frozen=True)
class Normal(Distribution):
    """Untruncated normal."""

    mean_: float
    std_: float
    continuous = True

    @property
    def mean(self) -> float:
        return self.mean_

    @property
    def std(self) -> float:
        return self.std_

    def cdf(self, x: Any) -> Any:
        import numpy as np
        from scipy.special import ndtr

        return ndtr((np.asarray(x, dtype=float) - self.mean_) / self.std_)

    def describe(self) -> str:
        return f"normal(mean={self.mean_:.6g}, std={self.std_:.6g})"


@dataclass(frozen=True)
class TruncatedNormal(Distribution):
    """Normal(mean_, std_) restricted to ``[mean_ + lower·std_, mean_ + upper·std_]``.

    ``lower``/``upper`` are in standard deviations of the *parent* normal, as JAX states
    them; Keras's ±2σ and PyTorch's absolute ``a``, ``b`` are converted to this form.
    """

    mean_: float
    std_: float
    lower: float = -2.0
    upper: float = 2.0
    continuous = True

    def _moments(self) -> tuple[float, float]:
        """Mean and std of the standard normal truncated to [lower, upper]."""
        a, b = self.lower, self.upper
        if math.isfinite(a) and math.isfinite(b) and b - a <= 6.0:
            return _quadrature_moments(a, b)
        mass = _mass(a, b)
        pa, pb = _phi(a), _phi(b)
        shift = (pa - pb) / mass
        ta = 0.0 if math.isinf(a) else a * pa
        tb = 0.0 if math.isinf(b) else b * pb
        variance = max(0.0, 1.0 + (ta - tb) / mass - shift * shift)
        return shift, math.sqrt(variance)

    @property
    def mean(self) -> float:
        return self.mean_ + self.std_ * self._moments()[0]

    @property
    def std(self) -> float:
        return self.std_ * self._moments()[1]

    @property
    def low(self) -> float | None:
        return None if math.isinf(self.lower) else self.mean_ + self.lower * self.std_

    @property
    def high(self) -> float | None:
        return None if math.isinf(self.upper) else self.mean_ + self.upper * self.std_

    def cdf(self, x: Any) -> Any:
        import numpy as np
        from scipy.stats import truncnorm

        return truncnorm.cdf(np.asarray(x, dtype=float), self.lower, self.upper,
                             loc=self.mean_, scale=self.std_)

    def describe(self) -> str:
        return (f"truncated normal(mean={self.mean_:.6g}, std={self.std_:.6g}) "
                f"on [{self.lower:g}σ, {self.upper:g}σ]")


@dataclass(frozen=True)
class Constant(Distribution):
    """Every value equal."""

    value: float

    @property
    def mean(self) -> float:
        return self.value

    @property
    def std(self) -> float:
        return 0.0

    @property
    def low(self) -> float:
        return self.value

    @property
    def high(self) -> float:
        return self.value

    def describe(self) -> str:
        return f"constant {self.value:g}"


@dataclass(frozen=True)
class TwoPoint(Distribution):
    """``count`` values equal to ``value`` among ``size``, the rest zero (identity, dirac)."""

    value: float
    count: int
    size: int

    @property
    def _share(self) -> float:
        return self.count / self.size if self.size else 0.0

    @property
    def mean(self) -> float:
        return self.value * self._share

    @property
    def std(self) -> float:
        p = self._share
        return abs(self.value) * math.sqrt(p * (1.0 - p))

    @property
    def low(self) -> float:
        return min(self.value, 0.0) if self.count < self.size else self.value

    @property
    def high(self) -> float:
        return max(self.value, 0.0) if self.count < self.size else self.value

    def describe(self) -> str:
        return f"{self.count} of {self.size} values = {self.value:g}, the rest 0"


@dataclass(frozen=True)
class SphereCoordinate(Distribution):
    """One entry of a random orthogonal matrix: a coordinate of a uniform unit ``n``-vector, times ``gain``.

    ``(x / gain + 1) / 2`` follows Beta((n-1)/2, (n-1)/2); the variance is gain²/n.
    """

    n: int
    gain: float
    continuous = True

    @property
    def mean(self) -> float:
        return 0.0

    @property
    def std(self) -> float:
        return abs(self.gain) / math.sqrt(self.n)

    @property
    def low(self) -> float:
        return -abs(self.gain)

    @property
    def high(self) -> float:
        return abs(self.gain)

    def cdf(self, x: Any) -> Any:
        import numpy as np
        from scipy.stats import beta

        scaled = np.asarray(x, dtype=float) / abs(self.gain)
        if self.n == 1:
            return np.where(scaled < 1.0, np.where(scaled < -1.0, 0.0, 0.5), 1.0)
        half = (self.n - 1) / 2.0
        return beta.cdf((np.clip(scaled, -1.0, 1.0) + 1.0) / 2.0, half, half)

    def describe(self) -> str:
        return f"orthogonal entries (n={self.n}, gain={self.gain:g})"


@dataclass(frozen=True)
class Summary(Distribution):
    """A deterministic tensor whose summary is known exactly (e.g. an STFT kernel)."""

    mean_: float | None = None
    std_: float | None = None
    low_: float | None = None
    high_: float | None = None
    text: str = "deterministic"

    @property
    def mean(self) -> float | None:
        return self.mean_

    @property
    def std(self) -> float | None:
        return self.std_

    @property
    def low(self) -> float | None:
        return self.low_

    @property
    def high(self) -> float | None:
        return self.high_

    def describe(self) -> str:
        return self.text
