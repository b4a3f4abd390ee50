"""The jax family against ``jax.nn.initializers``' definitions.

Kolmogorov–Smirnov checks against the intended distributions on random shapes, axes and
parameters (fixed seeds), each proving it would reject a 10% error in the scale; fans
from in/out/batch axes; orthogonality along ``column_axis``; delta-orthogonal structure;
and the complex variants with JAX's convention that the variance is E|z|².
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats

import weightgen
from weightgen import seeding
from weightgen.errors import DtypeError, ParameterError, ShapeError
from weightgen.registry import registry

from conftest import run_cli
from stats_helpers import assert_follows, normal_cdf, truncnorm_cdf, uniform_cdf

SEED = 424242
TRUNC = 0.87962566103423978
COMPLEX_TRUNC = 0.95311164380491208


def gen(name: str, shape, **kw):
    kw.setdefault("seed", SEED)
    return weightgen.generate(name, shape, **kw)


def jax_fans(shape, in_axis=(-2,), out_axis=(-1,), batch_axis=()):
    """JAX's _compute_fans, written out."""
    in_size = math.prod(shape[a] for a in in_axis)
    out_size = math.prod(shape[a] for a in out_axis)
    batch = math.prod(shape[a] for a in batch_axis)
    receptive = math.prod(shape) / in_size / out_size / batch
    return in_size * receptive, out_size * receptive


def n_of(mode, fan_in, fan_out):
    return {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2,
            "fan_geo_avg": math.sqrt(fan_in * fan_out)}[mode]


def real_cdf(variance, distribution):
    if distribution == "uniform":
        limit = math.sqrt(3 * variance)
        return uniform_cdf(-limit, limit)
    if distribution == "normal":
        return normal_cdf(0.0, math.sqrt(variance))
    return truncnorm_cdf(0.0, math.sqrt(variance) / TRUNC)


PRESETS = {
    "jax.glorot_uniform": (1.0, "fan_avg", "uniform"),
    "jax.glorot_normal": (1.0, "fan_avg", "truncated_normal"),
    "jax.lecun_uniform": (1.0, "fan_in", "uniform"),
    "jax.lecun_normal": (1.0, "fan_in", "truncated_normal"),
    "jax.he_uniform": (2.0, "fan_in", "uniform"),
    "jax.he_normal": (2.0, "fan_in", "truncated_normal"),
}


