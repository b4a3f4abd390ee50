"""HDF5: hyperslab pieces, chunks, groups, compression, bfloat16 the Keras way, write failures."""

from __future__ import annotations

import errno
import importlib.util
import math
import os
import shutil
import subprocess
import sys
import textwrap

import h5py
import ml_dtypes
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import weightgen
from weightgen.errors import OutputError
from weightgen.formats import hdf5


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(1, 6), min_size=0, max_size=4), st.data())
def test_flat_pieces_cover_a_run_exactly_in_order(shape, data):
    shape = tuple(shape)
    size = math.prod(shape)
    start = data.draw(st.integers(0, size))
    stop = data.draw(st.integers(start, size))
    grid = np.arange(size).reshape(shape)
    covered = [grid[index].reshape(-1) if index else grid.reshape(-1) for index in hdf5.flat_pieces(shape, start, stop)]
    flat = np.concatenate(covered) if covered else np.array([], int)
    assert flat.tolist() == list(range(start, stop))


@pytest.mark.parametrize("shape,itemsize,expected", [
    ((8192, 8192), 4, (32, 8192)),
    ((3, 3, 8, 16), 4, (3, 3, 8, 16)),
    ((2, 10**9), 2, (1, 524288)),
    ((7,), 8, (7,)),
])
def test_chunks_are_contiguous_runs_of_about_a_mebibyte(shape, itemsize, expected):
    chunks = hdf5.chunk_shape(shape, itemsize)
    assert chunks == expected
    assert math.prod(chunks) * itemsize <= hdf5.CHUNK_BYTES


def test_dataset_is_chunked_with_groups_created(tmp_path):
    target = tmp_path / "m.h5"
    weightgen.generate("glorot_uniform", (512, 300), seed=1, output=str(target), name="/model//dense_1/kernel/")
    with h5py.File(target, "r") as file:
        dataset = file["model/dense_1/kernel"]
        assert isinstance(file["model/dense_1"], h5py.Group)
        assert dataset.chunks == (512, 300) and dataset.compression is None


@pytest.mark.parametrize("compression", ["gzip", "lzf"])
def test_compression(tmp_path, compression):
    target = tmp_path / "m.h5"
    weightgen.generate("zeros", (1000, 1000), output=str(target), compression=compression)
    with h5py.File(target, "r") as file:
        assert file["weight"].compression == compression
        assert not file["weight"][...].any()
    assert os.path.getsize(target) < 1000 * 1000 * 4 / 20


def test_scalar_dataset(tmp_path):
    target = tmp_path / "m.h5"
    weightgen.generate("constant", (), value=2.5, output=str(target), compression="gzip")
    with h5py.File(target, "r") as file:
        assert file["weight"].shape == () and file["weight"][()] == 2.5


def test_a_name_that_is_a_group_or_below_a_dataset_is_refused(tmp_path):
    target = tmp_path / "m.h5"
    weightgen.generate("zeros", (2,), output=str(target), name="dense/kernel")
    original = target.read_bytes()
    with pytest.raises(OutputError, match="'dense' .*is a group there"):
        weightgen.generate("zeros", (2,), output=str(target), name="dense", force=True)
    with pytest.raises(OutputError, match="'dense/kernel' is a dataset, not a group"):
        weightgen.generate("zeros", (2,), output=str(target), name="dense/kernel/x")
    assert target.read_bytes() == original and os.listdir(tmp_path) == ["m.h5"]


def test_other_objects_attributes_and_links_survive_an_update(tmp_path):
    target = tmp_path / "model.weights.h5"
    with h5py.File(target, "w") as file:
        file.attrs["keras_version"] = "3.0"
        group = file.create_group("layers/dense/vars")
        group.attrs["name"] = "dense"
        group["0"] = np.arange(12, dtype=np.float32).reshape(3, 4)
        file["alias"] = h5py.SoftLink("/layers/dense/vars/0")
    weightgen.generate("ones", (4,), output=str(target), name="layers/dense/vars/1")
    with h5py.File(target, "r") as file:
        assert file.attrs["keras_version"] == "3.0" and file["layers/dense/vars"].attrs["name"] == "dense"
        assert np.array_equal(file["alias"][...], np.arange(12).reshape(3, 4))
        assert isinstance(file.get("alias", getlink=True), h5py.SoftLink)
        assert np.array_equal(file["layers/dense/vars/1"][...], np.ones(4))


def test_replacing_a_dataset_reuses_its_space(tmp_path):
    """A file weightgen created tracks its free space: replacing a 256 KiB dataset again and
    again reuses the space instead of growing the file by a dataset each time."""
    target = tmp_path / "m.h5"
    weightgen.generate("he_normal", (256, 256), seed=1, output=str(target), name="a")
    weightgen.generate("zeros", (8,), output=str(target), name="b")
    sizes = [os.path.getsize(target)]
    for seed in range(6):
        weightgen.generate("he_normal", (256, 256), seed=seed, output=str(target), name="a", force=True)
        sizes.append(os.path.getsize(target))
    assert sizes[-1] - sizes[0] <= 256 * 256 * 4 + 8192
    assert sizes[-1] - sizes[2] <= 8192


