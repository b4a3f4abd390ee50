"""Writers of several entries: one container opened once, filled, committed once, atomically."""

from __future__ import annotations

import io
import os
import sys
import zipfile

import h5py
import ml_dtypes
import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from conftest import entry_names as names

from weightgen import formats
from weightgen.errors import DtypeError, OutputError, ParameterError, UsageError
from weightgen.formats import atomic
from weightgen.formats.base import Entry

CONTAINERS = {"npz": ".npz", "hdf5": ".h5", "safetensors": ".safetensors"}


def tensors() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(5)
    return {"dense/kernel": rng.standard_normal((300, 200), dtype=np.float32),
            "dense/bias": np.arange(200, dtype=np.float32),
            "scale": np.float64(2.5).reshape(()),
            "half": rng.standard_normal((17,)).astype(np.float16)}


def entry(name: str, array: np.ndarray, **metadata) -> Entry:
    return Entry(name, array.shape, str(array.dtype), {"initializer": "test", "stream_version": 1, **metadata})


def read(path, name: str) -> np.ndarray:
    path = str(path)
    if path.endswith(".npz"):
        with np.load(path, allow_pickle=False) as archive:
            return archive[name]
    if path.endswith(".h5"):
        with h5py.File(path, "r") as file:
            return file[name][()]
    return load_file(path)[name]


def write_all(format_name: str, target, arrays: dict[str, np.ndarray], force: bool = False, block: int = 7001):
    """Write ``arrays`` through one session, in the order it asks for, in odd-sized blocks."""
    entries = {name: entry(name, array) for name, array in arrays.items()}
    with formats.open_session(format_name, str(target), list(entries.values()), force) as writer:
        for item in writer.order:
            writer.start(item)
            flat = arrays[item.name].reshape(-1)
            for start in range(0, flat.size, block):
                writer.write(flat[start:start + block])
    return writer


@pytest.mark.parametrize("format_name", CONTAINERS)
def test_several_entries_in_one_session_read_back_by_each_client(tmp_path, format_name):
    target = tmp_path / f"m{CONTAINERS[format_name]}"
    arrays = tensors()
    write_all(format_name, target, arrays)
    assert sorted(names(target)) == sorted(arrays)
    for name, array in arrays.items():
        back = read(target, name)
        assert back.dtype == array.dtype and back.shape == array.shape
        assert np.array_equal(back, array), name
    assert formats.read_entries(str(target))["dense/bias"]["initializer"] == "test"


@pytest.mark.parametrize("format_name", CONTAINERS)
def test_nothing_is_visible_until_the_one_commit(tmp_path, format_name, monkeypatch):
    target = tmp_path / f"m{CONTAINERS[format_name]}"
    arrays = tensors()
    write_all(format_name, target, {"old": arrays["dense/bias"]})
    before = target.read_bytes()
    commits = []
    original = atomic.AtomicFile.commit
    monkeypatch.setattr(atomic.AtomicFile, "commit", lambda self: (commits.append(self.path), original(self))[1])
    entries = {name: entry(name, array) for name, array in arrays.items()}
    with formats.open_session(format_name, str(target), list(entries.values())) as writer:
        for item in writer.order:
            writer.start(item)
            writer.write(arrays[item.name].reshape(-1))
            assert target.read_bytes() == before  # the old file, untouched, until the commit
            assert os.path.exists(atomic.lock_path_for(str(target)))  # one lock held throughout
    assert commits == [str(target)]
    assert not os.path.exists(atomic.lock_path_for(str(target)))
    assert sorted(names(target)) == sorted(["old", *arrays])
    assert np.array_equal(read(target, "old"), arrays["dense/bias"])


