"""Fan-in and fan-out from a shape, as each framework reads it.

The frameworks disagree on where the input and output axes are, so the rule is chosen by
*layout*: ``keras`` is ``(..., in, out)`` and ``torch`` is ``(out, in, *kernel)``. Explicit
axes (Keras ``input_axes``/``output_axes``, JAX ``in_axis``/``out_axis``/``batch_axis``)
and ``--fan-in``/``--fan-out`` overrides take precedence.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from weightgen.errors import ParameterError, ShapeError

LAYOUTS = ("keras", "torch")


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
    raise ParameterError(f"Invalid value for --layout: expected keras or torch (got {layout!r}).")


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
