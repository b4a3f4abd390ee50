"""Streaming statistics: moments, the sampler's fast block moments against numpy's float64
statistics, the exact mergeable histogram, the subsample and the KS test."""

from __future__ import annotations

import math

import ml_dtypes
import numpy as np
import pytest
from scipy import stats as scipy_stats

from weightgen.distributions import Normal, TruncatedNormal, Uniform
from weightgen.stats import ROW, Histogram, Moments, block_moments, ks_test, neighbours, stratified_positions


def reference_counts(values: np.ndarray, edges: list[float]) -> list[int]:
    """Counts of half-open bins [edge_k, edge_k+1), by numpy's searchsorted."""
    index = np.searchsorted(np.asarray(edges), values, side="right") - 1
    assert index.min() >= 0 and index.max() < len(edges) - 1, "some value lies outside the bins"
    return np.bincount(index, minlength=len(edges) - 1).tolist()


@pytest.mark.parametrize("dtype", [np.float16, ml_dtypes.bfloat16, np.float32, np.float64, np.int16])
def test_moments_match_numpy_in_float64(dtype):
    values = (np.random.default_rng(1).standard_normal(300_001) * 3 + 1.5).astype(dtype)
    wide = values.astype(np.float64)
    moments = Moments.of(values)
    assert moments.count == values.size and moments.nonfinite == 0
    assert moments.mean == pytest.approx(wide.mean(), rel=1e-12, abs=1e-12)
    assert moments.std == pytest.approx(wide.std(), rel=1e-12)
    assert (moments.min, moments.max) == (wide.min(), wide.max())
    assert moments.zeros == int(np.count_nonzero(wide == 0))


def test_moments_skip_and_count_non_finite_values():
    values = np.array([1.0, np.nan, 3.0, np.inf, -np.inf, 0.0], dtype=np.float32)
    moments = Moments.of(values)
    assert (moments.count, moments.nonfinite, moments.total, moments.zeros) == (3, 3, 6, 1)
    assert moments.mean == pytest.approx(4 / 3) and moments.max == 3.0


def test_moments_of_complex_values_pool_both_parts():
    values = np.array([1 + 2j, 3 - 4j], dtype=np.complex64)
    moments = Moments.of(values)
    assert moments.count == 4 and moments.mean == pytest.approx(0.5)


def test_histogram_counts_are_exact_and_bins_are_round():
    values = np.random.default_rng(2).standard_normal(200_000) * 0.05
    histogram = Histogram()
    for piece in np.array_split(values, 7):
        histogram.add(piece)
    edges, counts = histogram.bins(values.min(), values.max(), 20)
    assert 10 <= len(counts) <= 20
    assert counts == reference_counts(values, edges)
    width = edges[1] - edges[0]
    assert math.frexp(width)[0] == 0.5, "bin width is not a power of two"
    assert all(math.isclose(b - a, width) for a, b in zip(edges, edges[1:]))
    assert all(float(e / width).is_integer() for e in edges)


def test_histogram_merges_exactly_whatever_the_grids():
    rng = np.random.default_rng(3)
    parts = [np.zeros(10), rng.uniform(0, 1e-3, 5000), np.full(7, 42.0), rng.uniform(-1e6, 1e6, 3000),
             rng.standard_normal(4000) * 1e-9]
    merged = Histogram()
    for part in parts:
        piece = Histogram()
        piece.add(part)
        merged.merge(piece)
    whole = np.concatenate(parts)
    direct = Histogram()
    direct.add(whole)
    assert merged.total == whole.size
    for histogram in (merged, direct):
        edges, counts = histogram.bins(whole.min(), whole.max(), 16)
        assert counts == reference_counts(whole, edges)


def test_histogram_handles_the_extremes_of_float64():
    values = np.array([-1.7e308, 1.7e308, 5e-324, 0.0, -3.0])
    histogram = Histogram()
    histogram.add(values[:2])
    histogram.add(values[2:])
    edges, counts = histogram.bins(values.min(), values.max(), 8)
    assert sum(counts) == 5 and counts[0] == 1 and counts[-1] == 1
    assert math.isinf(edges[-1]) or edges[-1] >= 1.7e308


