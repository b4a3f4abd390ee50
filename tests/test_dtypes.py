"""dtype names and bounds rounded into the target dtype."""

import ml_dtypes
import numpy as np
import pytest

from weightgen import dtypes


def test_canonical_names():
    assert dtypes.canonical("Float32") == "float32" and dtypes.canonical("bf16") == "bfloat16"
    assert dtypes.canonical("half") == "float16" and dtypes.canonical("float8") is None
    assert dtypes.itemsize("bfloat16") == 2 and dtypes.itemsize("complex128") == 16


@pytest.mark.parametrize("dtype", [np.float16, ml_dtypes.bfloat16, np.float32, np.float64])
@pytest.mark.parametrize("value", [0.1, -0.1, 0.4019361942869827, -2.5e-3, 1.0, 0.0])
def test_inward_rounding(dtype, value):
    up = dtypes.inward(value, dtype, upward=True)
    down = dtypes.inward(value, dtype, upward=False)
    assert float(up) >= value and float(down) <= value
    # tight: the neighbour on the far side is outside
    assert float(dtypes.step(up, dtype, upward=False)) < value or float(up) == value
    assert float(dtypes.step(down, dtype, upward=True)) > value or float(down) == value
    assert float(dtypes.below(value, dtype)) < value


def test_step_crosses_zero_and_signs():
    assert float(dtypes.step(np.float32(0), np.float32, upward=True)) > 0
    assert float(dtypes.step(np.float32(0), np.float32, upward=False)) < 0
    assert float(dtypes.step(np.float16(-1), np.float16, upward=True)) > -1
    assert float(dtypes.step(np.float16(-1), np.float16, upward=False)) < -1
