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
#: In σ: an interval this narrow is integrated by quadrature (the closed form cancels), and
#: a truncation bound this far out puts the whole mass within this much of it.
TAIL = 6.0


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
        # Far in a tail the mass underflows (erfc(40/√2) < 1e-300), but within 40/|a| of the
        # near end a the density falls by more than e^-40: what lies beyond does not count.
        if a > TAIL:
            b = min(b, a + 40.0 / a)
        elif b < -TAIL:
            a = max(a, b + 40.0 / b)
        if math.isfinite(a) and math.isfinite(b) and b - a <= TAIL:
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
        """(Φ(z) - Φ(a)) / (Φ(b) - Φ(a)) from logs of Φ, so far tails neither cancel nor
        underflow; an interval right of the mean is mirrored to the left. (scipy's
        ``truncnorm.cdf`` takes ~200 bytes of memory per value.)"""
        import numpy as np
        from scipy.special import log_ndtr

        z = (np.asarray(x, dtype=np.float64) - self.mean_) / self.std_
        a, b = self.lower, self.upper
        mirrored = a > 0
        if mirrored:
            z, a, b = -z, -b, -a
        z = np.clip(z, a, b)
        log_b = log_ndtr(b)
        with np.errstate(under="ignore"):
            from_a = math.exp(log_ndtr(a) - log_b) if math.isfinite(a) else 0.0
            below = (np.exp(log_ndtr(z) - log_b) - from_a) / (1.0 - from_a)
        below = np.clip(below, 0.0, 1.0)
        return 1.0 - below if mirrored else below

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


@dataclass(frozen=True)
class WithZeros(Distribution):
    """A share ``zeros`` of exact zeros, the rest following ``inner`` (torch sparse, delta orthogonal).

    The zeros are an atom, so the whole is not continuous (no KS against it); its moments
    and bounds are exact.
    """

    zeros: float
    inner: Distribution

    @property
    def mean(self) -> float | None:
        inner = self.inner.mean
        return None if inner is None else (1.0 - self.zeros) * inner

    @property
    def std(self) -> float | None:
        mean, std = self.inner.mean, self.inner.std
        if mean is None or std is None:
            return None
        second = (1.0 - self.zeros) * (std * std + mean * mean)
        return math.sqrt(max(0.0, second - self.mean**2))

    @property
    def low(self) -> float | None:
        low = self.inner.low
        if self.zeros >= 1.0:
            return 0.0
        return None if low is None else (min(low, 0.0) if self.zeros > 0 else low)

    @property
    def high(self) -> float | None:
        high = self.inner.high
        if self.zeros >= 1.0:
            return 0.0
        return None if high is None else (max(high, 0.0) if self.zeros > 0 else high)

    def cdf(self, x: Any) -> Any:
        import numpy as np

        x = np.asarray(x, dtype=float)
        return self.zeros * (x >= 0) + (1.0 - self.zeros) * self.inner.cdf(x)

    def describe(self) -> str:
        return f"{self.zeros:.4g} zeros, the rest {self.inner.describe()}"


# -- complex distributions ------------------------------------------------------------
#
# JAX's convention: a complex initializer's variance is E|z|², split equally between the
# real and the imaginary part. Summaries of complex tensors pool the real and imaginary
# parts (see stats.Moments.of), so ``mean``/``std``/``low``/``high``/``cdf`` below describe
# one part: the std of a part is sqrt(E|z|² / 2).


class ComplexDistribution(Distribution):
    """Base of the complex distributions; the sampler draws them as (real, imag) pairs."""

    is_complex = True
    continuous = True

    @property
    def mean(self) -> float:
        return 0.0

    @property
    def second_moment(self) -> float:
        """E|z|²."""
        raise NotImplementedError

    @property
    def std(self) -> float:
        return math.sqrt(self.second_moment / 2.0)


@dataclass(frozen=True)
class ComplexNormal(ComplexDistribution):
    """Circular complex normal with E|z|² = std_²: real and imaginary parts N(0, std_²/2)."""

    std_: float

    @property
    def second_moment(self) -> float:
        return self.std_ * self.std_

    def cdf(self, x: Any) -> Any:
        return Normal(0.0, self.std_ / SQRT2).cdf(x)

    def describe(self) -> str:
        return f"complex normal, E|z|²={self.second_moment:.6g} (each part std {self.std:.6g})"


@dataclass(frozen=True)
class ComplexDisk(ComplexDistribution):
    """Uniform on the disk |z| < radius (JAX's complex "uniform"): E|z|² = radius²/2."""

    radius: float

    @property
    def second_moment(self) -> float:
        return self.radius * self.radius / 2.0

    @property
    def low(self) -> float:
        return -self.radius

    @property
    def high(self) -> float:
        return self.radius

    def cdf(self, x: Any) -> Any:
        """A part's CDF: the disk's area left of x, over its whole area."""
        import numpy as np

        t = np.clip(np.asarray(x, dtype=float) / self.radius, -1.0, 1.0)
        return 0.5 + (t * np.sqrt(1.0 - t * t) + np.arcsin(t)) / math.pi

    def describe(self) -> str:
        return f"complex uniform on the disk |z| < {self.radius:.6g}"


@dataclass(frozen=True)
class ComplexTruncatedNormal(ComplexDistribution):
    """Circular complex normal with E|z|² = std_² before truncation, restricted to |z| <= upper·std_.

    JAX's complex "truncated_normal": |z|²/std_² is Exp(1) cut at upper².
    """

    std_: float
    upper: float = 2.0

    @property
    def second_moment(self) -> float:
        c2 = self.upper * self.upper
        kept = -math.expm1(-c2)
        return self.std_ * self.std_ * (1.0 - c2 * math.exp(-c2) / kept)

    @property
    def low(self) -> float:
        return -self.upper * self.std_

    @property
    def high(self) -> float:
        return self.upper * self.std_

    def cdf(self, x: Any) -> Any:
        """A part's CDF, integrated numerically once on a fine grid (the density is smooth)."""
        import numpy as np
        from scipy.integrate import cumulative_trapezoid
        from scipy.special import erf

        grid = np.linspace(-self.upper, self.upper, 1 << 14 | 1)
        # Density of the real part in std_ units: exp(-x²)·erf(sqrt(c² - x²)), up to a constant.
        density = np.exp(-grid * grid) * erf(np.sqrt(np.maximum(self.upper**2 - grid * grid, 0.0)))
        table = cumulative_trapezoid(density, x=grid, initial=0.0)
        table /= table[-1]
        return np.interp(np.asarray(x, dtype=float) / self.std_, grid, table)

    def describe(self) -> str:
        return (f"complex normal (E|z|²={self.std_**2:.6g} before truncation) with "
                f"|z| <= {self.high:.6g}")
