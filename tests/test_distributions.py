"""Closed-form moments and CDFs of the expected distributions, against scipy."""

import math

import numpy as np
import pytest
from scipy import integrate, stats

from weightgen.distributions import (ComplexDisk, ComplexNormal, ComplexTruncatedNormal, Constant, Normal,
                                     SphereCoordinate, TruncatedNormal, TwoPoint, WithZeros,
                                     Uniform)


@pytest.mark.parametrize("mean,std,lower,upper", [
    (0, 1, -2, 2), (1.5, 0.3, -1, 3), (0, 2, 8, 9), (0, 1, -math.inf, -6), (0, 1, 5, math.inf),
    (0, 1, 0.1, 0.1001), (-3, 0.5, -40, 0.5),
    # far in a tail, where the mass underflows to 0 (PyTorch's absolute a, b allow it)
    (0, 1, 50, 60), (0, 1, -60, -50), (0, 1, 39, 1e6), (2, 3, 8, 1e300), (0, 1, -1e6, -38.5),
])
def test_truncated_normal_moments(mean, std, lower, upper):
    d = TruncatedNormal(mean, std, lower, upper)
    ref = stats.truncnorm(lower, upper, loc=mean, scale=std)
    # Reference moments by adaptive quadrature (scipy's closed forms lose digits on narrow intervals).
    peak = min(max(0.0, lower), upper)
    density = lambda z: math.exp(-0.5 * (z - peak) * (z + peak))
    lo, hi = max(lower, peak - 40), min(upper, peak + 40)
    mass = integrate.quad(density, lo, hi, epsabs=0, epsrel=1e-13)[0]
    z_mean = integrate.quad(lambda z: z * density(z), lo, hi, epsabs=1e-13, epsrel=1e-13)[0] / mass
    z_var = integrate.quad(lambda z: (z - z_mean) ** 2 * density(z), lo, hi, epsabs=0, epsrel=1e-12)[0] / mass
    assert d.mean == pytest.approx(mean + std * z_mean, rel=1e-9, abs=1e-12)
    assert d.std == pytest.approx(std * math.sqrt(z_var), rel=1e-8)
    x = np.linspace(ref.ppf(0.01), ref.ppf(0.99), 7)
    assert np.allclose(d.cdf(x), ref.cdf(x))


def test_keras_constant_is_the_std_of_a_2_sigma_truncation():
    assert TruncatedNormal(0, 1).std == pytest.approx(0.87962566103423978, rel=1e-12)


def test_uniform_normal_constant():
    u = Uniform(-2, 6)
    assert (u.mean, u.std, u.low, u.high, u.high_open) == (2, 8 / math.sqrt(12), -2, 6, True)
    assert np.allclose(u.cdf([-3, 2, 7]), [0, 0.5, 1])
    n = Normal(1, 2)
    assert (n.mean, n.std, n.low, n.high) == (1, 2, None, None)
    assert n.cdf(1) == pytest.approx(0.5)
    assert Constant(3).expected() == {"mean": 3, "std": 0, "min": 3, "max": 3}


def test_two_point():
    eye = TwoPoint(2.0, 3, 12)
    values = np.array([2.0] * 3 + [0.0] * 9)
    assert eye.mean == pytest.approx(values.mean()) and eye.std == pytest.approx(values.std())
    assert (eye.low, eye.high) == (0, 2)


def test_sphere_coordinate_against_a_simulation():
    rng = np.random.default_rng(0)
    v = rng.standard_normal((20000, 10))
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    d = SphereCoordinate(10, 1.5)
    x = 1.5 * v[:, 0]
    assert stats.kstest(x, d.cdf).pvalue > 1e-3
    assert d.std == pytest.approx(1.5 / math.sqrt(10))


def test_with_zeros_against_a_sample():
    rng = np.random.default_rng(7)
    inner = Normal(0.5, 2.0)
    d = WithZeros(0.3, inner)
    n = 2_000_000
    sample = np.where(rng.random(n) < 0.3, 0.0, rng.normal(0.5, 2.0, n))
    assert d.mean == pytest.approx(sample.mean(), abs=0.005)
    assert d.std == pytest.approx(sample.std(), rel=0.002)
    assert d.low is None and d.high is None and not d.continuous
    assert d.cdf(np.array([-1e-12, 0.0]))[1] - d.cdf(np.array([-1e-12, 0.0]))[0] == pytest.approx(0.3)
    bounded = WithZeros(0.5, Uniform(1.0, 3.0))
    assert (bounded.low, bounded.high, bounded.mean) == (0.0, 3.0, 1.0)
    assert WithZeros(1.0, Normal(0, 1)).expected() == {"mean": 0.0, "std": 0.0, "min": 0.0, "max": 0.0}


def complex_sample(kind, n, rng):
    if kind == "normal":
        return (rng.normal(size=n) + 1j * rng.normal(size=n)) * (1.5 / math.sqrt(2))
    if kind == "disk":
        return 0.8 * np.sqrt(rng.random(n)) * np.exp(2j * math.pi * rng.random(n))
    modulus = 0.7 * np.sqrt(-np.log1p(-(-math.expm1(-4.0)) * rng.random(n)))
    return modulus * np.exp(2j * math.pi * rng.random(n))


@pytest.mark.parametrize("kind,distribution", [
    ("normal", ComplexNormal(1.5)), ("disk", ComplexDisk(0.8)), ("truncated", ComplexTruncatedNormal(0.7, 2.0)),
])
def test_complex_distributions_describe_one_part(kind, distribution):
    """E|z|², and mean, std, bounds and CDF of the pooled real and imaginary parts."""
    z = complex_sample(kind, 1_000_000, np.random.default_rng(3))
    assert distribution.second_moment == pytest.approx(np.mean(np.abs(z) ** 2), rel=0.005)
    parts = np.concatenate([z.real, z.imag])
    assert distribution.mean == 0.0
    assert distribution.std == pytest.approx(parts.std(), rel=0.003)
    assert stats.kstest(parts, distribution.cdf).pvalue > 1e-3
    if distribution.high is not None:
        assert np.abs(parts).max() <= distribution.high


def test_complex_truncated_second_moment_closed_form():
    # |z|²/σ² ~ Exp(1) cut at c²: E = 1 - c² e^{-c²} / (1 - e^{-c²}).
    d = ComplexTruncatedNormal(1.0, 2.0)
    assert d.second_moment == pytest.approx(0.9253705585449038, rel=1e-14)
