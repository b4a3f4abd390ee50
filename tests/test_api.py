"""The library as a numpy user calls it: numpy types, paths, and the results' fields."""

from __future__ import annotations

import pathlib

import ml_dtypes
import numpy as np
import pytest

import weightgen
from weightgen.batch import generate_batch


@pytest.mark.parametrize("dtype, name", [(np.float32, "float32"), (np.dtype("float16"), "float16"), ("f8", "float64"),
                                         ("<f4", "float32"), (ml_dtypes.bfloat16, "bfloat16"), (float, "float64")])
def test_dtypes_as_numpy_takes_them(dtype, name):
    result = weightgen.generate("he_normal", (64, 32), dtype=dtype, seed=3)
    assert result.request.dtype == name and result.array.dtype.name == name
    assert np.array_equal(result.array, weightgen.generate("he_normal", (64, 32), dtype=name, seed=3).array)


@pytest.mark.parametrize("dtype", [">f4", np.bool_, "object", 3, None])
def test_dtypes_weightgen_cannot_write_are_refused(dtype):
    with pytest.raises(weightgen.DtypeError, match="--dtype"):
        weightgen.generate("zeros", (2,), dtype=dtype)


def test_numpy_integers_and_arrays_as_shapes_seeds_threads_and_axes():
    reference = weightgen.generate("jax.variance_scaling", (8, 6), seed=5, in_axis=0, out_axis=1).array
    result = weightgen.generate("jax.variance_scaling", np.array([8, 6]), seed=np.int64(5), threads=np.int64(2),
                                in_axis=np.int64(0), out_axis=np.int32(1))
    assert np.array_equal(result.array, reference)
    assert weightgen.generate("zeros", np.int64(3)).array.shape == (3,)


def test_paths_for_outputs_and_inputs(tmp_path):
    target = tmp_path / "w.npy"
    written = weightgen.generate("he_normal", (64, 32), seed=3, output=target)
    assert written.output == str(target) and np.array_equal(
        np.load(target), weightgen.generate("he_normal", (64, 32), seed=3).array)
    reports = weightgen.inspect(target, expect="he_normal", alpha=np.float32(1e-4), threads=np.int64(2))
    assert len(reports) == 1 and reports[0].check.passed
    assert len(weightgen.inspect([target, str(target)])) == 2
    spec = {"seed": 1, "tensor": [{"name": "w", "init": "zeros", "shape": [2]}]}
    generate_batch(spec, output=pathlib.Path(tmp_path / "m.npz"), threads=np.int64(1))
    with np.load(tmp_path / "m.npz") as archive:
        assert archive.files == ["w"]


@pytest.mark.parametrize("alpha", ["abc", True, 0, 1.5])
def test_a_bad_alpha_is_a_parameter_error(tmp_path, alpha):
    target = tmp_path / "w.npy"
    weightgen.generate("zeros", (2,), output=target)
    with pytest.raises(weightgen.ParameterError, match="--alpha"):
        weightgen.inspect(target, alpha=alpha)


def test_the_seed_used_is_on_the_result():
    drawn = weightgen.generate("glorot_uniform", (16, 16))
    assert isinstance(drawn.seed, int) and drawn.seed == drawn.summary()["seed"]
    assert np.array_equal(weightgen.generate("glorot_uniform", (16, 16), seed=drawn.seed).array, drawn.array)
