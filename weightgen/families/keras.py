"""The keras family: ``keras.initializers`` as Keras 3 defines them.

Names, aliases, defaults, checks and formulas follow Keras 3 (not the older Chinese
documentation this project started from, which says he_uniform is LeCun's and identity
is square-only). Every name is also accepted with a ``keras.`` prefix.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from weightgen import dtypes
from weightgen.distributions import (Normal, SphereCoordinate, Summary, TruncatedNormal,
                                     TwoPoint, Uniform)
from weightgen.errors import ParameterError, ShapeError
from weightgen.families.common import (DETERMINISTIC_DTYPES, VARIANCE_SCALE, check_value_fits,
                                       constant_plan, require_rank, variance_plan)
from weightgen.fans import Fans, axes_fans, layout_fans
from weightgen.params import Param
from weightgen.plan import Draw, Fill, Plan, PlanInput, Transform
from weightgen.registry import InitializerSpec

FAMILY = "keras"

# -- parameters ---------------------------------------------------------------------

AXES = (
    Param("input_axes", "axes", None, "axes whose sizes multiply to fan_in (with --output-axes)",
          nullable=True),
    Param("output_axes", "axes", None, "axes whose sizes multiply to fan_out (with --input-axes)",
          nullable=True),
)
GAIN = Param("gain", "float", 1.0, "multiplies the matrix")
MEAN = Param("mean", "float", 0.0, "mean of the normal")
STDDEV = Param("stddev", "float", 0.05, "standard deviation of the normal", minimum=0.0)


def _window_check(window: str) -> str | None:
    if window.lower() == "none":
        return None
    try:
        from scipy.signal import get_window

        get_window(window_value(window), 1)
    except (ValueError, TypeError) as error:
        return f"not a scipy.signal window ({error})"
    return None


def window_value(text: str) -> Any:
    """``hann`` -> "hann"; ``kaiser,8.6`` -> ("kaiser", 8.6); ``none`` -> None."""
    if text.lower() == "none":
        return None
    name, *args = [part.strip() for part in text.split(",")]
    if not args:
        return name
    values: list[Any] = []
    for arg in args:
        try:
            values.append(float(arg))
        except ValueError:
            values.append(arg)
    return (name, *values)


# -- fan rule -------------------------------------------------------------------------


def fan_rule(shape: Sequence[int], layout: str, params: Mapping[str, Any]) -> Fans:
    """Keras ``compute_fans``, with Keras 3's ``input_axes``/``output_axes``.

    Keras silently ignores one of the two given alone; weightgen refuses that instead.
    """
    input_axes, output_axes = params.get("input_axes"), params.get("output_axes")
    if (input_axes is None) != (output_axes is None):
        raise ParameterError(
            "--input-axes and --output-axes work together (Keras ignores one given alone); "
            "give both, e.g. --input-axes 0 --output-axes 1."
        )
    if input_axes is not None:
        return axes_fans(shape, input_axes, output_axes)
    return layout_fans(shape, layout)


# -- resolve functions ------------------------------------------------------------------


def variance_scaling_plan(scale: float, mode: str, distribution: str, fans: Fans) -> Plan:
    """Keras VarianceScaling: ``scale / max(1, n)`` by mode, then the distribution."""
    n = max(1.0, fans.by_mode(mode))
    return variance_plan(scale / n, distribution, fans, {"n": n})


def _variance_scaling(request: PlanInput) -> Plan:
    p = request.params
    return variance_scaling_plan(p["scale"], p["mode"], p["distribution"], request.fans)


def _preset(scale: float, mode: str, distribution: str):
    def resolve(request: PlanInput) -> Plan:
        return variance_scaling_plan(scale, mode, distribution, request.fans)

    return resolve


def _zeros(request: PlanInput) -> Plan:
    return constant_plan(0.0, request)


def _ones(request: PlanInput) -> Plan:
    return constant_plan(1.0, request)


def _constant(request: PlanInput) -> Plan:
    return constant_plan(request.params["value"], request)


def _random_normal(request: PlanInput) -> Plan:
    p = request.params
    dist = Normal(p["mean"], p["stddev"])
    return Plan(Draw(dist), dist, {"mean": p["mean"], "stddev": p["stddev"]})


def _random_uniform(request: PlanInput) -> Plan:
    p = request.params
    if not p["minval"] < p["maxval"]:
        raise ParameterError(
            f"random_uniform needs --minval < --maxval (got minval={p['minval']:g}, "
            f"maxval={p['maxval']:g})."
        )
    dist = Uniform(p["minval"], p["maxval"])
    return Plan(Draw(dist), dist, {"minval": p["minval"], "maxval": p["maxval"]})


def _truncated_normal(request: PlanInput) -> Plan:
    p = request.params
    dist = TruncatedNormal(p["mean"], p["stddev"], -2.0, 2.0)
    return Plan(Draw(dist), dist, {"mean": p["mean"], "stddev": p["stddev"],
                                   "low": p["mean"] - 2 * p["stddev"],
                                   "high": p["mean"] + 2 * p["stddev"]})


def _orthogonal(request: PlanInput) -> Plan:
    from weightgen.linalg import orthogonal_last_axis

    require_rank(request, 2)
    gain = request.params["gain"]
    draw_shape, transform = orthogonal_last_axis(request.shape, gain)
    return Plan(Transform(draw_shape, transform, threaded=True), SphereCoordinate(draw_shape[0], gain),
                {"gain": gain, "rows": math.prod(request.shape[:-1]), "cols": request.shape[-1]})


def _identity(request: PlanInput) -> Plan:
    from weightgen.linalg import diagonal_fill

    require_rank(request, 2, 2)
    rows, cols = request.shape
    gain = check_value_fits(request.params["gain"], request.dtype, "--gain")
    return Plan(Fill(diagonal_fill(rows, cols, gain)),
                TwoPoint(float(gain), min(rows, cols), rows * cols), {"gain": gain})


def _stft(request: PlanInput) -> Plan:
    from weightgen.linalg import stft_table, table_fill

    require_rank(request, 3, 3)
    frame_length, _channels, fft_length = request.shape
    if fft_length < 2:
        raise ShapeError(
            f"stft needs at least 2 frequency bins in the last axis (shape is frame_length,"
            f"channels,bins); got {request.shape}."
        )
    p = request.params
    scaling = None if p["scaling"] == "none" else p["scaling"]
    table = stft_table(frame_length, fft_length, p["side"], window_value(p["window"]), scaling,
                       p["periodic"])
    expected = Summary(float(table.mean()), float(table.std()), float(table.min()),
                       float(table.max()), text=f"STFT {p['side']} kernel, {p['window']} window")
    return Plan(Fill(table_fill(table, request.shape, (0, 2))), expected, {})


# -- the specs ------------------------------------------------------------------------


def _spec(name: str, summary: str, resolve: Any, *, params: tuple[Param, ...] = (),
          aliases: tuple[str, ...] = (), uses_fans: bool = False, deterministic: bool = False,
          dtype_names: tuple[str, ...] = dtypes.FLOATS, reference: str = "") -> InitializerSpec:
    names = (name, *aliases)
    return InitializerSpec(
        name=name, family=FAMILY, summary=summary, resolve=resolve, params=params,
        aliases=(*aliases, *(f"keras.{n}" for n in names)), uses_fans=uses_fans, layout="keras",
        fan_rule=fan_rule, dtypes=dtype_names, deterministic=deterministic,
        reference=reference or f"keras.initializers.{aliases[0] if aliases else name}",
        streams=("keras",),
    )


def _preset_spec(name: str, camel: str, summary: str, scale: float, mode: str,
                 distribution: str) -> InitializerSpec:
    return _spec(name, summary, _preset(scale, mode, distribution), params=AXES,
                 aliases=(camel,), uses_fans=True)


SPECS: tuple[InitializerSpec, ...] = (
    _spec("zeros", "all zeros", _zeros, aliases=("Zeros", "zero"), deterministic=True,
          dtype_names=DETERMINISTIC_DTYPES),
    _spec("ones", "all ones", _ones, aliases=("Ones", "one"), deterministic=True,
          dtype_names=DETERMINISTIC_DTYPES),
    _spec("constant", "every value equal to --value", _constant,
          params=(Param("value", "float", 0.0, "the value"),), aliases=("Constant",),
          deterministic=True, dtype_names=DETERMINISTIC_DTYPES),
    _spec("random_normal", "normal(mean, stddev), untruncated", _random_normal,
          params=(MEAN, STDDEV), aliases=("RandomNormal", "normal")),
    _spec("random_uniform", "uniform on [minval, maxval)", _random_uniform,
          params=(Param("minval", "float", -0.05, "lower bound (inclusive)"),
                  Param("maxval", "float", 0.05, "upper bound (exclusive)")),
          aliases=("RandomUniform", "uniform")),
    _spec("truncated_normal", "normal(mean, stddev) redrawn beyond mean ± 2·stddev",
          _truncated_normal, params=(MEAN, STDDEV), aliases=("TruncatedNormal",)),
    _spec("variance_scaling", "std or limit scaled by sqrt(scale / n), n the fan by --mode",
          _variance_scaling,
          params=(
              VARIANCE_SCALE,
              Param("mode", "choice", "fan_in", "which fan is n",
                    choices=("fan_in", "fan_out", "fan_avg")),
              Param("distribution", "choice", "truncated_normal",
                    "truncated_normal (alias normal), untruncated_normal or uniform",
                    choices=("truncated_normal", "untruncated_normal", "uniform"),
                    normalize=str.lower, synonyms={"normal": "truncated_normal"}),
              *AXES,
          ),
          aliases=("VarianceScaling",), uses_fans=True),
    _spec("orthogonal", "random orthogonal matrix (last axis vs the rest), times gain",
          _orthogonal, params=(GAIN,), aliases=("Orthogonal", "OrthogonalInitializer")),
    _spec("identity", "gain · eye(rows, cols) for any 2-D shape", _identity, params=(GAIN,),
          aliases=("Identity", "IdentityInitializer"), deterministic=True,
          dtype_names=DETERMINISTIC_DTYPES),
    _preset_spec("lecun_uniform", "LecunUniform", "uniform, limit sqrt(3 / fan_in)",
                 1.0, "fan_in", "uniform"),
    _preset_spec("lecun_normal", "LecunNormal", "truncated normal, std sqrt(1 / fan_in)",
                 1.0, "fan_in", "truncated_normal"),
    _preset_spec("glorot_uniform", "GlorotUniform",
                 "uniform, limit sqrt(6 / (fan_in + fan_out))", 1.0, "fan_avg", "uniform"),
    _preset_spec("glorot_normal", "GlorotNormal",
                 "truncated normal, std sqrt(2 / (fan_in + fan_out))", 1.0, "fan_avg",
                 "truncated_normal"),
    _preset_spec("he_uniform", "HeUniform", "uniform, limit sqrt(6 / fan_in)",
                 2.0, "fan_in", "uniform"),
    _preset_spec("he_normal", "HeNormal", "truncated normal, std sqrt(2 / fan_in)",
                 2.0, "fan_in", "truncated_normal"),
    _spec("stft", "STFT kernel (frame_length, channels, bins): windowed cos or sin", _stft,
          params=(
              Param("side", "choice", "real", "real (cos) or imag (sin)",
                    choices=("real", "imag")),
              Param("window", "str", "hann",
                    "a scipy.signal window: hann, hamming, kaiser,8.6, ... or none",
                    check=_window_check),
              Param("scaling", "choice", "density", "density, spectrum or none",
                    choices=("density", "spectrum", "none")),
              Param("periodic", "bool", False, "periodic (not symmetric) window"),
          ),
          aliases=("STFT", "STFTInitializer"), deterministic=True),
)