@pytest.mark.parametrize("format_name", CONTAINERS)
def test_a_failure_midway_leaves_the_file_as_it_was(tmp_path, format_name):
    target = tmp_path / f"m{CONTAINERS[format_name]}"
    arrays = tensors()
    write_all(format_name, target, {"old": arrays["dense/bias"]})
    before = target.read_bytes()
    entries = [entry(name, array) for name, array in arrays.items()]
    with pytest.raises(RuntimeError, match="boom"):
        with formats.open_session(format_name, str(target), entries) as writer:
            first = writer.order[0]
            writer.start(first)
            writer.write(arrays[first.name].reshape(-1))
            raise RuntimeError("boom")
    assert target.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == [target.name]


@pytest.mark.parametrize("format_name", CONTAINERS)
def test_adding_several_entries_keeps_the_others_and_force_replaces_in_place(tmp_path, format_name):
    target = tmp_path / f"m{CONTAINERS[format_name]}"
    arrays = tensors()
    write_all(format_name, target, {"a": arrays["dense/bias"], "b": arrays["half"], "c": arrays["dense/bias"] * 2})
    with pytest.raises(OutputError, match="already has an entry named 'b'"):
        write_all(format_name, target, {"new": arrays["dense/bias"], "b": arrays["half"] * 3})
    assert sorted(names(target)) == ["a", "b", "c"]
    write_all(format_name, target, {"new": arrays["dense/kernel"], "b": arrays["half"] * 3}, force=True)
    assert np.array_equal(read(target, "b"), arrays["half"] * 3)
    assert np.array_equal(read(target, "new"), arrays["dense/kernel"])
    assert np.array_equal(read(target, "c"), arrays["dense/bias"] * 2)
    if format_name == "npz":  # the replaced member keeps its place, the new one comes last
        assert names(target) == ["a", "b", "c", "new"]


def test_safetensors_asks_for_its_layout_order_and_refuses_another(tmp_path):
    target = tmp_path / "m.safetensors"
    small, wide = np.ones(3, np.float16), np.ones(3, np.float64)
    entries = [entry("z16", small), entry("a16", small), entry("m64", wide)]
    writer = formats.open_session("safetensors", str(target), entries)
    assert [e.name for e in writer.order] == ["m64", "a16", "z16"]  # widest first, then by name
    with pytest.raises(ValueError, match="in writer.order"):
        writer.start(entries[0])
    assert not target.exists() and os.listdir(tmp_path) == []


def test_safetensors_session_matches_the_library_layout(tmp_path):
    arrays = tensors()
    arrays.pop("scale")
    ours, theirs = tmp_path / "ours.safetensors", tmp_path / "theirs.safetensors"
    write_all("safetensors", ours, arrays)
    save_file(arrays, str(theirs))
    with open(ours, "rb") as a, open(theirs, "rb") as b:
        from weightgen.formats.safetensors import read_header

        mine, library = read_header(a), read_header(b)
    assert [(t.name, t.start, t.end) for t in mine.tensors] == [(t.name, t.start, t.end) for t in library.tensors]


def test_commit_before_every_entry_is_written_is_refused_and_writes_nothing(tmp_path):
    target = tmp_path / "m.npz"
    arrays = tensors()
    writer = formats.open_session("npz", str(target), [entry(n, a) for n, a in arrays.items()])
    writer.start(writer.order[0])
    writer.write(arrays[writer.order[0].name].reshape(-1))
    with pytest.raises(ValueError, match="missing"):
        writer.commit()
    assert os.listdir(tmp_path) == []


def test_write_before_start_is_refused(tmp_path):
    writer = formats.open_session("npz", str(tmp_path / "m.npz"), [entry("a", np.ones(3, np.float32))])
    with pytest.raises(ValueError, match="before start"):
        writer.write(np.ones(3, np.float32))
    assert os.listdir(tmp_path) == []


def test_an_hdf5_entry_that_cannot_be_added_is_refused_before_any_data(tmp_path):
    target = tmp_path / "m.h5"
    write_all("hdf5", target, {"dense": np.ones(3, np.float32)})
    before = target.read_bytes()
    entries = [entry("ok", np.ones(3, np.float32)), entry("dense/kernel", np.ones(3, np.float32))]
    with pytest.raises(OutputError, match="'dense' is a dataset, not a group"):
        formats.open_session("hdf5", str(target), entries)
    assert target.read_bytes() == before


