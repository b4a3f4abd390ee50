"""``--rng jax``: the bytes ``jax.nn.initializers`` give for ``jax.random.key(seed)`` on CPU.

Each initializer is written the way JAX writes it: the same key use (complex draws split
the key; orthogonal draws its normals from the key itself), the same order of float
operations, each rounded in the tensor's dtype (``scale / n`` is a Python float converted
to the dtype, then ``sqrt``, then a separate multiply), with JAX's samplers from
:mod:`weightgen.streams.jax_random`. float64 and complex128 are what JAX gives with
``jax_enable_x64`` (without it JAX silently returns 32-bit values); for seeds below 2**32
the key, and every 32-bit result, is the same in both modes.

Parameters come from the checked request and fans from the resolved plan (so
``--fan-in``/``--fan-out`` apply JAX's formula to the fans given). Elementwise
initializers are drawn in chunks of flat elements, so the working memory stays bounded.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from weightgen import dtypes
from weightgen.errors import ParameterError
from weightgen.families.common import TRUNCATED_STD
from weightgen.families.jax import COMPLEX_TRUNCATED_STD, PRESETS
from weightgen.fans import Fans
from weightgen.generation import Request
from weightgen.plan import Plan
from weightgen.registry import InitializerSpec
from weightgen.streams import jax_random as jr
from weightgen.streams import xla
from weightgen.streams.jax_random import FORMATS, Format

#: Working memory per output element beyond the output (orthogonal: QR of a float64 matrix).
WORKSPACE_BYTES = 32

#: Flat elements drawn at a time by the elementwise initializers.
CHUNK = 1 << 20

Chunk = Callable[[int, int], np.ndarray]


def _is_complex(dtype: str) -> bool:
    return dtypes.is_complex(dtype)


def real_format(dtype: str) -> Format:
    """The real float format a dtype computes in (a complex dtype's parts)."""
    return FORMATS[{"complex64": "float32", "complex128": "float64"}.get(dtype, dtype)]


def elementwise(shape: tuple[int, ...], dtype: str, chunk: Chunk,
                progress: Callable[[int], None] | None = None) -> np.ndarray:
    """The tensor whose flat elements ``start:stop`` are ``chunk(start, stop)``."""
    out = np.empty(math.prod(shape), dtype=dtypes.numpy_dtype(dtype))
    for start in range(0, out.size, CHUNK):
        stop = min(out.size, start + CHUNK)
        out[start:stop] = chunk(start, stop)
        if progress is not None:
            progress(stop - start)
    return out.reshape(shape)


def times(values: np.ndarray, factor, fmt: Format) -> np.ndarray:
    """``values * jnp.array(factor, dtype)``: one rounded multiply in the format."""
    if fmt.bfloat16:
        return xla.round_bf16(values * xla.round_bf16(np.float32(factor)))
    return (values * np.asarray(factor).astype(fmt.compute)).astype(fmt.compute)


def complex_times(parts: tuple[np.ndarray, np.ndarray], factor, fmt: Format,
                  dtype: str) -> np.ndarray:
    """A complex draw times a real factor: each part multiplied once."""
    real, imag = parts
    factor = np.asarray(factor, fmt.compute)
    return xla.make_complex((real * factor).astype(fmt.compute), (imag * factor).astype(fmt.compute),
                            dtypes.numpy_dtype(dtype))


def sqrt(value, fmt: Format) -> np.ndarray:
    """``jnp.sqrt`` of a value already in the format."""
    if fmt.bfloat16:
        return xla.round_bf16(np.sqrt(np.float32(value)))
    return np.sqrt(np.asarray(value, fmt.compute)).astype(fmt.compute)


# -- the initializers ----------------------------------------------------------------------------
#
# The elementwise ones return how to compute any chunk of flat elements (a ``Chunk``);
# :func:`elementwise` assembles the tensor from chunks.


def constant(shape: tuple[int, ...], dtype: str, value: float) -> np.ndarray:
    """``jnp.full(shape, value, dtype)`` (bfloat16: the float32 value, rounded)."""
    if dtype == "bfloat16":
        return xla.round_bf16(np.full(shape, np.float32(value))).astype(dtypes.numpy_dtype(dtype))
    return np.full(shape, value, dtype=dtypes.numpy_dtype(dtype))


def uniform(k, dtype: str, scale: float) -> Chunk:
    """``jax.nn.initializers.uniform(scale)``: on [0, scale)."""
    fmt = real_format(dtype)
    return lambda a, b: times(jr.uniform(k, fmt, a, b), scale, fmt)


def normal(k, dtype: str, stddev: float) -> Chunk:
    """``jax.nn.initializers.normal(stddev)`` (complex: E|z|² = stddev²)."""
    fmt = real_format(dtype)
    if _is_complex(dtype):
        return lambda a, b: complex_times(jr.complex_normal(k, fmt, a, b),
                                          fmt.compute.type(stddev), fmt, dtype)
    return lambda a, b: times(jr.normal(k, fmt, a, b), stddev, fmt)


def truncated_normal(k, dtype: str, stddev: float, lower: float, upper: float) -> Chunk:
    """``jax.nn.initializers.truncated_normal(stddev, lower=, upper=)``: bounds in stddevs."""
    fmt = real_format(dtype)
    return lambda a, b: times(jr.truncated_normal(k, fmt, a, b, lower, upper), stddev, fmt)


def denominator(mode: str, fans: Fans) -> float:
    """JAX's ``n`` for a mode, in Python floats as JAX computes it."""
    fan_in, fan_out = float(fans.fan_in), float(fans.fan_out)
    if mode == "fan_in":
        return fan_in
    if mode == "fan_out":
        return fan_out
    if mode == "fan_avg":
        return (fan_in + fan_out) / 2
    if mode == "fan_geo_avg":
        return (fan_in * fan_out) ** 0.5
    raise ValueError(f"unknown mode {mode!r}")  # pragma: no cover - checked by the spec


def variance_scaling(k, dtype: str, scale: float, mode: str, distribution: str,
                     fans: Fans) -> Chunk:
    """``jax.nn.initializers.variance_scaling(scale, mode, distribution)`` with ``fans``."""
    fmt = real_format(dtype)
    variance = fmt.cast(scale / denominator(mode, fans))
    if _is_complex(dtype):
        stddev = sqrt(variance, fmt)
        if distribution == "truncated_normal":
            stddev = (stddev / fmt.compute.type(COMPLEX_TRUNCATED_STD)).astype(fmt.compute)
        draw = {"truncated_normal": lambda a, b: jr.complex_truncated_normal(k, fmt, a, b, 2),
                "normal": lambda a, b: jr.complex_normal(k, fmt, a, b),
                "uniform": lambda a, b: jr.complex_uniform(k, fmt, a, b)}[distribution]
        return lambda a, b: complex_times(draw(a, b), stddev, fmt, dtype)
    if distribution == "truncated_normal":
        stddev = fmt.round(sqrt(variance, fmt) / fmt.cast(TRUNCATED_STD))
        return lambda a, b: times(jr.truncated_normal(k, fmt, a, b, -2, 2), stddev, fmt)
    if distribution == "normal":
        stddev = sqrt(variance, fmt)
        return lambda a, b: times(jr.normal(k, fmt, a, b), stddev, fmt)
    limit = sqrt(fmt.round(fmt.compute.type(3) * variance), fmt)
    return lambda a, b: times(jr.uniform(k, fmt, a, b, -1), limit, fmt)


def orthogonal(k, shape: tuple[int, ...], dtype: str, scale: float, column_axis: int) -> np.ndarray:
    """``jax.nn.initializers.orthogonal(scale, column_axis)``."""
    target = dtypes.numpy_dtype(dtype)
    columns = shape[column_axis]
    rows = math.prod(shape) // columns
    q = jr.orthogonal(k, rows, columns, target)
    q = q.reshape(tuple(np.delete(shape, column_axis)) + (columns,))
    q = np.moveaxis(q, -1, column_axis)
    return (np.asarray(scale, target) * q).astype(target)


def delta_orthogonal(k, shape: tuple[int, ...], dtype: str, scale: float,
                     column_axis: int) -> np.ndarray:
    """``jax.nn.initializers.delta_orthogonal``: an orthogonal (in, out) at the kernel's centre."""
    out = np.zeros(shape, dtype=dtypes.numpy_dtype(dtype))
    centre = tuple((size - 1) // 2 for size in shape[:-2])
    out[centre] = orthogonal(k, shape[-2:], dtype, scale, column_axis)
    return out


def base_name(spec: InitializerSpec) -> str:
    """The ``jax.nn.initializers`` name of a spec (``jax.he_normal`` -> ``he_normal``)."""
    return spec.name.removeprefix("jax.")


def sample(request: Request, spec: InitializerSpec, plan: Plan,
           progress: Callable[[int], None] | None = None) -> np.ndarray:
    """The tensor ``jax.nn.initializers.<name>(...)(jax.random.key(seed), shape, dtype)`` gives."""
    name, shape, dtype, p = base_name(spec), request.shape, request.dtype, request.params
    k = jr.key(request.seed)
    if name in ("zeros", "ones", "constant"):
        values = constant(shape, dtype, {"zeros": 0.0, "ones": 1.0}.get(name, p.get("value")))
    elif name == "orthogonal":
        values = orthogonal(k, shape, dtype, p["scale"], p["column_axis"])
    elif name == "delta_orthogonal":
        values = delta_orthogonal(k, shape, dtype, p["scale"], p["column_axis"])
    else:
        return elementwise(shape, dtype, chunks(name, k, dtype, p, plan), progress)
    if progress is not None:
        progress(values.size)
    return values


def chunks(name: str, k, dtype: str, params, plan: Plan) -> Chunk:
    """How to compute any chunk of an elementwise jax initializer."""
    if name == "uniform":
        return uniform(k, dtype, params["scale"])
    if name == "normal":
        return normal(k, dtype, params["stddev"])
    if name == "truncated_normal":
        return truncated_normal(k, dtype, params["stddev"], params["lower"], params["upper"])
    if name == "variance_scaling":
        return variance_scaling(k, dtype, params["scale"], params["mode"], params["distribution"],
                                plan.fans)
    if name in PRESETS:
        return variance_scaling(k, dtype, *PRESETS[name], plan.fans)
    raise ParameterError(f"--rng jax does not know how JAX computes jax.{name}; "
                         "use --rng weightgen.")
