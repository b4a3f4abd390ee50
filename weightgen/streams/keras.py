"""``--rng keras``: the bytes Keras 3's initializers give with its NumPy backend.

Under ``KERAS_BACKEND=numpy`` every random initializer called with an integer seed builds a
fresh ``numpy.random.default_rng(numpy.array([seed, 0], uint32))``, draws the whole tensor
in float64 with numpy's own ``uniform``/``normal`` (location and scale applied by numpy),
and casts once at the end. Its truncated normal keeps the first n draws of one stream that
fall inside mean ± 2·stddev (bounds included). Orthogonal takes the QR of such normals
after Keras's own dtype conversion. The deterministic initializers follow Keras's numpy
expressions, including its dtype promotion (:mod:`weightgen.streams.keras_ops`).

Parameters, fans and the limit or stddev come from the resolved plan, computed as Keras
computes them (``sqrt(3 * (scale / max(1, n)))``), so the same numbers reach numpy.
Where Keras returns another dtype than the one asked for (orthogonal in float64 or
bfloat16, identity in bfloat16 or an integer dtype, a windowed STFT kernel in float64),
its values are cast to the dtype asked for. Keras's STFT kernel has one input channel;
it is repeated over the channels of the shape, as weightgen's own stream does.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from weightgen import dtypes
from weightgen.distributions import Distribution, Normal, TruncatedNormal, Uniform
from weightgen.errors import ParameterError
from weightgen.generation import Request
from weightgen.plan import Draw, Plan
from weightgen.registry import InitializerSpec
from weightgen.streams import keras_ops

#: Working memory per element beyond the output: float64 draws, accepted values, a copy.
WORKSPACE_BYTES = 24


def generator(seed: int) -> np.random.Generator:
    """Keras's ``draw_seed`` then ``default_rng``: one fresh generator per call."""
    return np.random.default_rng(np.array([seed, 0], dtype=np.uint32))


def draw(distribution: Distribution, shape: tuple[int, ...], seed: int) -> np.ndarray:
    """The float64 values of ``keras.random.normal/uniform/truncated_normal``."""
    rng = generator(seed)
    if isinstance(distribution, Uniform):
        return rng.uniform(size=shape, low=distribution.low_, high=distribution.high_)
    if isinstance(distribution, TruncatedNormal):
        if (distribution.lower, distribution.upper) != (-2.0, 2.0):  # pragma: no cover
            raise ValueError("Keras truncates normals at ±2 stddev only")
        return truncated_normal(rng, shape, distribution.mean_, distribution.std_)
    if isinstance(distribution, Normal):
        return rng.normal(size=shape, loc=distribution.mean_, scale=distribution.std_)
    raise TypeError(f"Keras has no sampler for {distribution!r}")  # pragma: no cover


def truncated_normal(rng: np.random.Generator, shape: tuple[int, ...], mean: float,
                     stddev: float) -> np.ndarray:
    """Keras's rejection loop: full batches of n normals, keeping those within ±2 stddev."""
    lower, upper = mean - 2 * stddev, mean + 2 * stddev
    count = math.prod(shape)
    kept: list[np.ndarray] = []
    found = 0
    while found < count:
        batch = rng.normal(loc=mean, scale=stddev, size=count)
        valid = batch[(batch >= lower) & (batch <= upper)]
        kept.append(valid)
        found += valid.size
    return np.concatenate(kept)[:count].reshape(shape)


def orthogonal(shape: tuple[int, ...], dtype: str, seed: int, gain: float) -> np.ndarray:
    """``keras.initializers.Orthogonal(gain, seed)(shape, dtype)``."""
    rows, cols = math.prod(shape[:-1]), shape[-1]
    normals = generator(seed).normal(size=(max(rows, cols), min(rows, cols)), loc=0.0, scale=1.0)
    # keras.ops.qr converts first: float64 becomes float32, bfloat16 stays (numpy's QR then
    # runs in float64).
    matrix = keras_ops.convert_to_tensor(normals.astype(dtypes.numpy_dtype(dtype)))
    q, r = np.linalg.qr(matrix, mode="reduced")
    q *= np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    return gain * np.reshape(q, shape)


def identity(shape: tuple[int, ...], dtype: str, gain: float) -> np.ndarray:
    rows, cols = shape
    return gain * np.eye(rows, M=cols, k=0, dtype=dtypes.numpy_dtype(dtype))


def constant(shape: tuple[int, ...], dtype: str, value: float) -> np.ndarray:
    target = dtypes.numpy_dtype(dtype)
    return keras_ops.convert_to_tensor(value, dtype) * np.ones(shape, dtype=target)


def stft(shape: tuple[int, ...], dtype: str, params: dict) -> np.ndarray:
    """Keras's STFT kernel, with the window scipy gives for the ``--window`` value.

    A window with parameters (``kaiser,8.6``) is what Keras gives for the array
    ``scipy.signal.get_window(("kaiser", 8.6), frame_length, periodic)``; Keras computes a
    named window exactly that way.
    """
    from weightgen.families.keras import window_value

    frame_length, _channels, fft_length = shape
    window = window_value(params["window"])
    if window is not None:
        from scipy.signal import get_window

        window = get_window(window, frame_length, params["periodic"])
    scaling = None if params["scaling"] == "none" else params["scaling"]
    return keras_ops.stft_kernel(frame_length, fft_length, dtype, params["side"], window, scaling)


def keras_values(request: Request, spec: InitializerSpec, plan: Plan) -> np.ndarray:
    """What Keras returns, in Keras's own dtype and shape."""
    shape, dtype, params = request.shape, request.dtype, request.params
    if isinstance(plan.source, Draw):
        return draw(plan.source.distribution, shape, request.seed).astype(dtypes.numpy_dtype(dtype))
    if spec.name == "orthogonal":
        return orthogonal(shape, dtype, request.seed, params["gain"])
    if spec.name == "identity":
        return identity(shape, dtype, params["gain"])
    if spec.name == "stft":
        return stft(shape, dtype, dict(params))
    if spec.name == "zeros":
        return np.zeros(shape, dtype=dtypes.numpy_dtype(dtype))
    if spec.name == "ones":
        return np.ones(shape, dtype=dtypes.numpy_dtype(dtype))
    if spec.name == "constant":
        return constant(shape, dtype, params["value"])
    raise ParameterError(f"--rng keras does not know how Keras computes {spec.name}; "
                         "use --rng weightgen.")


def sample(request: Request, spec: InitializerSpec, plan: Plan,
           progress: Callable[[int], None] | None = None) -> np.ndarray:
    """The tensor Keras gives, cast to the dtype asked for and laid out in the shape asked for."""
    values = np.asarray(keras_values(request, spec, plan))
    if values.shape != request.shape:  # STFT: one input channel, repeated
        values = np.broadcast_to(values, request.shape)
    result = values.astype(dtypes.numpy_dtype(request.dtype), copy=False)
    if progress is not None:
        progress(result.size)
    return result if result.flags.c_contiguous else np.ascontiguousarray(result)
