"""Matrix and structured initializers: orthogonal, identity, dirac, sparse, STFT kernels.

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


#: Columns per Householder panel of :func:`householder_q`.
PANEL = 128
#: Columns per piece of its trailing updates. Fixed, so the BLAS calls (and so the bits)
#: never depend on how many threads share the pieces. At least PANEL: the first piece
#: holds the next panel.
PIECE = 256


def orthonormal_columns(normals: np.ndarray, threads: int = 1) -> np.ndarray:
    """Q of the QR decomposition of a tall (rows >= cols) matrix, phases fixed by diag(R).

    Multiplying each column by sign(R_jj) (for complex matrices the phase R_jj/|R_jj|)
    makes Q Haar-distributed (Mezzadri 2007), as Keras, PyTorch and JAX all do. Real
    matrices are factorised in their own precision (float32 like PyTorch, Keras and JAX
    do, or float64) by :func:`householder_q`, overwriting ``normals``; complex ones in
    complex128 by LAPACK.
    """
    if np.iscomplexobj(normals):
        q, r = np.linalg.qr(normals.astype(np.complex128, copy=False))
        diagonal = np.diagonal(r)
        size = np.abs(diagonal)
        phases = np.where(size == 0, 1.0, diagonal / np.where(size == 0, 1.0, size))
        q *= phases
        return q
    if normals.dtype not in (np.float32, np.float64):
        normals = normals.astype(np.float64)
    return householder_q(np.ascontiguousarray(normals), threads)


def householder_q(a: np.ndarray, threads: int = 1, scale: float = 1.0) -> np.ndarray:
    """``scale`` times the Q of ``a = QR`` with diag(R) > 0, computed in place of ``a``.

    Blocked Householder QR, all of it BLAS-3: each panel of :data:`PANEL` columns is
    factorised by LAPACK's recursive ``geqrt`` (reflectors V and the triangular T of
    ``I - V T Vᵀ``), and the matrix right of it is updated with matrix products, in pieces
    of :data:`PIECE` columns shared by ``threads`` threads; Q is then accumulated in place
    the same way, panel by panel from the last (as LAPACK's ``orgqr`` does). Call it with
    BLAS on one thread: the pieces are fixed, so the values never depend on ``threads``.
    (CholeskyQR2 in float64 does twice the work of this in a precision half as fast, and
    a square Gaussian matrix is too ill-conditioned for CholeskyQR in float32.)
    """
    from scipy.linalg import lapack

    rows, cols = a.shape
    geqrt = lapack.dgeqrt if a.dtype == np.float64 else lapack.sgeqrt
    panels = [(start, min(cols, start + PANEL)) for start in range(0, cols, PANEL)]
    factors: list[np.ndarray] = []

    def factorise(index: int) -> None:
        """Factorise panel ``index`` in place; its T goes to ``factors``."""
        start, stop = panels[index]
        v, t, info = geqrt(stop - start, a[start:, start:stop])
        if info != 0:  # pragma: no cover - geqrt only fails on bad arguments
            raise RuntimeError(f"geqrt failed ({info})")
        a[start:, start:stop] = v
        factors.append(t)

    pool = _pool(threads)
    try:
        factorise(0)
        for index, (start, stop) in enumerate(panels):
            # Look-ahead: the first piece holds the next panel, which is factorised as soon
            # as that piece is updated, while the other pieces are still being updated.
            after_first = (lambda following=index + 1: factorise(following)) if index + 1 < len(panels) else None
            t = factors[index]
            _apply_reflectors(pool, a, start, stop, cols, _reflectors(a[start:, start:stop], stop - start),
                              t.T, after_first)
        signs = np.sign(np.diagonal(a)).astype(a.dtype)
        signs[signs == 0] = 1
        for (start, stop), t in zip(reversed(panels), reversed(factors)):
            width = stop - start
            reflectors = _reflectors(a[start:, start:stop], width)
            _apply_reflectors(pool, a, start, stop, cols, reflectors, t)
            block = reflectors @ (t @ -reflectors[:width].T)
            block[np.arange(width), np.arange(width)] += 1
            a[start:, start:stop] = block
            a[:start, start:stop] = 0
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    a *= signs * a.dtype.type(scale)
    return a


def _reflectors(factored: np.ndarray, width: int) -> np.ndarray:
    """V: the unit lower-trapezoidal part of a factorised panel (a copy)."""
    v = np.tril(factored, -1)
    v[np.arange(width), np.arange(width)] = 1
    return v


def _pool(threads: int) -> Any:
    if threads <= 1:
        return None
    from concurrent.futures import ThreadPoolExecutor

    return ThreadPoolExecutor(max_workers=threads, thread_name_prefix="weightgen-qr")


def _apply_reflectors(pool: Any, a: np.ndarray, start: int, stop: int, cols: int, v: np.ndarray,
                      t: np.ndarray, after_first: Callable[[], None] | None = None) -> None:
    """``a[start:, stop:] -= V (t (Vᵀ a[start:, stop:]))``, piece by piece; ``after_first``
    runs right after the first piece, on the same thread."""

    def piece(first: int) -> None:
        target = a[start:, first : min(cols, first + PIECE)]
        target -= v @ (t @ (v.T @ target))
        if first == stop and after_first is not None:
            after_first()

    firsts = range(stop, cols, PIECE)
    if pool is None:
        for first in firsts:
            piece(first)
    else:
        for future in [pool.submit(piece, first) for first in firsts]:
            future.result()


Transformer = Callable[..., Any]


def orthogonal_along(shape: Sequence[int], column_axis: int, gain: float,
                     complex_values: bool = False) -> tuple[tuple[int, ...], Transformer]:
    """A random (semi-)orthogonal tensor: ``column_axis`` against all other axes flattened.

    The matrix is ``(prod(other axes), shape[column_axis])``, with orthonormal columns when
    it is tall and orthonormal rows when it is wide (JAX's ``orthogonal(column_axis)``;
    Keras's is ``column_axis=-1``; PyTorch's, dim 0 against the rest, is ``column_axis=0``).
    Returns the shape of standard normals to draw, ``(max, min)`` (plus a trailing 2 for
    the real and imaginary parts of complex values), and the transform from them, which
    takes ``threads`` (see :class:`~weightgen.plan.Transform`'s ``threaded``).
    """
    axis = column_axis % len(shape)
    cols = shape[axis]
    rows = math.prod(shape) // cols
    draw_shape: tuple[int, ...] = (max(rows, cols), min(rows, cols))
    if complex_values:
        draw_shape += (2,)
    moved = (*shape[:axis], *shape[axis + 1 :], cols)

    def transform(normals: np.ndarray, work: np.dtype, threads: int = 1) -> np.ndarray:
        if complex_values:
            q = orthonormal_columns(normals[..., 0] + 1j * normals[..., 1])
            q *= gain
        else:
            q = householder_q(np.ascontiguousarray(normals), threads, gain)
        if rows < cols:
            q = q.T
        out_dtype = np.result_type(work, np.complex64) if complex_values else work
        result = q.astype(out_dtype, order="C", copy=False).reshape(moved)
        if axis != len(shape) - 1:
            result = np.ascontiguousarray(np.moveaxis(result, -1, axis))
        return result

    return draw_shape, transform


def orthogonal_last_axis(shape: Sequence[int], gain: float) -> tuple[tuple[int, ...], Transformer]:
    """Keras's orthogonal: the last axis against all others flattened."""
    return orthogonal_along(shape, -1, gain)


def delta_orthogonal(shape: Sequence[int], column_axis: int, scale: float,
                     complex_values: bool = False) -> tuple[tuple[int, ...], Transformer]:
    """JAX's delta orthogonal: zeros, and an orthogonal ``(in, out)`` matrix at the kernel centre.

    The centre of a kernel axis of size k is ``(k - 1) // 2``; ``column_axis`` is an axis
    of the ``(in, out)`` matrix.
    """
    draw_shape, matrix = orthogonal_along(shape[-2:], column_axis, scale, complex_values)
    centre = tuple((k - 1) // 2 for k in shape[:-2])

    def transform(normals: np.ndarray, work: np.dtype, threads: int = 1) -> np.ndarray:
        middle = matrix(normals, work, threads)
        tensor = np.zeros(shape, dtype=middle.dtype)
        tensor[centre] = middle
        return tensor

    return draw_shape, transform


def sparse_columns(shape: Sequence[int], std: float, zeros: int) -> Transformer:
    """PyTorch's sparse: normal(0, std) values with exactly ``zeros`` zeros in every column.

    The zero rows of each column are a uniformly random subset, chosen from the auxiliary
    generator as the ``zeros`` smallest of one uniform key per element (column by column,
    in chunks), so the result depends on the seed alone.
    """
    rows, cols = shape
    chunk = max(1, (1 << 22) // rows)

    def transform(normals: np.ndarray, work: np.dtype, rng: np.random.Generator) -> np.ndarray:
        values = normals.astype(work, copy=False)
        values *= work.type(std)
        if zeros >= rows:
            values[...] = 0
        elif zeros > 0:
            for start in range(0, cols, chunk):
                stop = min(cols, start + chunk)
                keys = rng.random((stop - start, rows))
                picked = np.argpartition(keys, zeros - 1, axis=1)[:, :zeros]
                values[picked, np.arange(start, stop)[:, None]] = 0
        return values

    return transform


def dirac_positions(shape: Sequence[int], groups: int) -> np.ndarray:
    """Flat indices of PyTorch dirac's ones, ascending: ``[g·(out/groups) + d, d, centre]``.

    The centre of a kernel axis of size k is ``k // 2``.
    """
    out_per_group = shape[0] // groups
    count = min(out_per_group, shape[1])
    kernel = shape[2:]
    centre = 0
    for size in kernel:
        centre = centre * size + size // 2
    group, channel = np.meshgrid(np.arange(groups, dtype=np.int64),
                                 np.arange(count, dtype=np.int64), indexing="ij")
    row = group * out_per_group + channel
    return ((row * shape[1] + channel) * math.prod(kernel) + centre).reshape(-1)


def positions_fill(positions: np.ndarray, value: Any) -> Callable[[int, np.ndarray], None]:
    """``value`` at the given ascending flat positions, zero elsewhere."""

    def fill(start: int, out: np.ndarray) -> None:
        out.fill(0)
        first, last = np.searchsorted(positions, [start, start + out.size])
        out[positions[first:last] - start] = value

    return fill


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
