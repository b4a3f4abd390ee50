"""The torch family against real PyTorch, where it is installed (skipped cleanly otherwise).

PyTorch's generator is not weightgen's, so random values are compared as distributions
(two-sample Kolmogorov–Smirnov on fixed seeds); deterministic ones (eye, dirac), fans,
gains and which inputs are refused are compared exactly.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

import weightgen
from weightgen.errors import UsageError
from weightgen.families.torch import NONLINEARITIES, calculate_gain

torch = pytest.importorskip("torch")
init = torch.nn.init

SEED = 31337


def ours(name, shape, **params):
    return weightgen.generate(f"torch.{name}", shape, seed=SEED, **params).array.astype(np.float64)


def theirs(function, shape, *args, **kwargs):
    torch.manual_seed(SEED)
    tensor = torch.empty(shape, dtype=torch.float32)
    function(tensor, *args, **kwargs)
    return tensor.numpy().astype(np.float64)


def same_distribution(a, b):
    p = stats.ks_2samp(a.ravel(), b.ravel()).pvalue
    assert p > 1e-4, f"two-sample KS rejects: p={p:.3g}"


@pytest.mark.parametrize("shape", [(7, 5), (16, 8, 3, 5), (4, 2, 3), (30, 10, 2, 2, 2)])
def test_fans(shape):
    fan_in, fan_out = init._calculate_fan_in_and_fan_out(torch.empty(shape))
    result = weightgen.generate("torch.xavier_uniform", shape, seed=0)
    assert (result.fans.fan_in, result.fans.fan_out) == (fan_in, fan_out)


@pytest.mark.parametrize("nonlinearity", NONLINEARITIES)
@pytest.mark.parametrize("param", [None, 0, 0.2, 3])
def test_calculate_gain(nonlinearity, param):
    assert calculate_gain(nonlinearity, param) == pytest.approx(init.calculate_gain(nonlinearity, param),
                                                                rel=1e-15)


SHAPE = (256, 300)


@pytest.mark.parametrize("name,function,params,args", [
    ("uniform", init.uniform_, {"a": -0.3, "b": 1.7}, (-0.3, 1.7)),
    ("normal", init.normal_, {"mean": 0.5, "std": 2.0}, (0.5, 2.0)),
    ("trunc_normal", init.trunc_normal_, {"mean": 0.2, "std": 1.5, "a": -1.0, "b": 2.5}, (0.2, 1.5, -1.0, 2.5)),
    ("trunc_normal", init.trunc_normal_, {"mean": 0.0, "std": 1.0, "a": 1.5, "b": 2.5}, (0.0, 1.0, 1.5, 2.5)),
    ("xavier_uniform", init.xavier_uniform_, {"gain": 1.7}, (1.7,)),
    ("xavier_normal", init.xavier_normal_, {"gain": 0.6}, (0.6,)),
    ("kaiming_uniform", init.kaiming_uniform_, {"a": 0.3, "mode": "fan_out"}, (0.3, "fan_out")),
    ("kaiming_normal", init.kaiming_normal_, {"nonlinearity": "tanh"}, (0, "fan_in", "tanh")),
    ("orthogonal", init.orthogonal_, {"gain": 2.0}, (2.0,)),
])
def test_random_initializers_match_torch(name, function, params, args):
    a, b = ours(name, SHAPE, **params), theirs(function, SHAPE, *args)
    same_distribution(a, b)
    assert a.min() >= b.min() - 0.1 * abs(b.min()) and a.max() <= b.max() + 0.1 * abs(b.max())


@pytest.mark.parametrize("shape", [(100, 4, 10), (40, 4, 100), (16, 16, 3, 3)])
def test_orthogonal_layout_matches_torch(shape):
    a, b = ours("orthogonal", shape), theirs(init.orthogonal_, shape)
    same_distribution(a, b)
    rows = shape[0]
    for values in (a, b):
        flat = values.reshape(rows, -1)
        product = flat @ flat.T if rows <= flat.shape[1] else flat.T @ flat
        assert np.allclose(product, np.eye(min(flat.shape)), atol=1e-5)


def test_sparse_matches_torch():
    a = ours("sparse", SHAPE, sparsity=0.3, std=0.05)
    b = theirs(init.sparse_, SHAPE, 0.3, 0.05)
    assert np.array_equal((a == 0).sum(axis=0), (b == 0).sum(axis=0))
    same_distribution(a[a != 0], b[b != 0])


@pytest.mark.parametrize("shape", [(3, 5), (5, 3), (6, 6)])
def test_eye_is_torch_eye(shape):
    assert np.array_equal(ours("eye", shape), theirs(init.eye_, shape))


@pytest.mark.parametrize("shape,groups", [((4, 2, 3), 2), ((6, 6, 4), 3), ((8, 3, 3, 4), 4),
                                          ((6, 2, 3, 4, 5), 3), ((5, 7, 2, 2), 1)])
def test_dirac_is_torch_dirac(shape, groups):
    assert np.array_equal(ours("dirac", shape, groups=groups), theirs(init.dirac_, shape, groups))


@pytest.mark.parametrize("in_features,out_features", [(100, 64), (7, 300)])
def test_linear_default_is_nn_linear(in_features, out_features):
    torch.manual_seed(SEED)
    layers = [torch.nn.Linear(in_features, out_features) for _ in range(8)]
    theirs_ = np.concatenate([layer.weight.detach().numpy().ravel() for layer in layers])
    mine = weightgen.generate("torch.linear_default", (8 * out_features, in_features), seed=SEED).array
    same_distribution(mine.astype(np.float64), theirs_.astype(np.float64))
    assert np.abs(theirs_).max() < 1 / math.sqrt(in_features)


def test_linear_default_is_nn_conv2d():
    torch.manual_seed(SEED)
    conv = torch.nn.Conv2d(16, 64, 3, groups=2)
    weight = conv.weight.detach().numpy()
    mine = weightgen.generate("torch.linear_default", weight.shape, seed=SEED).array
    same_distribution(mine.astype(np.float64), weight.astype(np.float64))


@pytest.mark.parametrize("name,function,shape,params,args", [
    ("xavier_uniform", init.xavier_uniform_, (5,), {}, ()),
    ("xavier_normal", init.xavier_normal_, (5,), {}, ()),
    ("kaiming_uniform", init.kaiming_uniform_, (5,), {}, ()),
    ("kaiming_normal", init.kaiming_normal_, (5, 5), {"mode": "fan_avg"}, (0, "fan_avg")),
    ("kaiming_normal", init.kaiming_normal_, (5, 5), {"nonlinearity": "ReLU"}, (0, "fan_in", "ReLU")),
    ("eye", init.eye_, (3, 3, 3), {}, ()),
    ("dirac", init.dirac_, (3, 3), {}, ()),
    ("dirac", init.dirac_, (2, 2, 2, 2, 2, 2), {}, ()),
    ("dirac", init.dirac_, (6, 2, 3), {"groups": 4}, (4,)),
    ("orthogonal", init.orthogonal_, (5,), {}, ()),
    ("sparse", init.sparse_, (5, 5, 5), {"sparsity": 0.1}, (0.1,)),
    ("uniform", init.uniform_, (5,), {"a": 1.0, "b": 0.0}, (1.0, 0.0)),
    ("normal", init.normal_, (5,), {"std": -1.0}, (0.0, -1.0)),
])
def test_weightgen_refuses_what_torch_refuses(name, function, shape, params, args):
    with pytest.raises((ValueError, RuntimeError)):
        theirs(function, shape, *args)
    with pytest.raises(UsageError):
        ours(name, shape, **params)
