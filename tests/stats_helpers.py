"""Statistical assertions shared by the tests.

Every distribution check also proves its own power: the same sample must *fail* against
the distribution with its scale off by 10%, so a wrong constant cannot slip through.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

#: A correct distribution must not be rejected at this level (fixed seeds: deterministic).
ACCEPT_P = 1e-3
#: A 10%-wrong scale must be rejected at least this strongly.
REJECT_P = 1e-6


def ks_pvalue(values: np.ndarray, cdf) -> float:
    return float(stats.kstest(np.asarray(values, dtype=np.float64).ravel(), cdf).pvalue)


def assert_follows(values: np.ndarray, make_cdf, scale_name: str = "scale") -> None:
    """``make_cdf(factor)`` is the intended CDF with its scale multiplied by ``factor``."""
    p = ks_pvalue(values, make_cdf(1.0))
    assert p > ACCEPT_P, f"KS rejects the intended distribution: p={p:.3g}"
    for factor in (0.9, 1.1):
        wrong = ks_pvalue(values, make_cdf(factor))
        assert wrong < REJECT_P, (
            f"KS cannot tell a {scale_name} off by {factor:.0%}: p={wrong:.3g} (test has no power)")


def uniform_cdf(limit_low: float, limit_high: float):
    def make(factor: float):
        low, high = limit_low * factor, limit_high * factor
        return stats.uniform(loc=low, scale=high - low).cdf
    return make


def normal_cdf(mean: float, std: float):
    return lambda factor: stats.norm(loc=mean, scale=std * factor).cdf


def truncnorm_cdf(mean: float, std: float, lower: float = -2.0, upper: float = 2.0):
    """Truncated to ``[mean + lower·std, mean + upper·std]``, bounds in parent stds."""
    def make(factor: float):
        s = std * factor
        # Same absolute bounds scale with the std (that is what a wrong constant does).
        return stats.truncnorm(lower, upper, loc=mean, scale=s).cdf
    return make
