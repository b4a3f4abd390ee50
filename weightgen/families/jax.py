"""The jax family: ``jax.nn.initializers`` as JAX defines them.

Parameter names, defaults and formulas follow ``jax/_src/nn/initializers.py``: ``normal``
is untruncated, ``uniform`` is on ``[0, scale)``, ``truncated_normal`` takes its bounds in
stddevs, the presets are truncated normals with variance-preserving correction, fans
come from ``in_axis``/``out_axis``/``batch_axis`` (JAX's ``_compute_fans``), and complex
dtypes are allowed where JAX allows them, with JAX's convention that the variance is
E|z|². Canonical names are ``jax.<name>``; ``jax.nn.initializers.<name>`` are aliases.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from weightgen import dtypes
from weightgen.distributions import (ComplexDisk, ComplexNormal, ComplexTruncatedNormal, Normal,
                                     SphereCoordinate, TruncatedNormal, TwoPoint, Uniform,
                                     WithZeros)
from weightgen.errors import ParameterError, ShapeError
from weightgen.families.common import constant_plan, require_rank, variance_plan
from weightgen.fans import JAX_DEFAULT_AXES, Fans, jax_fans, layout_fans
from weightgen.params import Param
from weightgen.plan import Draw, Plan, PlanInput, Transform
from weightgen.registry import InitializerSpec

FAMILY = "jax"

#: Std of the complex standard normal cut at |z| <= 2, as JAX states it. (The exact value
#: is 0.96196...; JAX's constant makes the realised E|z|² 1.87% larger than scale / n.
#: weightgen reproduces JAX, and its expected statistics say what JAX really gives.)
COMPLEX_TRUNCATED_STD = 0.95311164380491208

#: Random initializers that JAX also runs in complex64/complex128.
COMPLEX_DTYPES = dtypes.FLOATS + dtypes.COMPLEX
#: zeros, ones, constant: any float, integer or complex dtype.
DETERMINISTIC_DTYPES = dtypes.FLOATS + dtypes.INTEGERS + dtypes.COMPLEX

# -- parameters and fan rule --------------------------------------------------------------

AXES = (
    Param("in_axis", "axes", JAX_DEFAULT_AXES[0], "axis or axes of the input dimension"),
    Param("out_axis", "axes", JAX_DEFAULT_AXES[1], "axis or axes of the output dimension"),
    Param("batch_axis", "axes", JAX_DEFAULT_AXES[2], "axis or axes ignored by the fans"),
)
SCALE = Param("scale", "float", 1.0, "multiplies the matrix")
COLUMN_AXIS = Param("column_axis", "int", -1, "the axis whose columns are orthonormal")


def fan_rule(shape: Sequence[int], layout: str, params: Mapping[str, Any]) -> Fans:
    """JAX's ``_compute_fans`` with the axes; ``--layout keras|torch`` reads the shape their way."""
    axes = (params["in_axis"], params["out_axis"], params["batch_axis"])
    if layout == "jax":
        return jax_fans(shape, *axes)
    if axes != JAX_DEFAULT_AXES:
        raise ParameterError(
            f"--layout {layout} and --in-axis/--out-axis/--batch-axis both say where the fans "
            "are; give one or the other."
        )
    return layout_fans(shape, layout)


def _is_complex(request: PlanInput) -> bool:
    return dtypes.is_complex(request.dtype)


# -- resolve functions ------------------------------------------------------------------


def _constant_of(value: float, request: PlanInput) -> Plan:
    plan = constant_plan(value, request)
    if _is_complex(request) and value != 0:
        # Summaries pool real and imaginary parts: half are the value, half are zero.
        return Plan(plan.source, TwoPoint(float(value), 1, 2), plan.resolved)
    return plan


def _constant(request: PlanInput) -> Plan:
    return _constant_of(request.params["value"], request)


def _zeros(request: PlanInput) -> Plan:
    return _constant_of(0.0, request)


def _ones(request: PlanInput) -> Plan:
    return _constant_of(1.0, request)


def _normal(request: PlanInput) -> Plan:
    stddev = request.params["stddev"]
    dist: Any = ComplexNormal(stddev) if _is_complex(request) else Normal(0.0, stddev)
    return Plan(Draw(dist), dist, {"stddev": stddev})


def _uniform(request: PlanInput) -> Plan:
    scale = request.params["scale"]
    return Plan(Draw(Uniform(0.0, scale)), Uniform(0.0, scale), {"low": 0.0, "high": scale})


