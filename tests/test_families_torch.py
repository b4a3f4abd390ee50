"""The torch family against ``torch.nn.init``'s definitions.

The statistical checks are the ones PyTorch's own ``TestNNInit`` makes — a
Kolmogorov–Smirnov test against the intended distribution on random sizes and parameters
— with fixed seeds, and each also proves it would reject a 10% error in the scale.
Expected values are written out here from PyTorch's formulas, not read from the plan.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats

import weightgen
from weightgen.errors import DtypeError, ParameterError, ShapeError
from weightgen.families.torch import NONLINEARITIES, calculate_gain, sigma_bound
from weightgen.registry import registry

from conftest import run_cli
from stats_helpers import assert_follows, normal_cdf, uniform_cdf

SEED = 5150


def gen(name: str, shape, **kw):
    kw.setdefault("seed", SEED)
    return weightgen.generate(name, shape, **kw)


def torch_fans(shape):
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def random_shape(rng: np.random.Generator, min_dims: int = 2, max_dims: int = 4,
                 at_least: int = 40_000) -> tuple[int, ...]:
    """A random (out, in, *kernel) shape with enough elements for a powerful KS test."""
    dims = [int(d) for d in rng.integers(1, 9, size=int(rng.integers(min_dims, max_dims + 1)))]
    if len(dims) > 1:
        dims[1] = int(rng.integers(2, 64))
    dims[0] = max(dims[0], -(-at_least // math.prod(dims[1:])))
    return tuple(dims)


# -- calculate_gain --------------------------------------------------------------------------


def test_calculate_gain_table():
    for linear in ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                   "conv_transpose3d", "sigmoid"):
        assert calculate_gain(linear) == 1
    assert calculate_gain("tanh") == 5.0 / 3
    assert calculate_gain("relu") == math.sqrt(2.0)
    assert calculate_gain("selu") == 0.75
    assert calculate_gain("leaky_relu") == math.sqrt(2.0 / (1 + 0.01**2))
    assert calculate_gain("leaky_relu", 0) == math.sqrt(2.0)
    assert calculate_gain("leaky_relu", 0.2) == pytest.approx(1.3867504905630728, rel=1e-15)
    assert calculate_gain("leaky_relu", math.sqrt(5)) == pytest.approx(math.sqrt(1 / 3), rel=1e-15)
    assert set(NONLINEARITIES) == {"linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d",
                                   "conv_transpose2d", "conv_transpose3d", "sigmoid", "tanh",
                                   "relu", "leaky_relu", "selu"}
    with pytest.raises(ParameterError, match="unsupported nonlinearity 'ReLU'"):
        calculate_gain("ReLU")


@pytest.mark.parametrize("nonlinearity", NONLINEARITIES)
def test_kaiming_normal_every_nonlinearity(nonlinearity):
    a = 0.2 if nonlinearity == "leaky_relu" else 0.0
    shape = (300, 200)
    result = gen("torch.kaiming_normal", shape, nonlinearity=nonlinearity, a=a)
    gain = calculate_gain(nonlinearity, a)
    std = gain / math.sqrt(200)
    assert result.plan.resolved["gain"] == gain
    assert_follows(result.array, normal_cdf(0.0, std))


# -- plain distributions --------------------------------------------------------------------


@pytest.mark.parametrize("case", range(4))
def test_uniform_random_sizes_and_bounds(case):
    rng = np.random.default_rng([SEED, 1, case])
    shape = random_shape(rng, 1, 4)
    a = float(rng.uniform(-3, 3))
    b = a + float(rng.uniform(0.1, 4))
    values = gen("torch.uniform", shape, a=a, b=b, seed=case).array
    assert values.shape == shape
    centre, half = (a + b) / 2, (b - a) / 2
    assert_follows(values, lambda f: stats.uniform(centre - half * f, 2 * half * f).cdf)
    assert values.min() >= a and values.max() < b


def test_uniform_defaults_and_equal_bounds():
    assert_follows(gen("torch.uniform", (300, 200)).array, uniform_cdf(0.0, 1.0))
    assert np.all(gen("torch.uniform", (4, 5), a=0.5, b=0.5).array == 0.5)


@pytest.mark.parametrize("case", range(4))
def test_normal_random_sizes_and_params(case):
    rng = np.random.default_rng([SEED, 2, case])
    shape = random_shape(rng, 1, 4)
    mean, std = float(rng.uniform(-3, 3)), float(rng.uniform(0.1, 3))
    values = gen("torch.normal", shape, mean=mean, std=std, seed=case).array
    assert_follows(values, normal_cdf(mean, std))


def test_normal_defaults_and_zero_std():
    assert_follows(gen("torch.normal", (300, 200)).array, normal_cdf(0.0, 1.0))
    assert np.all(gen("torch.normal", (3, 3), mean=2.5, std=0.0).array == 2.5)


@pytest.mark.parametrize("case", range(6))
def test_trunc_normal_random_params(case):
    """Absolute bounds a, b around random means, as PyTorch's test_trunc_normal draws them."""
    rng = np.random.default_rng([SEED, 3, case])
    shape = random_shape(rng, 1, 4)
    mean, std = float(rng.uniform(-3, 3)), float(rng.uniform(0.1, 2))
    a = float(rng.uniform(mean - 2 * std, mean))
    b = float(rng.uniform(mean, mean + 2 * std))
    values = gen("torch.trunc_normal", shape, mean=mean, std=std, a=a, b=b, dtype="float64",
                 seed=case).array
    low, high = (a - mean) / std, (b - mean) / std
    assert_follows(values, lambda f: stats.truncnorm(low, high, loc=mean, scale=std * f).cdf)
    assert values.min() >= a and values.max() <= b