def test_names_that_clash_within_one_session_are_usage_errors(tmp_path):
    one = np.ones(2, np.float32)
    with pytest.raises(ParameterError, match="cannot both be HDF5 datasets"):
        formats.open_session("hdf5", str(tmp_path / "m.h5"), [entry("a", one), entry("a/b", one)])
    with pytest.raises(UsageError, match="'a//b' and 'a/b' are the same hdf5 entry"):
        formats.open_session("hdf5", str(tmp_path / "m.h5"), [entry("a//b", one), entry("a/b", one)])
    with pytest.raises(UsageError, match="'x' is the same npz entry, given twice"):
        formats.open_session("npz", str(tmp_path / "m.npz"), [entry("x", one), entry("x", one)])
    with pytest.raises(UsageError, match=r"\.npy holds one array, not 2"):
        formats.open_session("npy", str(tmp_path / "m.npy"), [entry("x", one), entry("y", one)])
    assert os.listdir(tmp_path) == []


def test_check_entries_refuses_up_front_what_a_session_would(tmp_path):
    target = tmp_path / "m.npz"
    write_all("npz", target, {"a": np.ones(2, np.float32)})
    fine = [Entry("b", (2,), "float32"), Entry("c", (2,), "float32", compression="gzip")]
    formats.check_entries("npz", str(target), fine, force=False)
    with pytest.raises(OutputError, match="already has an entry named 'a'"):
        formats.check_entries("npz", str(target), [*fine, Entry("a", (2,), "float32")], force=False)
    formats.check_entries("npz", str(target), [*fine, Entry("a", (2,), "float32")], force=True)
    with pytest.raises(DtypeError, match="bfloat16"):
        formats.check_entries("npz", str(target), [Entry("d", (2,), "bfloat16")], force=True)
    with pytest.raises(UsageError, match="safetensors is not compressed"):
        formats.check_entries("safetensors", str(tmp_path / "m.safetensors"),
                              [Entry("d", (2,), "float32", compression="gzip")], force=False)


@pytest.mark.parametrize("format_name", ["npz", "safetensors"])
def test_several_entries_stream_to_stdout(monkeypatch, format_name):
    buffer = io.BytesIO()
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(buffer))
    arrays = {"w": np.arange(12, dtype=np.float32).reshape(3, 4), "b": np.ones(4, np.float16)}
    write_all(format_name, "-", arrays)
    data = buffer.getvalue()
    if format_name == "npz":
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            back = {k: archive[k] for k in archive.files}
    else:
        from safetensors.numpy import load

        back = load(data)
    assert sorted(back) == ["b", "w"] and all(np.array_equal(back[k], arrays[k]) for k in arrays)


def test_bfloat16_entries_in_one_hdf5_session_are_stored_as_keras_stores_them(tmp_path):
    target = tmp_path / "m.h5"
    values = np.linspace(-1, 1, 10).astype(ml_dtypes.bfloat16)
    write_all("hdf5", target, {"a": values, "b": np.ones(3, np.float32)})
    with h5py.File(target, "r") as file:
        assert file["a"].attrs["dtype"] == "bfloat16" and "dtype" not in file["b"].attrs
        assert np.array_equal(np.array(file["a"]).view(ml_dtypes.bfloat16), values)


def test_single_entry_writer_is_a_session_of_one(tmp_path):
    target = tmp_path / "m.npz"
    one = np.arange(5, dtype=np.float32)
    with formats.open_writer("npz", str(target), entry("only", one)) as writer:
        assert [e.name for e in writer.order] == ["only"] and writer.entry.name == "only"
        writer.write(one)
    with zipfile.ZipFile(target) as archive:
        assert archive.namelist() == ["only.npy"]
    assert np.array_equal(read(target, "only"), one)