def _truncated_normal(request: PlanInput) -> Plan:
    p = request.params
    stddev, lower, upper = p["stddev"], p["lower"], p["upper"]
    if not lower < upper:
        raise ParameterError(
            f"jax.truncated_normal needs --lower < --upper (bounds in stddevs; got "
            f"lower={lower:g}, upper={upper:g})."
        )
    dist = TruncatedNormal(0.0, stddev, lower, upper)
    return Plan(Draw(dist), dist, {"stddev": stddev, "low": lower * stddev,
                                   "high": upper * stddev})


def variance_scaling_plan(scale: float, mode: str, distribution: str, request: PlanInput) -> Plan:
    """JAX's variance_scaling: variance ``scale / n`` (no ``max(1, n)``), then the distribution.

    Complex values (E|z|² = variance): a circular normal (``normal``), the same cut at
    |z| <= 2 of a std divided by :data:`COMPLEX_TRUNCATED_STD` (``truncated_normal``), or
    the uniform disk of radius sqrt(2·variance) (``uniform``).
    """
    fans = request.fans
    n = fans.by_mode(mode)
    variance = scale / n
    if variance == 0.0:  # scale 0: JAX multiplies its draws by 0
        return replace(constant_plan(0.0, request), resolved={"n": n, "value": 0.0}, fans=fans)
    if not _is_complex(request):
        real = "untruncated_normal" if distribution == "normal" else distribution
        return variance_plan(variance, real, fans, {"n": n})
    dist: Any
    if distribution == "truncated_normal":
        stddev = math.sqrt(variance) / COMPLEX_TRUNCATED_STD
        dist, resolved = ComplexTruncatedNormal(stddev, 2.0), {"stddev": stddev,
                                                               "max_modulus": 2.0 * stddev}
    elif distribution == "normal":
        dist, resolved = ComplexNormal(math.sqrt(variance)), {"stddev": math.sqrt(variance)}
    else:
        radius = math.sqrt(2.0 * variance)
        dist, resolved = ComplexDisk(radius), {"radius": radius}
    return Plan(Draw(dist), dist, {"n": n, **resolved}, fans)


def _variance_scaling(request: PlanInput) -> Plan:
    p = request.params
    return variance_scaling_plan(p["scale"], p["mode"], p["distribution"], request)


def _preset(scale: float, mode: str, distribution: str):
    def resolve(request: PlanInput) -> Plan:
        return variance_scaling_plan(scale, mode, distribution, request)

    return resolve


def _check_column_axis(column_axis: int, rank: int, what: str) -> None:
    if not -rank <= column_axis < rank:
        raise ParameterError(
            f"Invalid value for --column-axis: axis {column_axis} is out of range for {what} "
            f"(rank {rank}); use an axis from {-rank} to {rank - 1}."
        )


def _orthogonal(request: PlanInput) -> Plan:
    from weightgen.linalg import orthogonal_along

    require_rank(request, 2)
    scale, column_axis = request.params["scale"], request.params["column_axis"]
    _check_column_axis(column_axis, len(request.shape), f"shape {request.shape}")
    cols = request.shape[column_axis]
    rows = math.prod(request.shape) // cols
    complex_values = _is_complex(request)
    draw_shape, transform = orthogonal_along(request.shape, column_axis, scale, complex_values)
    # A complex unit n-vector is a real unit 2n-vector: each part is a sphere coordinate.
    expected = SphereCoordinate(max(rows, cols) * (2 if complex_values else 1), scale)
    return Plan(Transform(draw_shape, transform, threaded=True), expected,
                {"scale": scale, "rows": rows, "cols": cols})


def _delta_orthogonal(request: PlanInput) -> Plan:
    from weightgen.linalg import delta_orthogonal

    require_rank(request, 3, 5)
    fan_in, fan_out = request.shape[-2:]
    if fan_out < fan_in:
        raise ShapeError(
            f"jax.delta_orthogonal needs in <= out in the last two axes (kernel..., in, out); "
            f"got in={fan_in}, out={fan_out}."
        )
    scale, column_axis = request.params["scale"], request.params["column_axis"]
    _check_column_axis(column_axis, 2, "the (in, out) matrix")
    complex_values = _is_complex(request)
    draw_shape, transform = delta_orthogonal(request.shape, column_axis, scale, complex_values)
    kernel = math.prod(request.shape[:-2])
    inner = SphereCoordinate(fan_out * (2 if complex_values else 1), scale)
    return Plan(Transform(draw_shape, transform, threaded=True), WithZeros(1.0 - 1.0 / kernel, inner),
                {"scale": scale})


# -- the specs ------------------------------------------------------------------------