@pytest.mark.parametrize("a,b", [(-math.inf, -1.0), (0.5, math.inf), (2.0, 2.6), (-3.2, -2.7)])
def test_trunc_normal_one_sided_and_tail_intervals(a, b):
    values = gen("torch.trunc_normal", (200, 150), a=a, b=b, dtype="float64").array
    assert_follows(values, lambda f: stats.truncnorm(a / f, b / f, scale=f).cdf)
    assert values.min() >= a and values.max() <= b


def test_trunc_normal_defaults_and_float32_bounds():
    values = gen("torch.trunc_normal", (400, 300)).array
    assert_follows(values, lambda f: stats.truncnorm(-2 / f, 2 / f, scale=f).cdf)
    assert values.min() >= -2.0 and values.max() <= 2.0


@pytest.mark.skipif(not hasattr(__import__("weightgen.kernels").kernels, "choose_truncnorm_method"),
                    reason="needs the exact far-tail truncated-normal kernel")
def test_trunc_normal_far_in_a_tail():
    """[8σ, 8.5σ]: naive rejection would need ~10^15 draws per value."""
    values = gen("torch.trunc_normal", (300, 100), a=8.0, b=8.5, dtype="float64").array
    assert values.min() >= 8.0 and values.max() <= 8.5
    p = stats.kstest(values.ravel(), stats.truncnorm(8.0, 8.5).cdf).pvalue
    assert p > 1e-3


def test_sigma_bounds_keep_the_closed_interval_exactly():
    rng = np.random.default_rng(SEED)
    for _ in range(2000):
        mean, std = float(rng.normal(0, 10)), float(rng.uniform(1e-3, 10))
        a, b = sorted(float(x) for x in rng.normal(mean, 3 * std, size=2))
        lower = sigma_bound(a, mean, std, upward=True)
        upper = sigma_bound(b, mean, std, upward=False)
        assert mean + lower * std >= a and mean + upper * std <= b
        assert lower == pytest.approx((a - mean) / std, rel=1e-12, abs=1e-12)
    assert sigma_bound(-math.inf, 0.0, 1.0, upward=True) == -math.inf


# -- deterministic ------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "int16", "uint8"])
def test_constant_ones_zeros(dtype):
    assert np.all(gen("torch.constant", (3, 4), val=7, dtype=dtype).array.astype(float) == 7)
    assert np.all(gen("torch.ones", (3, 4), dtype=dtype).array.astype(float) == 1)
    assert np.all(gen("torch.zeros", (3, 4), dtype=dtype).array.astype(float) == 0)


@pytest.mark.parametrize("shape", [(3, 5), (5, 3), (4, 4), (1, 7)])
def test_eye(shape):
    assert np.array_equal(gen("torch.eye", shape).array, np.eye(*shape, dtype=np.float32))
    assert np.array_equal(gen("torch.eye", shape, dtype="int8").array, np.eye(*shape, dtype=np.int8))


