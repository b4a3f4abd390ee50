"""XLA's CPU arithmetic in numpy: exact fused multiply-adds and accurate special functions.

Bit-exactness with XLA is pinned by the golden values of ``test_jax_random.py``; these
tests check the building blocks against exact rational arithmetic and scipy.
"""

from __future__ import annotations

from fractions import Fraction

import ml_dtypes
import numpy as np
import pytest
from scipy import special

from weightgen.streams import xla


def exact_fma(a: float, b: float, c: float) -> Fraction:
    return Fraction(a) * Fraction(b) + Fraction(c)


def nearest(value: Fraction, dtype) -> float:
    """The correctly rounded (to nearest, ties to even) value of a rational in ``dtype``."""
    guess = np.array(float(value), dtype=np.float64).astype(dtype)
    candidates = [guess, np.nextafter(guess, dtype(np.inf)), np.nextafter(guess, dtype(-np.inf))]
    errors = [abs(Fraction(float(c)) - value) for c in candidates]
    best = min(errors)
    ties = [c for c, e in zip(candidates, errors) if e == best]
    if len(ties) > 1:
        ties = [c for c in ties if int(np.array(c).view(np.int64 if dtype == np.float64 else np.int32)) % 2 == 0]
    return float(ties[0])


@pytest.mark.parametrize("dtype, fma", [(np.float32, xla.fma32), (np.float64, xla.fma64)])
def test_fma_is_correctly_rounded(dtype, fma):
    rng = np.random.default_rng(0)
    a = rng.normal(size=2000).astype(dtype)
    b = rng.normal(size=2000).astype(dtype)
    # c close to -a*b makes the single rounding matter.
    c = (-(a.astype(np.float64) * b.astype(np.float64)) * (1 + rng.normal(size=2000) * 1e-7)).astype(dtype)
    got = fma(a, b, c)
    for i in range(a.size):
        want = nearest(exact_fma(float(a[i]), float(b[i]), float(c[i])), dtype)
        assert float(got[i]) == want, (a[i], b[i], c[i])


def test_fma32_rounds_once_where_the_float64_sum_is_halfway():
    """a·b + c = 1 + 2⁻²³ + 2⁻²⁴ − 2⁻⁵⁴: float64 rounds it to the float32 halfway point,
    whose tie goes up; one correct rounding goes down, to c."""
    a, b, c = (np.float32(2**-12 * (1 + 2**-15)), np.float32(2**-12 * (1 - 2**-15)),
               np.float32(1 + 2**-23))
    twice = np.float32(np.float64(a) * np.float64(b) + np.float64(c))
    assert twice != c and xla.fma32(a, b, c) == c
    assert xla.fma32(np.array([a] * 3), b, c).tolist() == [float(c)] * 3


def test_fma_differs_from_two_roundings():
    """The reason to emulate it: a*b + c rounded twice is often another number."""
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(2, 10000)).astype(np.float32)
    c = (-(a * b)).astype(np.float32)
    assert np.count_nonzero(xla.fma32(a, b, c) != (a * b + c).astype(np.float32)) > 1000


def test_round_bf16_matches_ml_dtypes():
    values = np.random.default_rng(2).normal(size=100000).astype(np.float32) * 1e3
    expected = values.astype(ml_dtypes.bfloat16).astype(np.float32)
    assert xla.round_bf16(values).tobytes() == expected.tobytes()


def ulps32(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ia = a.astype(np.float32).view(np.int32).astype(np.int64)
    ib = b.astype(np.float32).view(np.int32).astype(np.int64)
    ia = np.where(ia < 0, -(ia & 0x7FFFFFFF), ia)
    ib = np.where(ib < 0, -(ib & 0x7FFFFFFF), ib)
    return np.abs(ia - ib)


def test_float32_log_and_log1p_are_accurate():
    x = np.random.default_rng(3).uniform(1e-6, 1e3, 100000).astype(np.float32)
    assert ulps32(xla.log_f32(x), np.log(x.astype(np.float64))).max() <= 2
    y = np.random.default_rng(4).uniform(-0.99, 3, 100000).astype(np.float32)
    assert ulps32(xla.log1p(y, xla.F32), np.log1p(y.astype(np.float64))).max() <= 2
    assert xla.log_f32(np.float32([0, -1, np.inf])).tolist()[0] == -np.inf


def test_erf_inv_is_accurate():
    """Within XLA's own error: float32 loses digits near ±1, where 1 - x² cancels."""
    x = np.random.default_rng(5).uniform(-0.999999, 0.999999, 200000)
    x32 = x.astype(np.float32)
    exact = special.erfinv(x32.astype(np.float64))
    ulps = ulps32(xla.erf_inv_f32(x32), exact)
    assert np.median(ulps) <= 1 and np.percentile(ulps, 99) <= 4
    assert np.allclose(xla.erf_inv_f32(x32), exact, rtol=1e-5, atol=0)
    assert np.allclose(xla.erf_inv_f64(x), special.erfinv(x), rtol=1e-12, atol=0)
    assert np.isinf(xla.erf_inv_f32(np.float32([1.0, -1.0]))).all()


def test_erf_and_exp_are_accurate():
    x = np.random.default_rng(6).uniform(-5, 5, 100000).astype(np.float32)
    assert ulps32(xla.erf(x, xla.F32), special.erf(x.astype(np.float64))).max() <= 6
    y = np.random.default_rng(7).uniform(-80, 80, 100000).astype(np.float32)
    assert ulps32(xla.exp_f32(y), np.exp(y.astype(np.float64))).max() <= 2
