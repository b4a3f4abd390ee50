"""Fan-in and fan-out from a shape, as each framework reads it.

The frameworks disagree on where the input and output axes are, so the rule is chosen by
*layout*: ``keras`` is ``(..., in, out)`` (a 1-D shape is its own fan), ``torch`` is
``(out, in, *kernel)`` (at least 2-D) and ``jax`` is ``(..., in, out)`` with JAX's default
axes (at least 2-D). Explicit axes (Keras ``input_axes``/``output_axes``, JAX
``in_axis``/``out_axis``/``batch_axis``) and ``--fan-in``/``--fan-out`` overrides take
precedence.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from weightgen.errors import ParameterError, ShapeError

LAYOUTS = ("keras", "torch", "jax")

#: JAX's default axes: ``in_axis=-2, out_axis=-1, batch_axis=()``.
JAX_DEFAULT_AXES = ((-2,), (-1,), ())


@dataclass(frozen=True)
class Fans:
    """The fans an initializer scales by; numbers, since overrides and averages need not be whole."""

    fan_in: float
    fan_out: float

    def by_mode(self, mode: str) -> float:
        """The ``n`` of a variance-scaling ``mode`` (before any ``max(1, n)``)."""
        if mode == "fan_in":
            return self.fan_in
        if mode == "fan_out":
            return self.fan_out
        if mode == "fan_avg":
            return (self.fan_in + self.fan_out) / 2.0
        if mode == "fan_geo_avg":
            return math.sqrt(self.fan_in * self.fan_out)
        raise ValueError(f"unknown fan mode {mode!r}")

    def as_dict(self) -> dict[str, float]:
        return {"fan_in": _plain(self.fan_in), "fan_out": _plain(self.fan_out)}


def _plain(number: float) -> float | int:
    return int(number) if float(number).is_integer() else number


def keras_fans(shape: Sequence[int]) -> Fans:
    """Keras ``compute_fans``: receptive field is every axis but the last two."""
    if len(shape) == 0:
        return Fans(1, 1)
    if len(shape) == 1:
        return Fans(shape[0], shape[0])
    receptive_field = math.prod(shape[:-2])
    return Fans(shape[-2] * receptive_field, shape[-1] * receptive_field)


def torch_fans(shape: Sequence[int]) -> Fans:
    """PyTorch ``_calculate_fan_in_and_fan_out``: layout ``(out, in, *kernel)``."""
    if len(shape) < 2:
        raise ShapeError(
            "Fan in and fan out can not be computed for a tensor with fewer than 2 "
            f"dimensions (shape {tuple(shape)}); give a shape like OUT,IN or use --fan-in/--fan-out."
        )
    receptive_field = math.prod(shape[2:])
    return Fans(shape[1] * receptive_field, shape[0] * receptive_field)


def axes_fans(
    shape: Sequence[int], input_axes: Sequence[int], output_axes: Sequence[int]
) -> Fans:
    """Keras 3 ``input_axes``/``output_axes``: each fan is the product of its axes' sizes."""
    return Fans(
        math.prod(shape[_axis(shape, a, "--input-axes")] for a in input_axes),
        math.prod(shape[_axis(shape, a, "--output-axes")] for a in output_axes),
    )


def jax_fans(
    shape: Sequence[int],
    in_axis: Sequence[int] = (-2,),
    out_axis: Sequence[int] = (-1,),
    batch_axis: Sequence[int] = (),
) -> Fans:
    """JAX ``_compute_fans``: the receptive field is every element not on an in, out or batch axis.

    As in JAX, it is ``prod(shape) / in_size / out_size / batch_size``, a true division, so
    overlapping axes give fractional fans rather than an error; and the default
    ``in_axis=-2`` on a shape with fewer than 2 dimensions is refused.
    """
    if tuple(in_axis) == (-2,) and len(shape) <= 1:
        raise ShapeError(
            f"Can't compute input and output sizes of a {len(shape)}-dimensional weights tensor "
            f"with the default --in-axis -2 (shape {tuple(shape)}); give a shape with at least "
            "2 dimensions, or --in-axis/--out-axis explicitly."
        )
    sizes = [
        math.prod(shape[_axis(shape, a, option)] for a in axes)
        for axes, option in ((in_axis, "--in-axis"), (out_axis, "--out-axis"),
                             (batch_axis, "--batch-axis"))
    ]
    in_size, out_size, batch_size = sizes
    receptive_field = math.prod(shape) / in_size / out_size / batch_size
    return Fans(in_size * receptive_field, out_size * receptive_field)


def _axis(shape: Sequence[int], axis: int, option: str) -> int:
    if not -len(shape) <= axis < len(shape):
        raise ParameterError(
            f"Invalid value for {option}: axis {axis} is out of range for shape "
            f"{tuple(shape)} (rank {len(shape)})."
        )
    return axis % len(shape)


def layout_fans(shape: Sequence[int], layout: str) -> Fans:
    """Fans by the named layout's rule."""
    if layout == "keras":
        return keras_fans(shape)
    if layout == "torch":
        return torch_fans(shape)
    if layout == "jax":
        return jax_fans(shape)
    raise ParameterError(
        f"Invalid value for --layout: expected one of {', '.join(LAYOUTS)} (got {layout!r})."
    )


def with_overrides(
    compute: Callable[[], Fans], fan_in: float | None, fan_out: float | None
) -> Fans:
    """Apply ``--fan-in``/``--fan-out``; shape-derived fans are computed only when needed."""
    for option, value in (("--fan-in", fan_in), ("--fan-out", fan_out)):
        if value is not None and not (value > 0 and math.isfinite(value)):
            raise ParameterError(f"Invalid value for {option}: must be > 0 (got {value!r}).")
    if fan_in is not None and fan_out is not None:
        return Fans(fan_in, fan_out)
    fans = compute()
    return Fans(
        fan_in if fan_in is not None else fans.fan_in,
        fan_out if fan_out is not None else fans.fan_out,
    )