def dirac_reference(shape, groups):
    """torch.nn.init.dirac_, line by line."""
    tensor = np.zeros(shape)
    out_per_group = shape[0] // groups
    min_dim = min(out_per_group, shape[1])
    centre = tuple(k // 2 for k in shape[2:])
    for g in range(groups):
        for d in range(min_dim):
            tensor[(g * out_per_group + d, d, *centre)] = 1
    return tensor


@pytest.mark.parametrize("shape,groups", [
    ((4, 2, 3), 2), ((6, 6, 5), 1), ((6, 6, 5), 3), ((5, 3, 4), 1), ((8, 3, 3, 3), 4),
    ((4, 9, 2, 5), 2), ((6, 2, 3, 4, 5), 3), ((2, 2, 1, 1, 1), 1), ((12, 5, 3, 3), 6),
])
def test_dirac_matches_torch_and_has_groups_times_min_ones(shape, groups):
    values = gen("torch.dirac", shape, groups=groups).array
    assert np.array_equal(values, dirac_reference(shape, groups))
    assert values.sum() == groups * min(shape[0] // groups, shape[1])


def test_dirac_is_an_identity_convolution():
    """PyTorch's test_dirac_identity: a conv with dirac weights passes the input through."""
    channels, length, kernel = 4, 30, 5
    weight = gen("torch.dirac", (channels + 2, channels, kernel), dtype="float64").array
    x = np.random.default_rng(SEED).normal(size=(channels, length))
    padded = np.pad(x, ((0, 0), (kernel // 2, kernel // 2)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, kernel, axis=1)  # (in, L, k)
    out = np.einsum("oik,ilk->ol", weight, windows)
    assert np.allclose(out[:channels], x) and np.all(out[channels:] == 0)


def test_dirac_streams_across_blocks():
    shape = (64, 64, 9, 9, 3)  # 1 M elements: four blocks
    values = gen("torch.dirac", shape, groups=4, threads=3).array
    assert np.array_equal(values, dirac_reference(shape, 4))


# -- fan-based -----------------------------------------------------------------------------------


@pytest.mark.parametrize("case", range(5))
def test_xavier_uniform_random_sizes_and_gains(case):
    rng = np.random.default_rng([SEED, 4, case])
    shape = random_shape(rng)
    gain = float(rng.uniform(0.5, 3.0)) if case % 2 else 1.0
    fan_in, fan_out = torch_fans(shape)
    bound = gain * math.sqrt(3.0) * math.sqrt(2.0 / (fan_in + fan_out))
    values = gen("torch.xavier_uniform", shape, gain=gain, seed=case).array
    assert_follows(values, uniform_cdf(-bound, bound))
    assert np.abs(values).max() < bound


@pytest.mark.parametrize("case", range(5))
def test_xavier_normal_random_sizes_and_gains(case):
    rng = np.random.default_rng([SEED, 5, case])
    shape = random_shape(rng)
    gain = float(rng.uniform(0.5, 3.0)) if case % 2 else 1.0
    fan_in, fan_out = torch_fans(shape)
    values = gen("torch.xavier_normal", shape, gain=gain, seed=case).array
    assert_follows(values, normal_cdf(0.0, gain * math.sqrt(2.0 / (fan_in + fan_out))))


def test_xavier_gain_from_a_nonlinearity():
    plain = gen("torch.xavier_uniform", (50, 40), gain=calculate_gain("leaky_relu", 0.3))
    named = gen("torch.xavier_uniform", (50, 40), nonlinearity="leaky_relu", param=0.3)
    assert np.array_equal(plain.array, named.array)
    assert gen("torch.xavier_normal", (50, 40), nonlinearity="tanh").plan.resolved["gain"] == 5.0 / 3


@pytest.mark.parametrize("case", range(6))
@pytest.mark.parametrize("name", ["torch.kaiming_uniform", "torch.kaiming_normal"])
def test_kaiming_random_sizes_slopes_and_modes(name, case):
    rng = np.random.default_rng([SEED, 6, case])
    shape = random_shape(rng)
    a = float(rng.uniform(0, 5)) if case % 2 else 0.0
    mode = ("fan_in", "fan_out")[case % 3 == 0]
    fan_in, fan_out = torch_fans(shape)
    std = math.sqrt(2.0 / (1 + a * a)) / math.sqrt(fan_in if mode == "fan_in" else fan_out)
    values = gen(name, shape, a=a, mode=mode, seed=case).array
    if name.endswith("uniform"):
        bound = math.sqrt(3.0) * std
        assert_follows(values, uniform_cdf(-bound, bound))
    else:
        assert_follows(values, normal_cdf(0.0, std))


def test_kaiming_mode_is_case_insensitive_as_in_torch():
    a = gen("torch.kaiming_uniform", (30, 20), mode="FAN_OUT")
    assert a.request.params["mode"] == "fan_out"
    assert np.array_equal(a.array, gen("torch.kaiming_uniform", (30, 20), mode="fan_out").array)


@pytest.mark.parametrize("shape", [(64, 300), (16, 8, 3, 3), (10, 4, 5)])
def test_linear_default_is_uniform_one_over_sqrt_fan_in(shape):
    fan_in = torch_fans(shape)[0]
    result = gen("torch.linear_default", shape)
    assert result.plan.resolved["bound"] == pytest.approx(1 / math.sqrt(fan_in), rel=1e-12)
    assert np.abs(result.array).max() < 1 / math.sqrt(fan_in)
    big = gen("torch.linear_default", (400, fan_in)).array
    assert_follows(big, uniform_cdf(-1 / math.sqrt(fan_in), 1 / math.sqrt(fan_in)))


def test_done_when_kaiming_normal_reports_fan_in_and_std():
    run = run_cli("torch.kaiming_normal", "--shape", "64,256", "--nonlinearity", "relu",
                  "--seed", "1", "--json")
    assert run.exit_code == 0, run
    record = json.loads(run.text)
    assert record["fan_in"] == 256 and record["fan_out"] == 64 and record["layout"] == "torch"
    assert record["resolved"]["std"] == pytest.approx(math.sqrt(2) / 16, rel=1e-15)
    assert record["expected"]["std"] == pytest.approx(math.sqrt(2) / 16, rel=1e-15)
    human = run_cli("torch.kaiming_normal", "--shape", "64,256", "--nonlinearity", "relu")
    assert "in=256" in human.stderr and "std=0.0883883" in human.stderr


def test_fan_overrides_and_other_layouts():
    bias = gen("torch.linear_default", (64,), fan_in=256, fan_out=64)
    assert bias.plan.resolved["bound"] == pytest.approx(1 / 16)
    keras_layout = gen("torch.xavier_uniform", (3, 3, 16, 32), layout="keras").plan.fans
    assert (keras_layout.fan_in, keras_layout.fan_out) == (144, 288)


# -- orthogonal ------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(10, 50), (50, 10), (4, 3, 5, 5), (30, 2, 3), (20, 20)])
@pytest.mark.parametrize("gain", [1.0, 2.5])
def test_orthogonal_rows_of_the_flattened_matrix(shape, gain):
    """PyTorch's test_orthogonal: dim 0 against the rest flattened."""
    flat = gen("torch.orthogonal", shape, gain=gain, dtype="float64").array.reshape(shape[0], -1)
    rows, cols = flat.shape
    product = flat @ flat.T if rows <= cols else flat.T @ flat
    assert np.allclose(product, gain**2 * np.eye(min(rows, cols)), atol=1e-10)


def test_orthogonal_entries_are_haar():
    q = gen("torch.orthogonal", (40, 4, 100), dtype="float64").array  # wide: rows in R^400
    half = (400 - 1) / 2
    assert_follows(q, lambda f: (lambda x: stats.beta.cdf((np.clip(x / f, -1, 1) + 1) / 2, half, half)),
                   scale_name="gain")


def test_orthogonal_is_not_keras_orthogonal():
    """Same tall shape, different axis: torch's rows are orthonormal where Keras's columns are."""
    wide = gen("torch.orthogonal", (8, 4, 8), dtype="float64").array.reshape(8, 32)
    assert np.allclose(wide @ wide.T, np.eye(8), atol=1e-10)
    keras = gen("orthogonal", (8, 4, 8), dtype="float64").array.reshape(32, 8)
    assert np.allclose(keras.T @ keras, np.eye(8), atol=1e-10)


def test_orthogonal_gain_from_a_nonlinearity():
    q = gen("torch.orthogonal", (20, 30), nonlinearity="relu", dtype="float64").array
    assert np.allclose(q @ q.T, 2 * np.eye(20), atol=1e-10)


# -- sparse ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", range(6))
def test_sparse_exact_zeros_per_column(case):
    rng = np.random.default_rng([SEED, 7, case])
    rows, cols = int(rng.integers(5, 400)), int(rng.integers(1, 300))
    sparsity = float(rng.uniform(0, 1))
    values = gen("torch.sparse", (rows, cols), sparsity=sparsity, seed=case).array
    zeros = math.ceil(sparsity * rows)
    assert np.all((values == 0).sum(axis=0) == zeros)


def test_sparse_values_and_positions():
    rows, cols, std = 200, 500, 0.03
    result = gen("torch.sparse", (rows, cols), sparsity=0.25, std=std)
    values = result.array
    assert result.plan.resolved["zeros_per_column"] == 50
    assert_follows(values[values != 0], normal_cdf(0.0, std))
    zero_rows = values == 0
    # Positions differ from column to column and cover every row about equally often.
    assert len({zero_rows[:, c].tobytes() for c in range(cols)}) == cols
    per_row = zero_rows.sum(axis=1)
    assert stats.chisquare(per_row).pvalue > 1e-3
    again = gen("torch.sparse", (rows, cols), sparsity=0.25, std=std, threads=1).array
    other = gen("torch.sparse", (rows, cols), sparsity=0.25, std=std, seed=SEED + 1).array
    assert np.array_equal(values, again) and not np.array_equal(values == 0, other == 0)


def test_sparse_edges_and_torch_rounding():
    assert np.all(gen("torch.sparse", (7, 9), sparsity=1.0).array == 0)
    assert np.count_nonzero(gen("torch.sparse", (7, 9), sparsity=0.0).array == 0) == 0
    # PyTorch computes ceil(sparsity * rows) in floating point: 0.28 * 25 = 7.000000000000001 -> 8.
    assert np.all((gen("torch.sparse", (25, 6), sparsity=0.28).array == 0).sum(axis=0) == 8)


def test_sparse_many_columns_cross_chunks():
    values = gen("torch.sparse", (3, 5_000_000 // 3), sparsity=0.5).array
    assert np.all((values == 0).sum(axis=0) == 2)


# -- errors and names ------------------------------------------------------------------------------


@pytest.mark.parametrize("name,shape,params,error,pattern", [
    ("torch.xavier_uniform", (5,), {}, ShapeError, "fewer than 2 dimensions"),
    ("torch.xavier_normal", (), {}, ShapeError, "fewer than 2 dimensions"),
    ("torch.kaiming_uniform", (5,), {}, ShapeError, "fewer than 2 dimensions"),
    ("torch.kaiming_normal", (5,), {}, ShapeError, "fewer than 2 dimensions"),
    ("torch.linear_default", (5,), {}, ShapeError, "fewer than 2 dimensions"),
    ("torch.kaiming_normal", (5, 5), {"mode": "fan_avg"}, ParameterError, "--mode"),
    ("torch.kaiming_normal", (5, 5), {"nonlinearity": "ReLU"}, ParameterError, "--nonlinearity"),
    ("torch.kaiming_normal", (5, 5), {"nonlinearity": "gelu"}, ParameterError, "--nonlinearity"),
    ("torch.kaiming_uniform", (5, 5), {"a": 0.2, "nonlinearity": "relu"}, ParameterError,
     "--a is the negative slope"),
    ("torch.eye", (5,), {}, ShapeError, "exactly 2 dimensions"),
    ("torch.eye", (2, 3, 4), {}, ShapeError, "exactly 2 dimensions"),
    ("torch.dirac", (4, 4), {}, ShapeError, "3 to 5 dimensions"),
    ("torch.dirac", (2, 2, 2, 2, 2, 2), {}, ShapeError, "3 to 5 dimensions"),
    ("torch.dirac", (6, 2, 3), {"groups": 4}, ShapeError, "divisible by --groups 4"),
    ("torch.dirac", (6, 2, 3), {"groups": 0}, ParameterError, "--groups: must be >= 1"),
    ("torch.dirac", (6, 2, 3), {"groups": -2}, ParameterError, "--groups: must be >= 1"),
    ("torch.orthogonal", (5,), {}, ShapeError, "at least 2 dimensions"),
    ("torch.sparse", (5,), {"sparsity": 0.1}, ShapeError, "exactly 2 dimensions"),
    ("torch.sparse", (5, 5, 5), {"sparsity": 0.1}, ShapeError, "exactly 2 dimensions"),
    ("torch.sparse", (5, 5), {}, ParameterError, "needs --sparsity"),
    ("torch.sparse", (5, 5), {"sparsity": -0.2}, ParameterError, "--sparsity: must be >= 0"),
    ("torch.sparse", (5, 5), {"sparsity": 1.5}, ParameterError, "--sparsity: must be <= 1"),
    ("torch.sparse", (5, 5), {"sparsity": 0.5, "std": 0}, ParameterError, "--std: must be > 0"),
    ("torch.uniform", (5,), {"a": 1, "b": 0}, ParameterError, "--a <= --b"),
    ("torch.normal", (5,), {"std": -1}, ParameterError, "--std: must be >= 0"),
    ("torch.trunc_normal", (5,), {"std": 0}, ParameterError, "--std: must be > 0"),
    ("torch.trunc_normal", (5,), {"std": -1}, ParameterError, "--std: must be > 0"),
    ("torch.trunc_normal", (5,), {"a": 1, "b": 1}, ParameterError, "--a < --b"),
    ("torch.trunc_normal", (5,), {"a": "nan"}, ParameterError, "--a: expected a finite number"),
    ("torch.constant", (5,), {}, ParameterError, "needs --val"),
    ("torch.constant", (5,), {"val": 0.5}, None, None),
    ("torch.xavier_uniform", (5, 5), {"gain": 0}, ParameterError, "--gain: must be > 0"),
    ("torch.xavier_uniform", (5, 5), {"gain": 2, "nonlinearity": "relu"}, ParameterError,
     "both set the gain"),
    ("torch.xavier_uniform", (5, 5), {"param": 0.2}, ParameterError, "--param is the negative slope"),
    ("torch.xavier_uniform", (5, 5), {"nonlinearity": "tanh", "param": 0.2}, ParameterError,
     "--param is the negative slope"),
])
def test_errors(name, shape, params, error, pattern):
    if error is None:
        gen(name, shape, **params)
        return
    with pytest.raises(error, match=pattern):
        gen(name, shape, **params)


def test_errors_on_the_command_line_are_one_line_exit_2():
    for args in (["torch.eye", "--shape", "3,3,3"], ["torch.sparse", "--shape", "4,4", "--sparsity", "-1"],
                 ["torch.dirac", "--shape", "6,2,3", "--groups", "4"]):
        run = run_cli(*args)
        assert run.exit_code == 2, run
        assert run.stderr.count("\n") == 1 and run.stderr.startswith("Error: "), run


def test_random_ones_refuse_integer_dtypes():
    with pytest.raises(DtypeError, match="not allowed for torch.normal"):
        gen("torch.normal", (3, 3), dtype="int32")
    assert gen("torch.dirac", (2, 2, 3), dtype="int64").array.dtype == np.int64


TORCH_FUNCTIONS = ("uniform", "normal", "trunc_normal", "constant", "ones", "zeros", "eye", "dirac",
                   "xavier_uniform", "xavier_normal", "kaiming_uniform", "kaiming_normal",
                   "orthogonal", "sparse")


def test_every_torch_init_function_and_its_spellings():
    torch_names = {spec.name for spec in registry() if spec.family == "torch"}
    assert torch_names == {f"torch.{n}" for n in (*TORCH_FUNCTIONS, "linear_default")}
    for name in TORCH_FUNCTIONS:
        for spelling in (f"torch.{name}_", f"torch.nn.init.{name}_"):
            assert registry().get(spelling).name == f"torch.{name}"
    assert registry().get("torch.nn.init.xavier_uniform").name == "torch.xavier_uniform"
    assert registry().find("torch.nn.init.trunc_normal") is None  # PyTorch has no such spelling
    assert registry().get("torch.conv_default").name == "torch.linear_default"


def test_alias_gives_the_same_values():
    a = gen("torch.nn.init.kaiming_uniform_", (30, 20)).array
    assert np.array_equal(a, gen("torch.kaiming_uniform", (30, 20)).array)