def random_case(rng: np.random.Generator, at_least: int = 40_000):
    """A random shape with random distinct in/out/batch axes and enough elements."""
    rank = int(rng.integers(2, 6))
    shape = [int(d) for d in rng.integers(1, 7, size=rank)]
    axes = [int(a) for a in rng.permutation(rank)]
    in_axis, out_axis = (axes[0],), (axes[1],)
    batch_axis = (axes[2],) if rank > 2 and rng.random() < 0.5 else ()
    shape[axes[1]] = max(shape[axes[1]], -(-at_least // math.prod(shape[:axes[1]] + shape[axes[1] + 1:])))
    return tuple(shape), in_axis, out_axis, batch_axis


# -- variance scaling and presets --------------------------------------------------------------


@pytest.mark.parametrize("case", range(3))
@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_random_shapes_and_axes(name, case):
    scale, mode, distribution = PRESETS[name]
    rng = np.random.default_rng([SEED, case, len(name)])
    shape, in_axis, out_axis, batch_axis = random_case(rng)
    result = gen(name, shape, in_axis=in_axis, out_axis=out_axis, batch_axis=batch_axis, seed=case)
    fan_in, fan_out = jax_fans(shape, in_axis, out_axis, batch_axis)
    assert (result.fans.fan_in, result.fans.fan_out) == pytest.approx((fan_in, fan_out))
    assert_follows(result.array, real_cdf(scale / n_of(mode, fan_in, fan_out), distribution))


@pytest.mark.parametrize("mode", ["fan_in", "fan_out", "fan_avg", "fan_geo_avg"])
@pytest.mark.parametrize("distribution", ["truncated_normal", "normal", "uniform"])
def test_variance_scaling_every_mode_and_distribution(mode, distribution):
    shape = (3, 200, 90)
    values = gen("jax.variance_scaling", shape, scale=0.7, mode=mode, distribution=distribution).array
    fan_in, fan_out = 3 * 200, 3 * 90
    assert_follows(values, real_cdf(0.7 / n_of(mode, fan_in, fan_out), distribution))


@pytest.mark.parametrize("dtype", ["float32", "complex64"])
@pytest.mark.parametrize("distribution", ["truncated_normal", "normal", "uniform"])
def test_scale_zero_gives_zeros_as_jax_does_and_a_negative_scale_is_refused(distribution, dtype):
    """JAX checks nothing and multiplies its draws by sqrt(0); Keras refuses scale <= 0."""
    values = gen("jax.variance_scaling", (30, 20), scale=0.0, distribution=distribution, dtype=dtype).array
    assert values.dtype == np.dtype(dtype) and not values.any()
    with pytest.raises(ParameterError, match="--scale: must be >= 0"):
        gen("jax.variance_scaling", (3, 2), scale=-1.0, distribution=distribution, dtype=dtype)
    with pytest.raises(ParameterError, match="--scale: must be > 0"):
        gen("variance_scaling", (3, 2), scale=0.0)


def test_normal_means_untruncated_here():
    values = gen("jax.variance_scaling", (400, 400), distribution="normal").array
    assert np.abs(values).max() > 3.5 * math.sqrt(1 / 400)  # a truncated one stops at 2.27σ


def test_truncated_presets_keep_the_variance():
    values = gen("jax.he_normal", (800, 600)).array
    assert values.std() == pytest.approx(math.sqrt(2 / 800), rel=0.01)
    assert np.abs(values).max() <= np.float32(2 * math.sqrt(2 / 800) / TRUNC)


def test_no_max_one_on_fractional_fans():
    """JAX divides by n itself (Keras by max(1, n)): fans below 1 scale the variance up."""
    result = gen("jax.variance_scaling", (4, 6), in_axis=(0, 1), out_axis=(0, 1), distribution="uniform")
    assert (result.fans.fan_in, result.fans.fan_out) == pytest.approx((1.0, 1.0))
    result = gen("jax.variance_scaling", (4, 6), in_axis=0, out_axis=(0, 1), batch_axis=1,
                 distribution="uniform")
    # receptive field 24 / 4 / 24 / 6 = 1/24: fan_in = 4/24
    assert result.fans.fan_in == pytest.approx(1 / 6)
    assert result.plan.resolved["limit"] == pytest.approx(math.sqrt(3 * 6))


# -- fans ---------------------------------------------------------------------------------------


def test_done_when_fans_from_axes():
    run = run_cli("jax.variance_scaling", "--shape", "4,8,3", "--in-axis", "0", "--out-axis", "1",
                  "--seed", "0", "--json")
    assert run.exit_code == 0, run
    record = json.loads(run.text)
    assert (record["fan_in"], record["fan_out"], record["layout"]) == (12, 24, "jax")


@pytest.mark.parametrize("shape,axes,fans", [
    ((5, 7), {}, (5, 7)),
    ((3, 3, 16, 32), {}, (144, 288)),
    ((2, 3, 4, 5), {"in_axis": (0, 1), "out_axis": (2, 3)}, (6, 20)),
    ((2, 3, 4, 5), {"in_axis": -3, "out_axis": 0, "batch_axis": 3}, (12, 8)),
    ((8, 4, 5), {"in_axis": 1, "out_axis": 2, "batch_axis": 0}, (4, 5)),
    ((6,), {"in_axis": 0, "out_axis": 0}, (1, 1)),
    ((6,), {"in_axis": (), "out_axis": 0}, (1, 6)),
])
def test_fans_from_in_out_and_batch_axes(shape, axes, fans):
    result = gen("jax.glorot_uniform", shape, **axes)
    assert (result.fans.fan_in, result.fans.fan_out) == pytest.approx(fans)


def test_fans_need_two_dimensions_with_the_default_in_axis():
    for shape in ((), (7,)):
        with pytest.raises(ShapeError, match="default --in-axis -2"):
            gen("jax.he_normal", shape)
    with pytest.raises(ParameterError, match="--out-axis: axis 3 is out of range"):
        gen("jax.he_normal", (4, 5), out_axis=3)
    with pytest.raises(ParameterError, match="--batch-axis: axis -3"):
        gen("jax.he_normal", (4, 5), batch_axis=-3)


def test_layout_option_and_axes():
    torch_layout = gen("jax.glorot_uniform", (32, 16, 3, 3), layout="torch").fans
    assert (torch_layout.fan_in, torch_layout.fan_out) == (144, 288)
    keras_layout = gen("jax.glorot_uniform", (7,), layout="keras").fans
    assert (keras_layout.fan_in, keras_layout.fan_out) == (7, 7)
    with pytest.raises(ParameterError, match="give one or the other"):
        gen("jax.glorot_uniform", (4, 5), layout="torch", in_axis=0)
    override = gen("jax.lecun_uniform", (4, 5), fan_in=100).plan
    assert override.resolved["limit"] == pytest.approx(math.sqrt(3 / 100))


# -- plain distributions ---------------------------------------------------------------------------


@pytest.mark.parametrize("case", range(3))
def test_normal_uniform_truncated_random_params(case):
    rng = np.random.default_rng([SEED, 9, case])
    shape = (int(rng.integers(200, 400)), int(rng.integers(200, 400)))
    stddev = float(rng.uniform(0.001, 3))
    assert_follows(gen("jax.normal", shape, stddev=stddev, seed=case).array, normal_cdf(0, stddev))
    scale = float(rng.uniform(0.001, 3))
    values = gen("jax.uniform", shape, scale=scale, seed=case).array
    assert_follows(values, lambda f: stats.uniform(0, scale * f).cdf)
    assert values.min() >= 0 and values.max() < scale
    lower = float(rng.uniform(-3, 0.5))
    upper = lower + float(rng.uniform(0.3, 3))
    values = gen("jax.truncated_normal", shape, stddev=stddev, lower=lower, upper=upper, seed=case,
                 dtype="float64").array
    assert_follows(values, truncnorm_cdf(0.0, stddev, lower, upper))
    assert values.min() >= lower * stddev and values.max() <= upper * stddev


def test_defaults():
    assert_follows(gen("jax.normal", (300, 200)).array, normal_cdf(0.0, 0.01))
    assert_follows(gen("jax.uniform", (300, 200)).array, lambda f: stats.uniform(0, 0.01 * f).cdf)
    values = gen("jax.truncated_normal", (300, 200)).array
    assert_follows(values, truncnorm_cdf(0.0, 0.01))
    assert values.std() == pytest.approx(0.01 * TRUNC, rel=0.01)  # no correction, as in JAX


def test_one_sided_truncation():
    values = gen("jax.truncated_normal", (300, 200), stddev=2.0, lower=1.0, upper=math.inf,
                 dtype="float64").array
    assert_follows(values, truncnorm_cdf(0.0, 2.0, 1.0, math.inf))


@pytest.mark.parametrize("dtype", ["float32", "int32", "complex64", "complex128", "bfloat16"])
def test_constant_zeros_ones(dtype):
    assert np.all(gen("jax.constant", (3, 4), value=-2, dtype=dtype).array == -2)
    assert np.all(gen("jax.zeros", (3, 4), dtype=dtype).array == 0)
    ones = gen("jax.ones", (3, 4), dtype=dtype)
    assert np.all(ones.array == 1) and str(ones.array.dtype) == dtype
    # Summaries pool real and imaginary parts; the expected values say the same.
    expected = ones.plan.expected.expected()
    assert ones.moments.mean == pytest.approx(expected["mean"])
    assert ones.moments.std == pytest.approx(expected["std"], abs=1e-12)


# -- orthogonal and delta orthogonal ------------------------------------------------------------------


@pytest.mark.parametrize("shape,column_axis", [
    ((20, 30), -1), ((30, 20), -1), ((20, 30), 0), ((4, 5, 6), 1), ((4, 5, 60), 0), ((3, 4, 5, 6), -2),
])
@pytest.mark.parametrize("scale", [1.0, 0.5])
def test_orthogonal_along_the_column_axis(shape, column_axis, scale):
    values = gen("jax.orthogonal", shape, scale=scale, column_axis=column_axis, dtype="float64").array
    matrix = np.moveaxis(values, column_axis, -1).reshape(-1, shape[column_axis])
    rows, cols = matrix.shape
    product = matrix.T @ matrix if rows >= cols else matrix @ matrix.T
    assert np.allclose(product, scale**2 * np.eye(min(rows, cols)), atol=1e-10)


def test_orthogonal_entries_are_haar():
    values = gen("jax.orthogonal", (300, 60), column_axis=0, dtype="float64").array
    half = (300 - 1) / 2
    assert_follows(values, lambda f: (lambda x: stats.beta.cdf((np.clip(x / f, -1, 1) + 1) / 2, half, half)),
                   scale_name="scale")


@pytest.mark.parametrize("dtype", ["complex64", "complex128"])
@pytest.mark.parametrize("shape,column_axis", [((30, 50), -1), ((50, 30), -1), ((6, 5, 7), 0)])
def test_complex_orthogonal_is_unitary(dtype, shape, column_axis):
    values = gen("jax.orthogonal", shape, column_axis=column_axis, scale=2.0, dtype=dtype).array
    assert str(values.dtype) == dtype
    matrix = np.moveaxis(values, column_axis, -1).reshape(-1, shape[column_axis]).astype(np.complex128)
    rows, cols = matrix.shape
    product = matrix.conj().T @ matrix if rows >= cols else matrix @ matrix.conj().T
    tolerance = 1e-5 if dtype == "complex64" else 1e-12
    assert np.abs(product - 4 * np.eye(min(rows, cols))).max() < tolerance
    assert np.abs(values.imag).max() > 0.1


def test_complex_orthogonal_entries():
    """A Haar unitary column is a uniform unit vector of R^2n: its parts are sphere coordinates."""
    values = gen("jax.orthogonal", (200, 50), dtype="complex128").array
    parts = np.concatenate([values.real.ravel(), values.imag.ravel()])
    half = (400 - 1) / 2
    assert_follows(parts, lambda f: (lambda x: stats.beta.cdf((np.clip(x / f, -1, 1) + 1) / 2, half, half)),
                   scale_name="scale")


@pytest.mark.parametrize("shape", [(3, 4, 6), (4, 4, 4), (3, 5, 2, 8), (2, 3, 3, 5, 5), (1, 2, 4)])
@pytest.mark.parametrize("column_axis", [-1, -2])
def test_delta_orthogonal_structure(shape, column_axis):
    values = gen("jax.delta_orthogonal", shape, column_axis=column_axis, scale=1.5, dtype="float64").array
    centre = tuple((k - 1) // 2 for k in shape[:-2])
    middle = values[centre]
    assert np.allclose(middle @ middle.T, 1.5**2 * np.eye(shape[-2]), atol=1e-10)
    rest = values.copy()
    rest[centre] = 0
    assert np.all(rest == 0)


def test_delta_orthogonal_centre_of_even_kernels_is_k_minus_1_over_2():
    values = gen("jax.delta_orthogonal", (4, 2, 3), dtype="float64").array
    assert np.count_nonzero(values[1]) == 6 and np.count_nonzero(values) == 6


# -- complex --------------------------------------------------------------------------------------------


def complex_parts(values):
    return np.concatenate([values.real.ravel(), values.imag.ravel()]).astype(np.float64)


@pytest.mark.parametrize("dtype", ["complex64", "complex128"])
def test_complex_normal_has_e_abs_squared_stddev_squared(dtype):
    values = gen("jax.normal", (300, 300), stddev=2.0, dtype=dtype).array
    assert str(values.dtype) == dtype
    assert np.mean(np.abs(values.astype(np.complex128)) ** 2) == pytest.approx(4.0, rel=0.01)
    assert_follows(complex_parts(values), normal_cdf(0.0, 2.0 / math.sqrt(2)))
    assert abs(np.corrcoef(values.real.ravel(), values.imag.ravel())[0, 1]) < 0.01


@pytest.mark.parametrize("dtype", ["complex64", "complex128"])
def test_complex_variance_scaling_uniform_is_a_disk(dtype):
    values = gen("jax.he_uniform", (300, 400), dtype=dtype).array.astype(np.complex128)
    variance = 2 / 300
    radius = math.sqrt(2 * variance)
    assert np.abs(values).max() < radius
    assert np.mean(np.abs(values) ** 2) == pytest.approx(variance, rel=0.01)
    # |z|²/radius² is uniform on [0, 1) and the angle uniform on [0, 2π).
    assert_follows(np.abs(values) ** 2, uniform_cdf(0.0, radius**2))
    angles = np.angle(values) % (2 * math.pi)
    assert stats.kstest(angles.ravel(), stats.uniform(0, 2 * math.pi).cdf).pvalue > 1e-3


@pytest.mark.parametrize("dtype", ["complex64", "complex128"])
def test_complex_truncated_normal_as_jax_draws_it(dtype):
    values = gen("jax.glorot_normal", (300, 500), dtype=dtype).array.astype(np.complex128)
    variance = 1 / 400
    stddev = math.sqrt(variance) / COMPLEX_TRUNC
    # |z|²/stddev² is Exp(1) cut at 4.
    cut = 1 - math.exp(-4)

    def cdf(factor):
        s2 = (stddev * factor) ** 2
        return lambda x: np.clip((1 - np.exp(-np.asarray(x) / s2)) / (1 - np.exp(-4 * stddev**2 / s2)), 0, 1)

    assert_follows(np.abs(values) ** 2, cdf)
    assert np.abs(values).max() <= 2 * stddev * (1 + 1e-6)
    # JAX's constant over-corrects: E|z|² is 1.87% above scale / n.
    realised = stddev**2 * (1 - 4 * math.exp(-4) / cut)
    assert realised / variance == pytest.approx(1.01866, abs=1e-4)
    assert np.mean(np.abs(values) ** 2) == pytest.approx(realised, rel=0.01)


@pytest.mark.parametrize("name", ["jax.normal", "jax.he_uniform", "jax.lecun_normal"])
def test_complex_expected_part_distribution_matches(name):
    """The plan's per-part CDF (what summaries and inspect use) fits the values."""
    result = gen(name, (400, 300), dtype="complex128")
    parts = complex_parts(result.array)
    assert stats.kstest(parts, result.plan.expected.cdf).pvalue > 1e-3
    assert parts.std() == pytest.approx(result.plan.expected.std, rel=0.01)
    assert result.moments.std == pytest.approx(parts.std(), rel=1e-9)


def test_complex_values_keep_the_block_contract():
    big = (3 * seeding.BLOCK_SIZE + 77,)
    runs = [gen("jax.variance_scaling", (big[0], 1), in_axis=(), out_axis=0, distribution=d,
                dtype="complex64", threads=t).array
            for d in ("uniform", "normal") for t in (1, 3)]
    assert np.array_equal(runs[0], runs[1]) and np.array_equal(runs[2], runs[3])
    short = gen("jax.normal", (seeding.BLOCK_SIZE,), dtype="complex128").array
    long = gen("jax.normal", (2 * seeding.BLOCK_SIZE + 5,), dtype="complex128").array
    assert np.array_equal(short, long[: short.size])


def test_complex_dtypes_only_where_jax_allows_them():
    for name in ("jax.uniform", "jax.truncated_normal"):
        with pytest.raises(DtypeError, match=f"not allowed for {name}"):
            gen(name, (3, 3), dtype="complex64")
    for name in ("glorot_uniform", "torch.normal"):
        with pytest.raises(DtypeError):
            gen(name, (3, 3), dtype="complex64")


# -- errors and names ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name,shape,params,error,pattern", [
    ("jax.orthogonal", (5,), {}, ShapeError, "at least 2 dimensions"),
    ("jax.orthogonal", (5, 4), {"column_axis": 2}, ParameterError, "--column-axis: axis 2"),
    ("jax.delta_orthogonal", (4, 4), {}, ShapeError, "3 to 5 dimensions"),
    ("jax.delta_orthogonal", (2, 2, 2, 2, 2, 2), {}, ShapeError, "3 to 5 dimensions"),
    ("jax.delta_orthogonal", (3, 5, 4), {}, ShapeError, "in <= out"),
    ("jax.delta_orthogonal", (3, 4, 5), {"column_axis": 2}, ParameterError, "--column-axis"),
    ("jax.variance_scaling", (4, 4), {"scale": -1}, ParameterError, "--scale: must be >= 0"),
    ("jax.variance_scaling", (4, 4), {"mode": "FAN_IN"}, ParameterError, "--mode"),
    ("jax.variance_scaling", (4, 4), {"distribution": "untruncated_normal"}, ParameterError,
     "--distribution"),
    ("jax.variance_scaling", (4, 4), {"in_axis": "0,0"}, ParameterError, "must not repeat"),
    ("jax.variance_scaling", (4, 4), {"in_axis": "a"}, ParameterError, "integer axes"),
    ("jax.normal", (4,), {"stddev": -1}, ParameterError, "--stddev: must be >= 0"),
    ("jax.uniform", (4,), {"scale": 0}, ParameterError, "--scale: must be > 0"),
    ("jax.truncated_normal", (4,), {"lower": 2, "upper": 1}, ParameterError, "--lower < --upper"),
    ("jax.truncated_normal", (4,), {"stddev": 0}, ParameterError, "--stddev: must be > 0"),
    ("jax.constant", (4,), {}, ParameterError, "needs --value"),
    ("jax.glorot_uniform", (4, 4), {"scale": 2}, ParameterError, "has no parameter 'scale'"),
])
def test_errors(name, shape, params, error, pattern):
    with pytest.raises(error, match=pattern):
        gen(name, shape, **params)


JAX_NAMES = {
    "constant": [], "zeros": [], "ones": [], "normal": [], "uniform": [], "truncated_normal": [],
    "variance_scaling": [], "glorot_uniform": ["xavier_uniform"], "glorot_normal": ["xavier_normal"],
    "lecun_uniform": [], "lecun_normal": [], "he_uniform": ["kaiming_uniform"],
    "he_normal": ["kaiming_normal"], "orthogonal": [], "delta_orthogonal": [],
}


def test_every_jax_initializer_and_alias():
    assert {s.name for s in registry() if s.family == "jax"} == {f"jax.{n}" for n in JAX_NAMES}
    for name, aliases in JAX_NAMES.items():
        for spelling in (f"jax.nn.initializers.{name}", *(f"jax.{a}" for a in aliases),
                         *(f"jax.nn.initializers.{a}" for a in aliases)):
            assert registry().get(spelling).name == f"jax.{name}"
