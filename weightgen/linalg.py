"""Matrix and structured initializers: orthogonal, identity, STFT kernels.

Orthogonal matrices are built from standard normals drawn by the core sampler (so they
follow the stream contract) and orthonormalised in float64 before the single cast. The
structured ones are written as functions of the flat index, so they stream block by
block like any elementwise initializer.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np


def orthonormal_columns(normals: np.ndarray) -> np.ndarray:
    """Q of the QR decomposition of a tall (rows >= cols) matrix, signs fixed by diag(R).

    Multiplying each column by sign(R_jj) makes Q Haar-distributed (Mezzadri 2007), as
    Keras, PyTorch and JAX all do.
    """
    q, r = np.linalg.qr(normals.astype(np.float64, copy=False))
    signs = np.sign(np.diagonal(r))
    signs[signs == 0] = 1.0
    q *= signs
    return q


def orthogonal_last_axis(shape: Sequence[int], gain: float) -> tuple[tuple[int, int], Callable[[Any, Any], Any]]:
    """Keras's orthogonal: the last axis against all others flattened.

    Returns the shape of normals to draw, ``(max(rows, cols), min(rows, cols))``, and the
    transform from those normals to the tensor.
    """
    rows, cols = math.prod(shape[:-1]), shape[-1]
    draw_shape = (max(rows, cols), min(rows, cols))

    def transform(normals: np.ndarray, work: np.dtype) -> np.ndarray:
        q = orthonormal_columns(normals)
        if rows < cols:
            q = q.T
        q *= gain
        return q.astype(work).reshape(shape)

    return draw_shape, transform


def constant_fill(value: Any) -> Callable[[int, np.ndarray], None]:
    def fill(start: int, out: np.ndarray) -> None:
        out.fill(value)

    return fill


def diagonal_fill(rows: int, cols: int, value: float) -> Callable[[int, np.ndarray], None]:
    """``value`` on the main diagonal of a (rows, cols) matrix, zero elsewhere, by flat index."""
    stride = cols + 1
    diagonal = min(rows, cols)

    def fill(start: int, out: np.ndarray) -> None:
        out.fill(0)
        first = -(-start // stride)
        last = min(diagonal, -(-(start + out.size) // stride))
        if last > first:
            out[np.arange(first, last) * stride - start] = value

    return fill


def table_fill(table: np.ndarray, shape: Sequence[int], axes: Sequence[int]) -> Callable[[int, np.ndarray], None]:
    """Values of a small ``table`` indexed by some axes of ``shape``, broadcast over the rest.

    ``table`` has one dimension per entry of ``axes`` (in order); e.g. an STFT kernel of
    shape (frame, channels, bins) is a (frame, bins) table broadcast over channels.
    """
    strides = [math.prod(shape[i + 1 :]) for i in range(len(shape))]
    flat_table = np.ascontiguousarray(table).reshape(-1)
    table_strides = [math.prod(table.shape[k + 1 :]) for k in range(table.ndim)]

    def fill(start: int, out: np.ndarray) -> None:
        index = np.arange(start, start + out.size, dtype=np.int64)
        position = np.zeros(out.size, dtype=np.int64)
        for k, axis in enumerate(axes):
            position += (index // strides[axis]) % shape[axis] * table_strides[k]
        out[...] = flat_table[position]

    return fill


def stft_table(frame_length: int, fft_length: int, side: str, window: Any, scaling: str | None,
               periodic: bool) -> np.ndarray:
    """Keras's STFT kernel as a (frame_length, fft_length) float64 table.

    ``kernel[t, f] = cos|sin(-2π·t·f / (2·(fft_length-1))) · w[t] / scale``, where ``w`` is
    the window (symmetric unless ``periodic``) and ``scale`` is sqrt(Σw²) for "density",
    Σ|w| for "spectrum", 1 otherwise.
    """
    time = np.arange(frame_length, dtype=np.float64)[:, None]
    freq = np.arange(fft_length, dtype=np.float64)[None, :] / ((fft_length - 1) * 2)
    args = -2.0 * time * freq * math.pi
    kernel = np.cos(args) if side == "real" else np.sin(args)
    if window is not None:
        from scipy.signal import get_window

        win = np.asarray(get_window(window, frame_length, fftbins=periodic), dtype=np.float64)
        kernel = kernel * win[:, None]
        if scaling == "density":
            kernel /= math.sqrt(float(np.sum(win * win)))
        elif scaling == "spectrum":
            kernel /= float(np.sum(np.abs(win)))
    return kernel
