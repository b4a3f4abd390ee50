"""Fans by layout, axes and overrides."""

import pytest

from weightgen.errors import ParameterError, ShapeError
from weightgen.fans import Fans, axes_fans, jax_fans, keras_fans, layout_fans, torch_fans, with_overrides


@pytest.mark.parametrize("shape,fans", [
    ((), (1, 1)), ((5,), (5, 5)), ((4, 6), (4, 6)), ((3, 3, 16, 32), (144, 288)), ((2, 7, 5), (14, 10)),
])
def test_keras(shape, fans):
    got = keras_fans(shape)
    assert (got.fan_in, got.fan_out) == fans


@pytest.mark.parametrize("shape,fans", [((4, 6), (6, 4)), ((32, 16, 3, 3), (144, 288)), ((8, 4, 5), (20, 40))])
def test_torch(shape, fans):
    got = torch_fans(shape)
    assert (got.fan_in, got.fan_out) == fans


def test_torch_needs_two_dimensions():
    for shape in ((), (5,)):
        with pytest.raises(ShapeError, match="fewer than 2 dimensions"):
            torch_fans(shape)


def test_axes():
    assert axes_fans((4, 8, 3), (0,), (1, 2)) == Fans(4, 24)
    assert axes_fans((4, 8, 3), (-1,), (-3,)) == Fans(3, 4)
    with pytest.raises(ParameterError, match="out of range"):
        axes_fans((4, 8), (5,), (0,))


def test_modes():
    fans = Fans(12, 3)
    assert fans.by_mode("fan_in") == 12 and fans.by_mode("fan_out") == 3
    assert fans.by_mode("fan_avg") == 7.5 and fans.by_mode("fan_geo_avg") == 6.0


def test_overrides():
    calls = []

    def compute():
        calls.append(1)
        return Fans(10, 20)

    assert with_overrides(compute, None, 5) == Fans(10, 5)
    assert with_overrides(compute, 7, 9) == Fans(7, 9) and len(calls) == 1  # both given: shape not read
    with pytest.raises(ParameterError, match="--fan-in: must be > 0"):
        with_overrides(compute, 0, None)


@pytest.mark.parametrize("shape,axes,fans", [
    ((5, 7), {}, (5, 7)),
    ((3, 3, 16, 32), {}, (144, 288)),
    ((4, 8, 3), {"in_axis": (0,), "out_axis": (1,)}, (12, 24)),
    ((2, 3, 4, 5), {"in_axis": (0, 1), "out_axis": (2, 3)}, (6, 20)),
    ((2, 3, 4, 5), {"in_axis": (1,), "out_axis": (2,), "batch_axis": (0,)}, (15, 20)),
    ((4, 6), {"in_axis": (0,), "out_axis": (0, 1), "batch_axis": (1,)}, (1 / 6, 1)),
])
def test_jax(shape, axes, fans):
    got = jax_fans(shape, **axes)
    assert (got.fan_in, got.fan_out) == pytest.approx(fans, rel=1e-15)


def test_jax_default_in_axis_needs_two_dimensions():
    for shape in ((), (5,)):
        with pytest.raises(ShapeError, match="default --in-axis -2"):
            jax_fans(shape)
    assert jax_fans((5,), (0,), (0,)) == Fans(1, 1)
    with pytest.raises(ParameterError, match="--batch-axis: axis 2 is out of range"):
        jax_fans((4, 5), batch_axis=(2,))


def test_layouts_by_name():
    assert layout_fans((32, 16, 3), "torch") == Fans(48, 96)
    assert layout_fans((3, 16, 32), "jax") == Fans(48, 96) == layout_fans((3, 16, 32), "keras")
    assert layout_fans((7,), "keras") == Fans(7, 7)
    with pytest.raises(ShapeError):
        layout_fans((7,), "jax")
    with pytest.raises(ParameterError, match="expected one of keras, torch, jax"):
        layout_fans((7,), "tf")
