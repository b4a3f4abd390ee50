"""The torch family: ``torch.nn.init`` as PyTorch 2 defines it.

Parameter names, defaults, formulas, the ``(out, in, *kernel)`` fan layout and the shape
checks follow ``torch/nn/init.py``; ``calculate_gain``'s whole table is here. Where
PyTorch silently accepts nonsense (a negative sparsity or group count, a negative std
for trunc_normal, a negative slope for a nonlinearity that ignores it) weightgen refuses
it with one line. Canonical names are ``torch.<name>``; PyTorch's own spellings
(``torch.xavier_uniform_``, ``torch.nn.init.xavier_uniform_`` and the deprecated
``torch.nn.init.xavier_uniform``) are aliases.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from weightgen import dtypes
from weightgen.distributions import (Normal, SphereCoordinate, TruncatedNormal, TwoPoint,
                                     Uniform, WithZeros)
from weightgen.errors import ParameterError, ShapeError
from weightgen.families.common import DETERMINISTIC_DTYPES, constant_plan, require_rank
from weightgen.params import Param
from weightgen.plan import Draw, Fill, Plan, PlanInput, Transform
from weightgen.registry import InitializerSpec

FAMILY = "torch"

#: ``calculate_gain``'s nonlinearities, in PyTorch's order (case-sensitive, as there).
NONLINEARITIES = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                  "conv_transpose3d", "sigmoid", "tanh", "relu", "leaky_relu", "selu")

#: Names PyTorch still accepts without the trailing underscore (deprecated there).
_DEPRECATED_SPELLINGS = {"uniform", "normal", "constant", "eye", "dirac", "xavier_uniform",
                         "xavier_normal", "kaiming_uniform", "kaiming_normal", "orthogonal",
                         "sparse"}


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """``torch.nn.init.calculate_gain``: the recommended gain of a nonlinearity.

    ``param`` is leaky_relu's negative slope (PyTorch's default 0.01 when None); the other
    nonlinearities take none.
    """
    if nonlinearity in ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d",
                        "conv_transpose2d", "conv_transpose3d", "sigmoid"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        negative_slope = 0.01 if param is None else param
        return math.sqrt(2.0 / (1 + negative_slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ParameterError(
        f"Invalid value for --nonlinearity: unsupported nonlinearity {nonlinearity!r}; use one "
        f"of {', '.join(NONLINEARITIES)}."
    )


# -- parameters ---------------------------------------------------------------------

def _mode(text: str) -> str:
    return text.lower()  # PyTorch lower-cases the mode


MODE = Param("mode", "choice", "fan_in", "fan_in keeps the forward pass's variance, fan_out the "
             "backward's", choices=("fan_in", "fan_out"), normalize=_mode)
KAIMING_A = Param("a", "float", 0.0, "negative slope of the leaky_relu after this layer")
KAIMING_NONLINEARITY = Param("nonlinearity", "choice", "leaky_relu",
                             "the nonlinearity after this layer (calculate_gain's table)",
                             choices=NONLINEARITIES)
GAIN_NONLINEARITY = Param("nonlinearity", "choice", None,
                          "shortcut for --gain calculate_gain(NONLINEARITY, PARAM)",
                          choices=NONLINEARITIES, nullable=True)
GAIN_PARAM = Param("param", "float", None,
                   "leaky_relu's negative slope for --nonlinearity (default 0.01)", nullable=True)


def _gain(params: Mapping[str, Any]) -> float:
    """``--gain``, or ``calculate_gain(--nonlinearity, --param)`` when a nonlinearity is named."""
    gain, nonlinearity, param = params["gain"], params.get("nonlinearity"), params.get("param")
    if param is not None and nonlinearity != "leaky_relu":
        raise ParameterError(
            "--param is the negative slope of --nonlinearity leaky_relu and means nothing "
            "without it; drop --param or add --nonlinearity leaky_relu."
        )
    if nonlinearity is None:
        return gain
    if gain != 1.0:
        raise ParameterError(
            f"--gain {gain:g} and --nonlinearity {nonlinearity} both set the gain; give one "
            "(--nonlinearity X means --gain calculate_gain(X))."
        )
    return calculate_gain(nonlinearity, param)


# -- resolve functions ------------------------------------------------------------------


def _uniform(request: PlanInput) -> Plan:
    a, b = request.params["a"], request.params["b"]
    if a > b:
        raise ParameterError(
            f"torch.uniform draws from [a, b) and needs --a <= --b (got a={a:g}, b={b:g})."
        )
    if a == b:  # PyTorch fills with a; there is nothing to draw
        return constant_plan(a, request)
    return Plan(Draw(Uniform(a, b)), Uniform(a, b), {"low": a, "high": b})


def _normal(request: PlanInput) -> Plan:
    mean, std = request.params["mean"], request.params["std"]
    return Plan(Draw(Normal(mean, std)), Normal(mean, std), {"mean": mean, "std": std})


def sigma_bound(bound: float, mean: float, std: float, upward: bool) -> float:
    """An absolute bound in std units, nudged so ``mean + result·std`` stays inside the closed interval.

    ``(bound - mean) / std * std + mean`` can round one ulp past ``bound``; stepping the
    σ-bound inward by ulps until it does not keeps every value in [a, b] exactly.
    """
    if math.isinf(bound):
        return bound
    sigma = (bound - mean) / std
    direction = math.inf if upward else -math.inf
    while (mean + sigma * std < bound) if upward else (mean + sigma * std > bound):
        sigma = math.nextafter(sigma, direction)
    return sigma


def _trunc_normal(request: PlanInput) -> Plan:
    p = request.params
    mean, std, a, b = p["mean"], p["std"], p["a"], p["b"]
    if not a < b:
        raise ParameterError(
            f"torch.trunc_normal needs --a < --b, the absolute bounds of the closed interval "
            f"(got a={a:g}, b={b:g})."
        )
    lower = sigma_bound(a, mean, std, upward=True)
    upper = sigma_bound(b, mean, std, upward=False)
    dist = TruncatedNormal(mean, std, lower, upper)
    return Plan(Draw(dist), dist, {"mean": mean, "std": std, "a": a, "b": b,
                                   "lower_sigma": lower, "upper_sigma": upper})


def _constant(request: PlanInput) -> Plan:
    return constant_plan(request.params["val"], request, "--val")


def _zeros(request: PlanInput) -> Plan:
    return constant_plan(0.0, request)


def _ones(request: PlanInput) -> Plan:
    return constant_plan(1.0, request)


def _eye(request: PlanInput) -> Plan:
    from weightgen.linalg import diagonal_fill

    require_rank(request, 2, 2)
    rows, cols = request.shape
    return Plan(Fill(diagonal_fill(rows, cols, 1)), TwoPoint(1.0, min(rows, cols), rows * cols), {})


def _dirac(request: PlanInput) -> Plan:
    from weightgen.linalg import dirac_positions, positions_fill

    require_rank(request, 3, 5)
    groups = request.params["groups"]
    if request.shape[0] % groups:
        raise ShapeError(
            f"torch.dirac needs dim 0 ({request.shape[0]}) divisible by --groups {groups}; "
            "change the shape or the groups."
        )
    positions = dirac_positions(request.shape, groups)
    return Plan(Fill(positions_fill(positions, 1)),
                TwoPoint(1.0, positions.size, math.prod(request.shape)),
                {"groups": groups, "ones": int(positions.size)})


def _xavier_std(request: PlanInput) -> tuple[float, float]:
    gain = _gain(request.params)
    fans = request.fans
    return gain, gain * math.sqrt(2.0 / float(fans.fan_in + fans.fan_out))


def _xavier_uniform(request: PlanInput) -> Plan:
    gain, std = _xavier_std(request)
    bound = math.sqrt(3.0) * std
    dist = Uniform(-bound, bound)
    return Plan(Draw(dist), dist, {"gain": gain, "bound": bound}, request.fans)


def _xavier_normal(request: PlanInput) -> Plan:
    gain, std = _xavier_std(request)
    return Plan(Draw(Normal(0.0, std)), Normal(0.0, std), {"gain": gain, "std": std}, request.fans)


def _kaiming_std(request: PlanInput, a: float, mode: str, nonlinearity: str
                 ) -> tuple[dict[str, float], float]:
    if a != 0 and nonlinearity != "leaky_relu":
        raise ParameterError(
            f"--a is the negative slope of leaky_relu; --nonlinearity {nonlinearity} ignores it "
            "(PyTorch would too); drop --a or use --nonlinearity leaky_relu."
        )
    fan = request.fans.by_mode(mode)
    gain = calculate_gain(nonlinearity, a)
    return {"gain": gain, "fan": fan}, gain / math.sqrt(fan)


def kaiming_uniform_plan(request: PlanInput, a: float, mode: str, nonlinearity: str) -> Plan:
    """``kaiming_uniform_``: U(±sqrt(3)·gain/sqrt(fan))."""
    resolved, std = _kaiming_std(request, a, mode, nonlinearity)
    bound = math.sqrt(3.0) * std
    dist = Uniform(-bound, bound)
    return Plan(Draw(dist), dist, {**resolved, "bound": bound}, request.fans)


def _kaiming_uniform(request: PlanInput) -> Plan:
    p = request.params
    return kaiming_uniform_plan(request, p["a"], p["mode"], p["nonlinearity"])


def _kaiming_normal(request: PlanInput) -> Plan:
    p = request.params
    resolved, std = _kaiming_std(request, p["a"], p["mode"], p["nonlinearity"])
    return Plan(Draw(Normal(0.0, std)), Normal(0.0, std), {**resolved, "std": std}, request.fans)


def _linear_default(request: PlanInput) -> Plan:
    """``nn.Linear``/``nn.ConvNd`` weights: kaiming_uniform(a=√5) = U(±1/sqrt(fan_in))."""
    return kaiming_uniform_plan(request, math.sqrt(5), "fan_in", "leaky_relu")


def _orthogonal(request: PlanInput) -> Plan:
    from weightgen.linalg import orthogonal_along

    require_rank(request, 2)
    gain = _gain(request.params)
    rows, cols = request.shape[0], math.prod(request.shape[1:])
    draw_shape, transform = orthogonal_along(request.shape, 0, gain)
    return Plan(Transform(draw_shape, transform, threaded=True), SphereCoordinate(max(rows, cols), gain),
                {"gain": gain, "rows": rows, "cols": cols})


def _sparse(request: PlanInput) -> Plan:
    from weightgen import seeding
    from weightgen.linalg import sparse_columns

    require_rank(request, 2, 2)
    rows, _ = request.shape
    sparsity, std = request.params["sparsity"], request.params["std"]
    zeros = min(rows, math.ceil(sparsity * rows))  # PyTorch's formula, rounding and all
    expected = WithZeros(zeros / rows, Normal(0.0, std))
    return Plan(Transform(request.shape, sparse_columns(request.shape, std, zeros),
                          auxiliary=seeding.PURPOSE_SPARSE_ZEROS),
                expected, {"std": std, "zeros_per_column": zeros})


# -- the specs ------------------------------------------------------------------------


def _spec(name: str, summary: str, resolve: Any, *, params: tuple[Param, ...] = (),
          uses_fans: bool = False, deterministic: bool = False, reference: str = "",
          aliases: tuple[str, ...] | None = None) -> InitializerSpec:
    """A ``torch.nn.init`` function's spec; its PyTorch spellings become aliases."""
    if aliases is None:
        aliases = (f"torch.{name}_", f"torch.nn.init.{name}_")
    if name in _DEPRECATED_SPELLINGS:
        aliases += (f"torch.nn.init.{name}",)
    return InitializerSpec(
        name=f"torch.{name}", family=FAMILY, summary=summary, resolve=resolve, params=params,
        aliases=aliases, uses_fans=uses_fans, layout="torch",
        dtypes=DETERMINISTIC_DTYPES if deterministic else dtypes.FLOATS,
        deterministic=deterministic, reference=reference or f"torch.nn.init.{name}_",
    )


