"""The structured building blocks: dirac positions, position fills, sparse columns, orthogonal axes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from weightgen.linalg import (delta_orthogonal, dirac_positions, orthogonal_along, positions_fill,
                              sparse_columns)


def test_positions_fill_matches_a_dense_tensor_from_any_start():
    positions = np.array([0, 5, 6, 17, 40, 41], dtype=np.int64)
    dense = np.zeros(50)
    dense[positions] = 3
    fill = positions_fill(positions, 3)
    for start in range(0, 50, 7):
        block = np.full(min(7, 50 - start), -1.0)
        fill(start, block)
        assert np.array_equal(block, dense[start : start + block.size])


@pytest.mark.parametrize("shape,groups", [((4, 2, 3), 2), ((6, 4, 3, 4), 3), ((2, 5, 2, 3, 4), 1)])
def test_dirac_positions_are_ascending_centres(shape, groups):
    positions = dirac_positions(shape, groups)
    assert np.all(np.diff(positions) > 0)
    indices = np.stack(np.unravel_index(positions, shape), axis=1)
    out_per_group = shape[0] // groups
    for out, inp, *kernel in indices:
        assert out % out_per_group == inp and kernel == [k // 2 for k in shape[2:]]
    assert positions.size == groups * min(out_per_group, shape[1])


def test_sparse_columns_zero_exactly_k_per_column_and_depend_on_the_generator():
    shape = (50, 300_000 // 50 + 3)  # more columns than one chunk
    normals = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    transform = sparse_columns(shape, 0.5, 7)
    a = transform(normals.copy(), np.dtype(np.float32), np.random.default_rng(1))
    b = transform(normals.copy(), np.dtype(np.float32), np.random.default_rng(1))
    c = transform(normals.copy(), np.dtype(np.float32), np.random.default_rng(2))
    assert np.all((a == 0).sum(axis=0) == 7)
    assert np.array_equal(a, b) and not np.array_equal(a == 0, c == 0)
    kept = a != 0
    assert np.array_equal(a[kept], 0.5 * normals[kept])


@pytest.mark.parametrize("shape,axis", [((6, 10), -1), ((10, 6), 0), ((3, 4, 5), 1), ((2, 3, 4, 5), 0)])
def test_orthogonal_along_any_axis(shape, axis):
    draw_shape, transform = orthogonal_along(shape, axis, 2.0)
    cols = shape[axis]
    rows = math.prod(shape) // cols
    assert draw_shape == (max(rows, cols), min(rows, cols))
    values = transform(np.random.default_rng(0).standard_normal(draw_shape), np.dtype(np.float64))
    assert values.shape == shape and values.flags.c_contiguous
    matrix = np.moveaxis(values, axis, -1).reshape(rows, cols)
    product = matrix.T @ matrix if rows >= cols else matrix @ matrix.T
    assert np.allclose(product, 4 * np.eye(min(rows, cols)))


def test_delta_orthogonal_puts_the_matrix_at_the_centre():
    draw_shape, transform = delta_orthogonal((4, 5, 3, 6), -1, 1.0, complex_values=True)
    assert draw_shape == (6, 3, 2)
    values = transform(np.random.default_rng(0).standard_normal(draw_shape), np.dtype(np.float32))
    assert values.dtype == np.complex64 and values.shape == (4, 5, 3, 6)
    middle = values[1, 2].astype(np.complex128)
    assert np.allclose(middle @ middle.conj().T, np.eye(3), atol=1e-6)
    assert np.count_nonzero(values) == 18


def reference_q(matrix: np.ndarray) -> np.ndarray:
    q, r = np.linalg.qr(matrix.astype(np.float64))
    return q * np.sign(np.diagonal(r))


@pytest.mark.parametrize("shape", [(1, 1), (5, 3), (64, 64), (200, 130), (700, 700), (1000, 300), (2000, 65)])
@pytest.mark.parametrize("dtype,tolerance", [(np.float32, 2e-5), (np.float64, 1e-12)])
def test_householder_q_is_the_sign_fixed_q_in_its_own_precision(shape, dtype, tolerance):
    from weightgen.linalg import householder_q

    matrix = np.random.default_rng(sum(shape)).standard_normal(shape).astype(dtype)
    expected = reference_q(matrix)
    q = householder_q(matrix.copy(), threads=3, scale=-2.0)
    assert q.dtype == dtype and q.shape == shape
    assert np.abs(q / -2.0 - expected).max() <= tolerance * max(1.0, math.sqrt(shape[1]))
    assert np.abs((q.T.astype(np.float64) @ q) / 4.0 - np.eye(shape[1])).max() <= 10 * tolerance


@pytest.mark.parametrize("shape", [(700, 700), (1200, 333)])
def test_householder_q_never_depends_on_the_thread_count(shape):
    from threadpoolctl import threadpool_limits

    from weightgen.linalg import householder_q

    matrix = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    with threadpool_limits(1, user_api="blas"):
        runs = [householder_q(matrix.copy(), threads) for threads in (1, 2, 5)]
    assert all(np.array_equal(run, runs[0]) for run in runs[1:])