def _spec(name: str, summary: str, resolve: Any, *, params: tuple[Param, ...] = (),
          aliases: tuple[str, ...] = (), uses_fans: bool = False, deterministic: bool = False,
          dtype_names: tuple[str, ...] = dtypes.FLOATS) -> InitializerSpec:
    names = (name, *aliases)
    return InitializerSpec(
        name=f"jax.{name}", family=FAMILY, summary=summary, resolve=resolve, params=params,
        aliases=(*(f"jax.{a}" for a in aliases), *(f"jax.nn.initializers.{n}" for n in names)),
        uses_fans=uses_fans, layout="jax", fan_rule=fan_rule, dtypes=dtype_names,
        deterministic=deterministic, reference=f"jax.nn.initializers.{name}", streams=("jax",),
    )


#: The variance-scaling presets of ``jax.nn.initializers``: (scale, mode, distribution).
PRESETS = {
    "glorot_uniform": (1.0, "fan_avg", "uniform"),
    "glorot_normal": (1.0, "fan_avg", "truncated_normal"),
    "lecun_uniform": (1.0, "fan_in", "uniform"),
    "lecun_normal": (1.0, "fan_in", "truncated_normal"),
    "he_uniform": (2.0, "fan_in", "uniform"),
    "he_normal": (2.0, "fan_in", "truncated_normal"),
}


def _preset_spec(name: str, alias: str | None, summary: str) -> InitializerSpec:
    return _spec(name, summary, _preset(*PRESETS[name]), params=AXES,
                 aliases=(alias,) if alias else (), uses_fans=True, dtype_names=COMPLEX_DTYPES)


SPECS: tuple[InitializerSpec, ...] = (
    _spec("constant", "every value equal to --value", _constant,
          params=(Param("value", "float", help="the value"),), deterministic=True,
          dtype_names=DETERMINISTIC_DTYPES),
    _spec("zeros", "all zeros", _zeros, deterministic=True, dtype_names=DETERMINISTIC_DTYPES),
    _spec("ones", "all ones", _ones, deterministic=True, dtype_names=DETERMINISTIC_DTYPES),
    _spec("normal", "normal(0, stddev), untruncated", _normal,
          params=(Param("stddev", "float", 0.01, "standard deviation", minimum=0.0),),
          dtype_names=COMPLEX_DTYPES),
    _spec("uniform", "uniform on [0, scale)", _uniform,
          params=(Param("scale", "float", 0.01, "upper bound (exclusive)", minimum=0.0,
                        exclusive_minimum=True),)),
    _spec("truncated_normal", "normal(0, stddev) restricted to (lower·stddev, upper·stddev)",
          _truncated_normal,
          params=(Param("stddev", "float", 0.01, "std of the normal before truncation",
                        minimum=0.0, exclusive_minimum=True),
                  Param("lower", "float", -2.0, "lower bound, in stddevs (may be -inf)",
                        allow_infinite=True),
                  Param("upper", "float", 2.0, "upper bound, in stddevs (may be inf)",
                        allow_infinite=True))),
    _spec("variance_scaling", "variance scale / n, n the fan by --mode, from in/out/batch axes",
          _variance_scaling,
          params=(
              Param("scale", "float", 1.0, "multiplies the variance (0 gives zeros, as in JAX)", minimum=0.0),
              Param("mode", "choice", "fan_in", "which fan is n",
                    choices=("fan_in", "fan_out", "fan_avg", "fan_geo_avg")),
              Param("distribution", "choice", "truncated_normal",
                    "truncated_normal, normal (untruncated) or uniform",
                    choices=("truncated_normal", "normal", "uniform")),
              *AXES,
          ),
          uses_fans=True, dtype_names=COMPLEX_DTYPES),
    _preset_spec("glorot_uniform", "xavier_uniform", "uniform, variance 1 / fan_avg"),
    _preset_spec("glorot_normal", "xavier_normal", "truncated normal, variance 1 / fan_avg"),
    _preset_spec("lecun_uniform", None, "uniform, variance 1 / fan_in"),
    _preset_spec("lecun_normal", None, "truncated normal, variance 1 / fan_in"),
    _preset_spec("he_uniform", "kaiming_uniform", "uniform, variance 2 / fan_in"),
    _preset_spec("he_normal", "kaiming_normal", "truncated normal, variance 2 / fan_in"),
    _spec("orthogonal", "random (semi-)orthogonal matrix along --column-axis, times scale",
          _orthogonal, params=(SCALE, COLUMN_AXIS), dtype_names=COMPLEX_DTYPES),
    _spec("delta_orthogonal", "zeros, and an orthogonal (in, out) matrix at the kernel centre "
          "(k-1)//2 (3-5-D)", _delta_orthogonal, params=(SCALE, COLUMN_AXIS),
          dtype_names=COMPLEX_DTYPES),
)
