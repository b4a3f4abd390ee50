"""Statistics: the sampler's fast block moments against numpy's float64 statistics."""

from __future__ import annotations

import math

import ml_dtypes
import numpy as np
import pytest

from weightgen.stats import ROW, Moments, block_moments


def numpy_moments(values: np.ndarray) -> tuple[float, float, float, float, int]:
    x = values.reshape(-1)
    if np.iscomplexobj(x):
        x = x.view(x.real.dtype)
    x = x.astype(np.float64)
    return x.mean(), x.std(), x.min(), x.max(), int(np.count_nonzero(x == 0))


def assert_close_to_numpy(values: np.ndarray, moments: Moments, tolerance: float = 1e-7) -> None:
    """Mean within ``tolerance`` of numpy's float64 mean (relative to |mean| + std), std
    within ``tolerance`` relative; bounds, zeros and count exact. 1e-7 is float32's own
    precision (and better than numpy's float32 ``mean()``)."""
    mean, std, low, high, zeros = numpy_moments(values)
    assert abs(moments.mean - mean) <= tolerance * (abs(mean) + std) + 1e-300
    assert moments.std == pytest.approx(std, rel=tolerance, abs=1e-300)
    assert (moments.min, moments.max, moments.zeros) == (low, high, zeros)
    assert moments.count == values.size * (2 if np.iscomplexobj(values) else 1)
    assert moments.nonfinite == 0


RNG = np.random.default_rng(12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16, ml_dtypes.bfloat16])
@pytest.mark.parametrize("size", [1, ROW - 1, ROW, 3 * ROW + 7, 1 << 18])
def test_block_moments_match_numpy(dtype, size):
    values = (RNG.standard_normal(size) * 3.0).astype(dtype)
    assert_close_to_numpy(values, block_moments(values))


@pytest.mark.parametrize("shift", [None, 0.0, 100.0, 99.999, -5.0, math.nan])
def test_a_large_mean_is_summed_about_a_shift_whatever_the_guess(shift):
    """mean 100, std 0.01: sums about zero would cancel seven digits; the block's own
    mean replaces a bad guess."""
    values = (RNG.standard_normal(1 << 18) * 0.01 + 100.0).astype(np.float32)
    assert_close_to_numpy(values, block_moments(values, shift))


def test_constants_are_exact():
    for value, dtype in [(1.0, np.float16), (60000.0, np.float16), (0.1, np.float32), (-3.5, np.float64)]:
        moments = block_moments(np.full(70000, value, dtype=dtype))
        assert moments.mean == float(dtype(value)) and moments.m2 == 0.0


def test_two_valued_blocks_and_zeros():
    values = np.zeros(1 << 18, dtype=np.float32)
    values[::7] = 0.3
    assert_close_to_numpy(values, block_moments(values))
    assert block_moments(values).zeros == values.size - values[::7].size


def test_complex_blocks_pool_both_parts():
    values = (RNG.standard_normal(5000) + 1j * RNG.standard_normal(5000) * 2).astype(np.complex64)
    assert_close_to_numpy(values, block_moments(values))


def test_non_finite_huge_and_integer_values_take_the_exact_path():
    values = RNG.standard_normal(1000).astype(np.float32)
    values[[3, 10]] = [np.inf, np.nan]
    moments = block_moments(values)
    assert moments == Moments.of(values) and moments.nonfinite == 2 and moments.count == 998
    huge = np.array([3e38, -3e38, 1e38], dtype=np.float32)
    assert block_moments(huge) == Moments.of(huge)
    integers = np.arange(-5, 100, dtype=np.int64)
    assert block_moments(integers) == Moments.of(integers)


def test_blocks_merge_to_the_whole():
    values = (RNG.standard_normal(5 * ROW * 100 + 3) * 2 + 0.5).astype(np.float32)
    merged = Moments()
    for start in range(0, values.size, 10000):
        merged = merged.merge(block_moments(values[start : start + 10000], 0.5))
    assert_close_to_numpy(values, merged)