def _gain_param(minimum: float | None) -> Param:
    return Param("gain", "float", 1.0, "multiplies the std (or bound)", minimum=minimum,
                 exclusive_minimum=minimum is not None)


SPECS: tuple[InitializerSpec, ...] = (
    _spec("uniform", "uniform on [a, b)", _uniform,
          params=(Param("a", "float", 0.0, "lower bound (inclusive)"),
                  Param("b", "float", 1.0, "upper bound (exclusive)"))),
    _spec("normal", "normal(mean, std), untruncated", _normal,
          params=(Param("mean", "float", 0.0, "mean"),
                  Param("std", "float", 1.0, "standard deviation", minimum=0.0))),
    _spec("trunc_normal", "normal(mean, std) restricted to the closed interval [a, b]",
          _trunc_normal,
          params=(Param("mean", "float", 0.0, "mean of the normal before truncation"),
                  Param("std", "float", 1.0, "std of the normal before truncation", minimum=0.0,
                        exclusive_minimum=True),
                  Param("a", "float", -2.0, "absolute lower bound (may be -inf)",
                        allow_infinite=True),
                  Param("b", "float", 2.0, "absolute upper bound (may be inf)",
                        allow_infinite=True))),
    _spec("constant", "every value equal to --val", _constant,
          params=(Param("val", "float", help="the value"),), deterministic=True),
    _spec("ones", "all ones", _ones, deterministic=True),
    _spec("zeros", "all zeros", _zeros, deterministic=True),
    _spec("eye", "the identity matrix eye(rows, cols) (2-D only)", _eye, deterministic=True),
    _spec("dirac", "dirac delta at each kernel's centre k//2, per group (3-5-D)", _dirac,
          params=(Param("groups", "int", 1, "groups of output channels, each its own identity",
                        minimum=1),),
          deterministic=True),
    _spec("xavier_uniform", "uniform, bound gain·sqrt(6 / (fan_in + fan_out))", _xavier_uniform,
          params=(_gain_param(0.0), GAIN_NONLINEARITY, GAIN_PARAM), uses_fans=True),
    _spec("xavier_normal", "normal (untruncated), std gain·sqrt(2 / (fan_in + fan_out))",
          _xavier_normal, params=(_gain_param(0.0), GAIN_NONLINEARITY, GAIN_PARAM),
          uses_fans=True),
    _spec("kaiming_uniform", "uniform, bound gain·sqrt(3 / fan), gain from --nonlinearity and --a",
          _kaiming_uniform, params=(KAIMING_A, MODE, KAIMING_NONLINEARITY), uses_fans=True),
    _spec("kaiming_normal", "normal (untruncated), std gain / sqrt(fan), gain from --nonlinearity",
          _kaiming_normal, params=(KAIMING_A, MODE, KAIMING_NONLINEARITY), uses_fans=True),
    _spec("orthogonal", "random orthogonal matrix (dim 0 vs the rest flattened), times gain",
          _orthogonal, params=(_gain_param(None), GAIN_NONLINEARITY, GAIN_PARAM)),
    _spec("sparse", "normal(0, std) with ceil(sparsity·rows) zeros in every column (2-D only)",
          _sparse,
          params=(Param("sparsity", "float", help="share of zeros in each column", minimum=0.0,
                        maximum=1.0),
                  Param("std", "float", 0.01, "std of the non-zero values", minimum=0.0,
                        exclusive_minimum=True))),
    _spec("linear_default", "nn.Linear/nn.ConvNd default weights: uniform, bound 1/sqrt(fan_in)",
          _linear_default, uses_fans=True,
          reference="torch.nn.Linear.reset_parameters (kaiming_uniform_ with a=sqrt(5))",
          aliases=("torch.conv_default",)),
)
