"""The keras family against Keras 3's definitions: distributions, fans, checks, aliases.

Expected distributions are written out here from Keras's formulas (not read from the
plan), and every check is a Kolmogorov–Smirnov test that also proves it would reject a
10% error in the scale.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

import weightgen
from weightgen.errors import DtypeError, ParameterError, ShapeError, UnknownInitializerError
from weightgen.registry import registry

from stats_helpers import assert_follows, normal_cdf, truncnorm_cdf, uniform_cdf

TRUNC = 0.87962566103423978
SEED = 20261129


def gen(name: str, shape, **kw):
    kw.setdefault("seed", SEED)
    return weightgen.generate(name, shape, **kw)


# -- the variance-scaling presets ----------------------------------------------------

PRESETS = {
    # name: (scale, mode, distribution)
    "lecun_uniform": (1.0, "fan_in", "uniform"),
    "lecun_normal": (1.0, "fan_in", "truncated_normal"),
    "glorot_uniform": (1.0, "fan_avg", "uniform"),
    "glorot_normal": (1.0, "fan_avg", "truncated_normal"),
    "he_uniform": (2.0, "fan_in", "uniform"),
    "he_normal": (2.0, "fan_in", "truncated_normal"),
}


def keras_n(shape, mode):
    if len(shape) == 0:
        fan_in = fan_out = 1
    elif len(shape) == 1:
        fan_in = fan_out = shape[0]
    else:
        rf = math.prod(shape[:-2])
        fan_in, fan_out = shape[-2] * rf, shape[-1] * rf
    n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode]
    return max(1.0, n)


def intended_cdf(scale, mode, distribution, shape):
    variance = scale / keras_n(shape, mode)
    if distribution == "uniform":
        limit = math.sqrt(3 * variance)
        return uniform_cdf(-limit, limit)
    if distribution == "untruncated_normal":
        return normal_cdf(0.0, math.sqrt(variance))
    return truncnorm_cdf(0.0, math.sqrt(variance) / TRUNC)


@pytest.mark.parametrize("name", sorted(PRESETS))
@pytest.mark.parametrize("shape", [(600, 300), (3, 3, 64, 96), (90000,)])
def test_presets_follow_keras_formulas(name, shape):
    scale, mode, distribution = PRESETS[name]
    values = gen(name, shape).array
    assert values.shape == shape and values.dtype == np.float32
    assert_follows(values, intended_cdf(scale, mode, distribution, shape))


def test_he_uniform_is_he_not_lecun():
    """The seed document calls he_uniform LeCun's; Keras 3's limit is sqrt(6 / fan_in)."""
    result = gen("he_uniform", (500, 10))
    assert result.plan.resolved["limit"] == pytest.approx(math.sqrt(6 / 500))
    assert np.abs(result.array).max() > math.sqrt(3 / 500) * 1.2


@pytest.mark.parametrize("mode", ["fan_in", "fan_out", "fan_avg"])
@pytest.mark.parametrize("distribution", ["truncated_normal", "untruncated_normal", "uniform"])
def test_variance_scaling_every_mode_and_distribution(mode, distribution):
    shape = (400, 250)
    values = gen("variance_scaling", shape, scale=3.0, mode=mode, distribution=distribution).array
    assert_follows(values, intended_cdf(3.0, mode, distribution, shape))


def test_truncated_variance_scaling_has_the_asked_variance():
    """Keras's 0.8796 correction: the truncated distribution's std is sqrt(scale / n)."""
    result = gen("variance_scaling", (1000, 500), scale=2.0, distribution="truncated_normal")
    assert result.plan.expected.std == pytest.approx(math.sqrt(2.0 / 1000), rel=1e-6)
    assert result.array.std() == pytest.approx(math.sqrt(2.0 / 1000), rel=0.01)
    limit = 2 * math.sqrt(2.0 / 1000) / TRUNC
    assert np.abs(result.array).max() <= np.float32(limit)


def test_distribution_is_lowercased_and_normal_means_truncated():
    a = gen("variance_scaling", (50, 40), distribution="Normal").array
    b = gen("variance_scaling", (50, 40), distribution="truncated_normal").array
    assert np.array_equal(a, b)
    assert gen("variance_scaling", (2, 2), distribution="UNIFORM").request.params["distribution"] == "uniform"


def test_fans_of_scalars_and_vectors():
    assert gen("glorot_uniform", ()).plan.fans.as_dict() == {"fan_in": 1, "fan_out": 1}
    assert gen("glorot_uniform", (7,)).plan.fans.as_dict() == {"fan_in": 7, "fan_out": 7}
    conv = gen("he_normal", (3, 5, 16, 32)).plan.fans
    assert (conv.fan_in, conv.fan_out) == (3 * 5 * 16, 3 * 5 * 32)


def test_torch_layout_and_overrides():
    torch_layout = gen("glorot_uniform", (32, 16, 3, 3), layout="torch").plan.fans
    assert (torch_layout.fan_in, torch_layout.fan_out) == (16 * 9, 32 * 9)
    override = gen("he_uniform", (10, 10), fan_in=400).plan
    assert override.fans.fan_in == 400 and override.resolved["limit"] == pytest.approx(math.sqrt(6 / 400))
    with pytest.raises(ShapeError, match="fewer than 2"):
        gen("glorot_uniform", (10,), layout="torch")


def test_input_and_output_axes():
    plan = gen("glorot_uniform", (4, 8, 3), input_axes=[0], output_axes="1,2").plan
    assert (plan.fans.fan_in, plan.fans.fan_out) == (4, 24)
    with pytest.raises(ParameterError, match="work together"):
        gen("glorot_uniform", (4, 8, 3), input_axes=[0])
    with pytest.raises(ParameterError, match="out of range"):
        gen("glorot_uniform", (4, 8), input_axes=[2], output_axes=[1])


# -- the plain distributions -------------------------------------------------------------


def test_random_normal():
    values = gen("random_normal", (400, 500), mean=0.5, stddev=2.0).array
    assert_follows(values, lambda f: stats.norm(0.5, 2.0 * f).cdf)


def test_random_normal_defaults():
    values = gen("random_normal", (400, 500)).array
    assert_follows(values, normal_cdf(0.0, 0.05))


def test_random_uniform_is_half_open():
    values = gen("random_uniform", (400, 500), minval=-1.0, maxval=3.0).array
    assert_follows(values, lambda f: stats.uniform(1 - 2 * f, 4 * f).cdf)
    assert values.min() >= -1.0 and values.max() < 3.0


def test_random_uniform_defaults():
    values = gen("random_uniform", (400, 500)).array
    assert_follows(values, uniform_cdf(-0.05, 0.05))


def test_truncated_normal_realised_std():
    values = gen("truncated_normal", (500, 400), mean=1.0, stddev=0.5).array
    assert_follows(values, lambda f: stats.truncnorm(-2 / f, 2 / f, loc=1.0, scale=0.5 * f).cdf)
    assert values.std() == pytest.approx(0.5 * TRUNC, rel=0.01)
    assert values.min() >= 0.0 and values.max() <= 2.0


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "float64"])
@pytest.mark.parametrize("name", ["truncated_normal", "he_normal", "glorot_uniform", "random_uniform"])
def test_bounds_hold_after_the_cast(name, dtype):
    result = gen(name, (300, 1000), dtype=dtype, stddev=0.05) if name == "truncated_normal" else gen(name, (300, 1000), dtype=dtype)
    values = result.array.astype(np.float64)
    low, high = result.plan.expected.low, result.plan.expected.high
    assert values.min() >= low
    if name in ("glorot_uniform", "random_uniform"):
        assert values.max() < high
    else:
        assert values.max() <= high


# -- orthogonal, identity, constants, stft ---------------------------------------------


@pytest.mark.parametrize("shape", [(64, 16), (16, 64), (3, 3, 8, 32), (50, 50)])
@pytest.mark.parametrize("gain", [1.0, 0.5])
def test_orthogonal_is_orthogonal(shape, gain):
    q = gen("orthogonal", shape, gain=gain, dtype="float64").array
    matrix = q.reshape(-1, shape[-1])
    rows, cols = matrix.shape
    product = matrix.T @ matrix if rows >= cols else matrix @ matrix.T
    assert np.allclose(product, gain**2 * np.eye(min(rows, cols)), atol=1e-10)


def test_orthogonal_float32_is_orthogonal_to_float32_precision():
    q = gen("orthogonal", (256, 128)).array.astype(np.float64)
    assert np.abs(q.T @ q - np.eye(128)).max() < 1e-5


def test_orthogonal_entries_are_haar():
    """Entries of a Haar matrix: (x + 1) / 2 ~ Beta((n-1)/2, (n-1)/2) for n = max(rows, cols)."""
    q = gen("orthogonal", (400, 100), dtype="float64").array
    half = (400 - 1) / 2
    assert_follows(q, lambda f: (lambda x: stats.beta.cdf((np.clip(x / f, -1, 1) + 1) / 2, half, half)),
                   scale_name="gain")


def test_orthogonal_needs_two_dimensions():
    with pytest.raises(ShapeError, match="at least 2 dimensions"):
        gen("orthogonal", (10,))


@pytest.mark.parametrize("shape", [(3, 5), (5, 3), (4, 4)])
def test_identity_on_any_2d_shape(shape):
    values = gen("identity", shape, gain=2.5).array
    assert np.array_equal(values, 2.5 * np.eye(*shape, dtype=np.float32))


def test_identity_rank_and_integer_dtype():
    with pytest.raises(ShapeError, match="exactly 2 dimensions"):
        gen("identity", (2, 2, 2))
    assert np.array_equal(gen("identity", (2, 3), dtype="int32").array, np.eye(2, 3, dtype=np.int32))
    with pytest.raises(ParameterError, match="not representable in int32"):
        gen("identity", (2, 3), dtype="int32", gain=0.5)


def test_identity_streams_across_blocks():
    """The diagonal is computed per flat block; a matrix spanning many blocks stays exact."""
    rows, cols = 1100, 700
    values = gen("identity", (rows, cols), threads=3).array
    assert np.array_equal(values, np.eye(rows, cols, dtype=np.float32))


@pytest.mark.parametrize("name,value", [("zeros", 0), ("ones", 1)])
@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16", "int8", "uint64"])
def test_zeros_and_ones(name, value, dtype):
    values = gen(name, (3, 4), dtype=dtype).array
    assert values.shape == (3, 4) and str(values.dtype) == dtype
    assert np.all(values.astype(np.float64) == value)


@pytest.mark.parametrize("name", ["truncated_normal", "random_normal"])
@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "float64"])
def test_stddev_zero_is_the_mean_rounded_to_the_dtype(name, dtype):
    """Keras draws mean + 0·z: every value is the mean, however the dtype rounds it."""
    mean = 1.66099060489916  # representable in none of the narrow dtypes
    values = gen(name, (5,), mean=mean, stddev=0.0, dtype=dtype).array
    expected = np.asarray(np.float32(mean) if dtype != "float64" else mean).astype(values.dtype)
    assert np.array_equal(values, np.full(5, expected))


def test_constant():
    assert np.all(gen("constant", (5,), value=-3.25).array == -3.25)
    assert np.all(gen("constant", (5,), value=7, dtype="int16").array == 7)
    assert gen("constant", ()).array.shape == ()
    with pytest.raises(ParameterError, match="not representable in int8"):
        gen("constant", (5,), value=300, dtype="int8")


def test_stft_matches_the_formula():
    frame, channels, bins = 16, 3, 9
    values = gen("stft", (frame, channels, bins), dtype="float64").array
    t = np.arange(frame)[:, None]
    f = np.arange(bins)[None, :]
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(frame) / (frame - 1))  # symmetric hann
    kernel = np.cos(-2 * np.pi * t * f / (2 * (bins - 1))) * window[:, None] / np.sqrt(np.sum(window**2))
    for c in range(channels):
        assert np.allclose(values[:, c, :], kernel, atol=1e-12)
    imag = gen("stft", (frame, 1, bins), side="imag", window="none", dtype="float64").array
    assert np.allclose(imag[:, 0, :], np.sin(-2 * np.pi * t * f / (2 * (bins - 1))), atol=1e-12)


def test_stft_checks():
    with pytest.raises(ShapeError, match="exactly 3 dimensions"):
        gen("stft", (16, 9))
    with pytest.raises(ShapeError, match="at least 2 frequency bins"):
        gen("stft", (16, 1, 1))
    with pytest.raises(ParameterError, match="--window"):
        gen("stft", (16, 1, 9), window="no_such_window")
    with pytest.raises(ParameterError, match="--scaling"):
        gen("stft", (16, 1, 9), scaling="power")


# -- argument checks -----------------------------------------------------------------------


@pytest.mark.parametrize("name,params,pattern", [
    ("variance_scaling", {"scale": 0}, "--scale: must be > 0"),
    ("variance_scaling", {"scale": -1}, "--scale: must be > 0"),
    ("variance_scaling", {"mode": "FAN_IN"}, "--mode"),
    ("variance_scaling", {"mode": "fan_geo_avg"}, "--mode"),
    ("variance_scaling", {"distribution": "gaussian"}, "--distribution"),
    ("random_normal", {"stddev": -0.1}, "--stddev: must be >= 0"),
    ("random_normal", {"mean": "abc"}, "--mean: expected a number"),
    ("random_uniform", {"minval": 1, "maxval": 1}, "--minval < --maxval"),
    ("truncated_normal", {"stddev": float("nan")}, "--stddev: expected a finite number"),
    ("glorot_uniform", {"gain": 2}, "has no parameter 'gain'"),
])
def test_argument_checks(name, params, pattern):
    with pytest.raises(ParameterError, match=pattern):
        gen(name, (4, 4), **params)


def test_random_initializers_refuse_integer_dtypes():
    with pytest.raises(DtypeError, match="not allowed for glorot_uniform"):
        gen("glorot_uniform", (4, 4), dtype="int32")
    with pytest.raises(DtypeError, match="unknown dtype"):
        gen("zeros", (4, 4), dtype="float8")


def test_deterministic_initializers_refuse_fan_options():
    with pytest.raises(ParameterError, match="does not use fans"):
        gen("zeros", (4, 4), layout="torch")


# -- names ------------------------------------------------------------------------------------

KERAS_NAMES = {
    "zeros": ["Zeros", "zero", "keras.zeros", "keras.Zeros"],
    "ones": ["Ones", "one"],
    "constant": ["Constant"],
    "random_normal": ["RandomNormal", "normal", "keras.normal"],
    "random_uniform": ["RandomUniform", "uniform"],
    "truncated_normal": ["TruncatedNormal"],
    "variance_scaling": ["VarianceScaling"],
    "orthogonal": ["Orthogonal", "OrthogonalInitializer"],
    "identity": ["Identity", "IdentityInitializer"],
    "lecun_uniform": ["LecunUniform"],
    "lecun_normal": ["LecunNormal"],
    "glorot_uniform": ["GlorotUniform", "keras.GlorotUniform"],
    "glorot_normal": ["GlorotNormal"],
    "he_uniform": ["HeUniform"],
    "he_normal": ["HeNormal"],
    "stft": ["STFT", "STFTInitializer"],
}


def test_every_keras_initializer_and_alias_is_registered():
    keras = {spec.name for spec in registry() if spec.family == "keras"}
    assert keras == set(KERAS_NAMES)
    for name, aliases in KERAS_NAMES.items():
        for alias in aliases:
            assert registry().get(alias).name == name


def test_alias_gives_the_same_values():
    a = gen("GlorotUniform", (30, 20)).array
    b = gen("glorot_uniform", (30, 20)).array
    assert np.array_equal(a, b)


def test_unknown_name_suggests_the_closest():
    with pytest.raises(UnknownInitializerError, match="glorot_uniform"):
        gen("glorot_unifrom", (3, 3))