def test_histogram_of_a_constant_is_one_bin_and_a_range_beyond_the_data_extends_it():
    histogram = Histogram()
    histogram.add(np.full(100, 0.25))
    assert histogram.bins(0.25, 0.25, 20) == ([0.25, 0.25], [100])
    edges, counts = histogram.bins(-1.0, 1.0, 16)
    assert edges[0] <= -1.0 and edges[-1] >= 1.0 and sum(counts) == 100
    assert counts == reference_counts(np.full(100, 0.25), edges)


def test_histogram_upper_bound_no_value_reaches_ends_the_last_bin():
    """A uniform on [-0.125, 0.125) gives 16 full bins, not a 17th for the bound itself."""
    values = np.random.default_rng(4).uniform(-0.125, 0.125, 10_000)
    histogram = Histogram()
    histogram.add(values)
    edges, counts = histogram.bins(-0.125, 0.125, 20)
    assert edges[0] == -0.125 and edges[-1] == 0.125 and len(counts) == 16


def test_stratified_positions_cover_every_run_once_and_repeat_exactly():
    total, size = 10_000_019, 1000
    positions = stratified_positions(total, size)
    assert positions.size == size and np.all(np.diff(positions) > 0)
    assert np.array_equal(positions, stratified_positions(total, size))
    strata = (np.arange(size + 1) * total) // size
    assert np.all(positions >= strata[:-1]) and np.all(positions < strata[1:])
    assert np.array_equal(stratified_positions(17, 1000), np.arange(17))
    huge = stratified_positions(2**60 + 3, 5)
    assert np.all(huge >= 0) and huge[-1] < 2**60 + 3


def test_neighbours_are_the_adjacent_representable_values():
    below, above = neighbours(np.array([1.0, -2.0]), ml_dtypes.bfloat16)
    assert above[0] == 1.0 + 2**-7 and below[0] == 1.0 - 2**-8
    below, above = neighbours(np.array([1.0]), np.float16)
    assert above[0] == 1.0 + 2**-10
    assert neighbours(np.array([5.0]), np.int8) == (np.array([4.0]), np.array([6.0]))


def test_ks_test_knows_about_rounding_to_bfloat16():
    """Four million bfloat16 values of a correct uniform pass; a plain continuous KS rejects them."""
    rng = np.random.default_rng(5)
    values = rng.uniform(-0.125, 0.125, 1 << 22).astype(ml_dtypes.bfloat16)
    values = np.clip(values, -0.125, np.nextafter(np.array(0.125, ml_dtypes.bfloat16), np.array(0, ml_dtypes.bfloat16)))
    sample = values.astype(np.float64)
    distribution = Uniform(-0.125, 0.125)
    _, p_value = ks_test(sample, distribution, ml_dtypes.bfloat16)
    assert p_value > 1e-3
    assert scipy_stats.kstest(sample, distribution.cdf).pvalue < 1e-6


@pytest.mark.parametrize("dtype", [np.float16, np.float32])
def test_ks_test_accepts_the_right_truncated_normal_and_rejects_a_wrong_scale(dtype):
    std = 0.05 / 0.87962566103423978
    sample = scipy_stats.truncnorm.rvs(-2, 2, scale=std, size=100_000, random_state=6).astype(dtype)
    sample = sample.astype(np.float64)
    assert ks_test(sample, TruncatedNormal(0.0, std), dtype)[1] > 1e-3
    for factor in (0.9, 1.1):
        assert ks_test(sample, TruncatedNormal(0.0, std * factor), dtype)[1] < 1e-6


def test_ks_p_values_are_calibrated_under_the_null():
    """Correct data fails at about the rate alpha says, not more (fixed seeds: deterministic)."""
    rng = np.random.default_rng(7)
    p_values = [ks_test(rng.standard_normal(500).astype(np.float32).astype(np.float64), Normal(0.0, 1.0),
                        np.float32)[1] for _ in range(300)]
    below = np.mean(np.array(p_values) < 0.1)
    assert 0.04 < below < 0.17, below
    assert min(p_values) > 1e-4



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