def test_bfloat16_is_stored_as_keras_stores_it(tmp_path):
    target = tmp_path / "m.h5"
    expected = weightgen.generate("glorot_uniform", (3, 4), seed=2, dtype="bfloat16").array
    weightgen.generate("glorot_uniform", (3, 4), seed=2, dtype="bfloat16", output=str(target), name="k")
    with h5py.File(target, "r") as file:
        dataset = file["k"]
        assert dataset.attrs["dtype"] == "bfloat16"
        kind = dataset.id.get_type()
        assert kind.get_class() == h5py.h5t.OPAQUE and kind.get_size() == 2
        # what h5py makes of the array Keras hands it (keras.src.saving.saving_lib.H5Entry)
        reference = file.parent.file  # noqa: F841 - keep the file open
    with h5py.File(tmp_path / "keras.h5", "w") as file:
        file.create_dataset("k", data=expected)
        keras_type = file["k"].id.get_type()
        assert keras_type.get_class() == kind.get_class() and keras_type.get_tag() == kind.get_tag()
    with h5py.File(target, "r") as file:
        values = np.array(file["k"], dtype=ml_dtypes.bfloat16)
    assert values.dtype == ml_dtypes.bfloat16 and values.tobytes() == expected.tobytes()


def _keras_backend() -> str | None:
    if importlib.util.find_spec("keras") is None:
        return None
    for backend, module in (("torch", "torch"), ("jax", "jax"), ("tensorflow", "tensorflow")):
        if importlib.util.find_spec(module) is not None:
            return backend
    return None


@pytest.mark.skipif(_keras_backend() is None, reason="keras with a backend is not installed")
def test_keras_loads_weights_weightgen_wrote(tmp_path):
    """A Keras model's .weights.h5, its kernel and bias replaced by weightgen, loads into Keras."""
    script = textwrap.dedent(f"""
        import subprocess, sys, numpy as np, keras, ml_dtypes
        import weightgen
        model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(4, dtype="bfloat16"),
                                  keras.layers.Dense(3)])
        path = {str(tmp_path / "m.weights.h5")!r}
        model.save_weights(path)
        weightgen.generate("glorot_uniform", (6, 4), seed=1, dtype="bfloat16", output=path,
                           name="layers/dense/vars/0", force=True)
        weightgen.generate("ones", (4,), dtype="bfloat16", output=path, name="layers/dense/vars/1", force=True)
        weightgen.generate("he_normal", (4, 3), seed=2, output=path, name="layers/dense_1/vars/0", force=True)
        model.load_weights(path)
        kernel, bias = (np.asarray(keras.ops.convert_to_numpy(v)) for v in model.layers[0].weights)
        assert kernel.dtype == ml_dtypes.bfloat16, kernel.dtype
        assert kernel.tobytes() == weightgen.generate("glorot_uniform", (6, 4), seed=1, dtype="bfloat16").array.tobytes()
        assert (bias == 1).all()
        second = np.asarray(keras.ops.convert_to_numpy(model.layers[1].weights[0]))
        assert np.array_equal(second, weightgen.generate("he_normal", (4, 3), seed=2).array)
        print("ok")
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env={**os.environ, "KERAS_BACKEND": _keras_backend()}, timeout=300)
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), done.stderr[-3000:]


@pytest.mark.skipif(shutil.which("h5dump") is None, reason="h5dump (hdf5-tools) is not installed")
def test_h5dump_reads_the_file(tmp_path):
    target = tmp_path / "m.h5"
    weightgen.generate("constant", (2, 3), value=1.5, output=str(target), name="conv1/kernel", seed=3,
                       compression="gzip")
    weightgen.generate("glorot_uniform", (2, 2), dtype="bfloat16", output=str(target), name="conv1/bf16", seed=3)
    done = subprocess.run(["h5dump", str(target)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert 'DATASET "kernel"' in done.stdout and "H5T_IEEE_F32LE" in done.stdout
    assert "1.5, 1.5, 1.5" in done.stdout and 'ATTRIBUTE "initializer"' in done.stdout
    assert '"constant"' in done.stdout and "H5T_OPAQUE" in done.stdout


class _FullDisk:
    """``os.pwrite`` that fails with ENOSPC after ``allowed`` calls."""

    def __init__(self, allowed: int) -> None:
        self.allowed = allowed
        self.real = os.pwrite

    def __call__(self, fd, data, offset):
        self.allowed -= 1
        if self.allowed < 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        return self.real(fd, data, offset)


@pytest.mark.parametrize("when", [0, 1, 2, 0.5, 1.0])
def test_a_full_disk_is_one_error_and_the_file_is_untouched(tmp_path, monkeypatch, when):
    """HDF5 never sees the failure (it would crash on close); weightgen reports it once.

    ``when``: the write that fails, by count or (a float) as a share of all of them.
    """
    target = tmp_path / "m.h5"
    weightgen.generate("ones", (5,), output=str(target), name="kept")
    original = target.read_bytes()
    counter = _FullDisk(10**9)
    monkeypatch.setattr(hdf5.os, "pwrite", counter)
    shutil.copy(target, tmp_path / "count.h5")
    weightgen.generate("random_normal", (600, 1000), seed=1, output=str(tmp_path / "count.h5"), name="new")
    os.unlink(tmp_path / "count.h5")
    writes = 10**9 - counter.allowed
    allowed = when if isinstance(when, int) else int(when * writes) - 1
    monkeypatch.setattr(hdf5.os, "pwrite", _FullDisk(allowed))
    with pytest.raises(OutputError, match=f"cannot write {target}: No space left on device"):
        weightgen.generate("random_normal", (600, 1000), seed=1, output=str(target), name="new")
    monkeypatch.undo()
    assert target.read_bytes() == original and os.listdir(tmp_path) == ["m.h5"]
    weightgen.generate("zeros", (2,), output=str(target), name="after")  # still usable
    with h5py.File(target, "r") as file:
        assert sorted(file) == ["after", "kept"]
