"""Pieces the families share: rank checks, constants, and variance-scaling plans.

The families differ in names, defaults and fan rules, not in what "a uniform with
variance v" is; that part is written once here.
"""

from __future__ import annotations

import math
from typing import Any

from weightgen import dtypes
from weightgen.distributions import Constant, Normal, TruncatedNormal, Uniform
from weightgen.errors import ParameterError, ShapeError
from weightgen.fans import Fans
from weightgen.params import Param
from weightgen.plan import Draw, Fill, Plan, PlanInput

#: Std of a standard normal truncated to [-2, 2]; Keras and JAX divide by it so the
#: *truncated* distribution has the variance the formula asks for.
TRUNCATED_STD = 0.87962566103423978

#: Deterministic initializers also write integer tensors.
DETERMINISTIC_DTYPES = dtypes.FLOATS + dtypes.INTEGERS

#: Variance scaling's ``scale`` (Keras and JAX alike).
VARIANCE_SCALE = Param("scale", "float", 1.0, "multiplies the variance", minimum=0.0,
                       exclusive_minimum=True)


def require_rank(request: PlanInput, minimum: int, maximum: int | None = None) -> None:
    """Refuse a shape whose rank is outside ``[minimum, maximum]``."""
    rank = len(request.shape)
    if rank < minimum or (maximum is not None and rank > maximum):
        if maximum == minimum:
            wanted = f"exactly {minimum} dimensions"
        elif maximum is None:
            wanted = f"at least {minimum} dimensions"
        else:
            wanted = f"{minimum} to {maximum} dimensions"
        raise ShapeError(
            f"{request.initializer} needs a shape with {wanted}; got {request.shape or '()'} "
            f"(rank {rank})."
        )


def check_value_fits(value: float, dtype: str, option: str) -> Any:
    """A value for a deterministic initializer, checked against an integer dtype."""
    if not dtypes.is_integer(dtype):
        return value
    import numpy as np

    info = np.iinfo(dtypes.numpy_dtype(dtype))
    if not float(value).is_integer() or not info.min <= value <= info.max:
        raise ParameterError(
            f"Invalid value for {option}: {value:g} is not representable in {dtype}; "
            "use a whole number in range or a float dtype."
        )
    return int(value)


def constant_plan(value: float, request: PlanInput, option: str = "--value") -> Plan:
    """Every element equal to ``value`` (checked against an integer dtype)."""
    from weightgen.linalg import constant_fill

    fill_value = check_value_fits(value, request.dtype, option)
    return Plan(Fill(constant_fill(fill_value)), Constant(float(value)), {"value": value})


def variance_plan(variance: float, distribution: str, fans: Fans | None,
                  resolved: dict[str, Any]) -> Plan:
    """Zero-mean real values of the given variance.

    ``distribution`` is ``truncated_normal`` (cut at ±2 of a stddev enlarged by
    1/:data:`TRUNCATED_STD`, so the variance holds after truncation),
    ``untruncated_normal`` or ``uniform``.
    """
    if distribution == "truncated_normal":
        stddev = math.sqrt(variance) / TRUNCATED_STD
        dist: Any = TruncatedNormal(0.0, stddev, -2.0, 2.0)
        resolved = {**resolved, "stddev": stddev, "low": -2.0 * stddev, "high": 2.0 * stddev}
    elif distribution == "untruncated_normal":
        stddev = math.sqrt(variance)
        dist = Normal(0.0, stddev)
        resolved = {**resolved, "stddev": stddev}
    elif distribution == "uniform":
        limit = math.sqrt(3.0 * variance)
        dist = Uniform(-limit, limit)
        resolved = {**resolved, "limit": limit}
    else:  # pragma: no cover - params are checked before
        raise ValueError(f"unknown distribution {distribution!r}")
    return Plan(Draw(dist), dist, resolved, fans)
