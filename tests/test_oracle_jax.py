"""The jax family against real JAX, where it is installed (skipped cleanly otherwise).

Random values are compared as distributions (two-sample Kolmogorov–Smirnov, fixed keys
and seeds); fans, zero patterns and which inputs are refused are compared exactly.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

import weightgen
from weightgen.errors import UsageError

jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")
initializers = pytest.importorskip("jax.nn.initializers")
from jax._src.nn.initializers import _compute_fans  # noqa: E402

SEED = 8086


def ours(name, shape, dtype="float32", **params):
    return weightgen.generate(f"jax.{name}", shape, dtype=dtype, seed=SEED, **params).array


def theirs(initializer, shape, dtype=jnp.float32):
    return np.asarray(initializer(jax.random.key(SEED), shape, dtype))


def same_distribution(a, b):
    p = stats.ks_2samp(np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()).pvalue
    assert p > 1e-4, f"two-sample KS rejects: p={p:.3g}"


@pytest.mark.parametrize("shape,axes", [
    ((5, 7), {}),
    ((3, 3, 16, 32), {}),
    ((4, 8, 3), {"in_axis": 0, "out_axis": 1}),
    ((2, 3, 4, 5), {"in_axis": (0, 1), "out_axis": (2, 3)}),
    ((2, 3, 4, 5), {"in_axis": -3, "out_axis": 0, "batch_axis": 3}),
    ((4, 6), {"in_axis": 0, "out_axis": (0, 1), "batch_axis": 1}),
    ((6,), {"in_axis": (), "out_axis": 0}),
])
def test_fans(shape, axes):
    fan_in, fan_out = _compute_fans(shape, **axes)
    as_tuples = {k: (v,) if isinstance(v, int) else v for k, v in axes.items()}
    result = weightgen.generate("jax.glorot_uniform", shape, seed=0, **as_tuples)
    assert (result.fans.fan_in, result.fans.fan_out) == pytest.approx((fan_in, fan_out), rel=1e-15)


SHAPE = (300, 200)


@pytest.mark.parametrize("name,params,initializer", [
    ("normal", {"stddev": 0.3}, initializers.normal(0.3)),
    ("uniform", {"scale": 2.0}, initializers.uniform(2.0)),
    ("truncated_normal", {"stddev": 0.5, "lower": -1.0, "upper": 2.5},
     initializers.truncated_normal(0.5, lower=-1.0, upper=2.5)),
    ("glorot_uniform", {}, initializers.glorot_uniform()),
    ("glorot_normal", {}, initializers.glorot_normal()),
    ("lecun_uniform", {}, initializers.lecun_uniform()),
    ("lecun_normal", {}, initializers.lecun_normal()),
    ("he_uniform", {}, initializers.he_uniform()),
    ("he_normal", {}, initializers.he_normal()),
    ("variance_scaling", {"scale": 3.0, "mode": "fan_geo_avg", "distribution": "normal"},
     initializers.variance_scaling(3.0, "fan_geo_avg", "normal")),
    ("variance_scaling", {"scale": 0.5, "mode": "fan_out", "distribution": "uniform"},
     initializers.variance_scaling(0.5, "fan_out", "uniform")),
    ("orthogonal", {"scale": 1.5}, initializers.orthogonal(1.5)),
    ("orthogonal", {"column_axis": 0}, initializers.orthogonal(column_axis=0)),
])
def test_real_initializers_match_jax(name, params, initializer):
    same_distribution(ours(name, SHAPE, **params), theirs(initializer, SHAPE))


@pytest.mark.parametrize("distribution", ["truncated_normal", "normal", "uniform"])
def test_complex_variance_scaling_matches_jax(distribution):
    shape = (300, 300)
    mine = ours("variance_scaling", shape, dtype="complex64", distribution=distribution, mode="fan_avg")
    jax_values = theirs(initializers.variance_scaling(1.0, "fan_avg", distribution), shape, jnp.complex64)
    same_distribution(mine.real, jax_values.real)
    same_distribution(mine.imag, jax_values.imag)
    same_distribution(np.abs(mine), np.abs(jax_values))


def test_complex_normal_and_orthogonal_match_jax():
    same_distribution(np.abs(ours("normal", SHAPE, dtype="complex64", stddev=2.0)),
                      np.abs(theirs(initializers.normal(2.0), SHAPE, jnp.complex64)))
    same_distribution(ours("orthogonal", SHAPE, dtype="complex64").real,
                      theirs(initializers.orthogonal(), SHAPE, jnp.complex64).real)


@pytest.mark.parametrize("shape,column_axis", [((3, 4, 6), -1), ((4, 4, 4), -2), ((3, 5, 2, 8), -1),
                                               ((2, 3, 3, 5, 5), 0)])
def test_delta_orthogonal_zero_pattern_is_jax(shape, column_axis):
    mine = ours("delta_orthogonal", shape, column_axis=column_axis)
    jax_values = theirs(initializers.delta_orthogonal(column_axis=column_axis), shape)
    assert np.array_equal(mine != 0, jax_values != 0)


@pytest.mark.parametrize("name,shape,params,initializer", [
    ("glorot_uniform", (5,), {}, initializers.glorot_uniform()),
    ("orthogonal", (5,), {}, initializers.orthogonal()),
    ("delta_orthogonal", (3, 3), {}, initializers.delta_orthogonal()),
    ("delta_orthogonal", (3, 5, 4), {}, initializers.delta_orthogonal()),
    ("variance_scaling", (3, 3), {"mode": "fan_max"}, initializers.variance_scaling(1.0, "fan_max", "normal")),
    ("variance_scaling", (3, 3), {"distribution": "untruncated_normal"},
     initializers.variance_scaling(1.0, "fan_in", "untruncated_normal")),
])
def test_weightgen_refuses_what_jax_refuses(name, shape, params, initializer):
    with pytest.raises(ValueError):
        theirs(initializer, shape)
    with pytest.raises(UsageError):
        ours(name, shape, **params)


@pytest.mark.parametrize("name,initializer", [("uniform", initializers.uniform()),
                                              ("truncated_normal", initializers.truncated_normal())])
def test_complex_refused_where_jax_refuses_it(name, initializer):
    with pytest.raises(ValueError):
        theirs(initializer, (3, 3), jnp.complex64)
    with pytest.raises(UsageError):
        ours(name, (3, 3), dtype="complex64")
