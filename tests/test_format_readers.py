"""The readers: files written by numpy, h5py and safetensors themselves, read back value for value,
in bounded chunks, from paths and pipes; hostile files refused in one line without a big allocation."""

from __future__ import annotations

import io
import json
import os
import re
import struct
import sys
import threading
import tracemalloc
import zipfile

import h5py
import ml_dtypes
import numpy as np
import pytest
from safetensors.numpy import save_file

import weightgen
from weightgen import formats
from weightgen.errors import InputError, OutputError, UsageError

SHAPES = [(), (0,), (7,), (5, 3, 2)]
DTYPES = [np.float16, np.float32, np.float64, np.int8, np.uint16, np.complex64, np.bool_]


def values_of(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    data = rng.standard_normal(shape) * 10
    if np.dtype(dtype).kind == "c":
        data = data + 1j * rng.standard_normal(shape)
    return np.asarray(data).astype(dtype)


def read_all(path, max_bytes=64):
    """name -> (entry, values in storage order), reading in tiny chunks."""
    out = {}
    with formats.open_reader(str(path)) as reader:
        for entry in reader.entries():
            chunks = list(entry.chunks(max_bytes))
            if entry.skipped is None:
                assert all(c.nbytes <= max(max_bytes, entry.dtype.itemsize) for c in chunks)
            values = np.concatenate(chunks) if chunks else np.empty(0, entry.dtype)
            out[entry.name] = (entry, values)
    return out, reader.format_label


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_npy_and_npz_written_by_numpy(tmp_path, shape, dtype):
    array = values_of(shape, dtype)
    np.save(tmp_path / "a.npy", array)
    np.savez(tmp_path / "a.npz", first=array, second=array[..., None] if shape else array)
    np.savez_compressed(tmp_path / "c.npz", first=array)
    found, label = read_all(tmp_path / "a.npy")
    entry, values = found[None]
    assert label == "npy" and entry.shape == shape and entry.dtype == array.dtype
    assert np.array_equal(values, array.ravel())
    for name in ("a.npz", "c.npz"):
        found, label = read_all(tmp_path / name)
        assert label == "npz" and np.array_equal(found["first"][1], array.ravel())


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_hdf5_written_by_h5py(tmp_path, shape, dtype):
    array = values_of(shape, dtype)
    with h5py.File(tmp_path / "a.h5", "w") as file:
        file.create_dataset("plain", data=array)
        if shape and 0 not in shape:
            file.create_dataset("deep/er/chunked", data=array, chunks=(1,) * len(shape), compression="gzip")
    found, label = read_all(tmp_path / "a.h5")
    assert label == "hdf5"
    for name in found:
        entry, values = found[name]
        assert entry.shape == shape and np.array_equal(values, array.ravel())
    assert ("deep/er/chunked" in found) == bool(shape and 0 not in shape)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, np.int8, np.uint16, ml_dtypes.bfloat16,
                                   np.bool_])
def test_safetensors_written_by_safetensors(tmp_path, dtype):
    tensors = {"b": values_of((4, 3), dtype), "a.weight": values_of((2,), dtype, 1), "s": values_of((), dtype)}
    save_file(tensors, str(tmp_path / "a.safetensors"), metadata={"format": "np"})
    found, label = read_all(tmp_path / "a.safetensors")
    assert label == "safetensors" and set(found) == set(tensors)
    for name, array in tensors.items():
        entry, values = found[name]
        assert entry.shape == array.shape and entry.dtype == array.dtype
        assert np.array_equal(values.view(np.uint8), np.ascontiguousarray(array).reshape(-1).view(np.uint8))


def test_fortran_order_is_read_in_storage_order_and_flagged(tmp_path):
    array = np.asfortranarray(np.arange(12, dtype=np.float32).reshape(3, 4))
    np.save(tmp_path / "f.npy", array)
    entry, values = read_all(tmp_path / "f.npy")[0][None]
    assert entry.fortran_order and np.array_equal(values, array.ravel(order="F"))


def test_bfloat16_in_hdf5_as_keras_stores_it(tmp_path):
    array = values_of((6, 5), ml_dtypes.bfloat16)
    with h5py.File(tmp_path / "k.h5", "w") as file:
        dataset = file.create_dataset("vars/0", data=array)  # 2-byte opaque
        dataset.attrs["dtype"] = "bfloat16"
        file.create_dataset("raw", data=array)  # the same bytes without Keras's mark
    found, _ = read_all(tmp_path / "k.h5")
    entry, values = found["vars/0"]
    assert entry.dtype == np.dtype(ml_dtypes.bfloat16) and np.array_equal(values, array.ravel())
    assert found["raw"][0].skipped is not None and "raw bytes" in found["raw"][0].skipped


def test_entries_that_hold_no_numbers_are_skipped_with_a_reason(tmp_path):
    np.savez(tmp_path / "m.npz", text=np.array(["a", "bc"]), ok=np.ones(2), bf=np.zeros(2, ml_dtypes.bfloat16))
    with h5py.File(tmp_path / "m.h5", "w") as file:
        file["name"] = "a string"
        file.create_dataset("record", data=np.zeros(2, dtype=[("x", "f4"), ("y", "i4")]))
        file.create_dataset("empty", data=h5py.Empty("f4"))
        file["ok"] = np.ones(3)
    for name, expected in (("m.npz", {"text": "text", "bf": "bfloat16", "ok": None}),
                           ("m.h5", {"name": "strings", "record": "record", "empty": "no values", "ok": None})):
        found, _ = read_all(tmp_path / name)
        for key, reason in expected.items():
            skipped = found[key][0].skipped
            assert (skipped is None) if reason is None else (reason in skipped), (key, skipped)


def test_datasets_stored_in_other_files_are_not_followed(tmp_path):
    """External raw storage or a virtual dataset could point at any file on the machine."""
    secret = tmp_path / "secret.bin"
    secret.write_bytes(np.arange(16, dtype=np.float32).tobytes())
    with h5py.File(tmp_path / "ext.h5", "w") as file:
        file.create_dataset("external", shape=(16,), dtype="f4", external=[(str(secret), 0, 64)])
        layout = h5py.VirtualLayout(shape=(4,), dtype="f4")
        layout[:] = h5py.VirtualSource(str(tmp_path / "other.h5"), "x", shape=(4,))
        file.create_virtual_dataset("virtual", layout)
        file["inside"] = np.ones(2)
    found, _ = read_all(tmp_path / "ext.h5")
    assert "other files" in found["external"][0].skipped and "other files" in found["virtual"][0].skipped
    assert found["inside"][0].skipped is None


def test_format_is_recognised_by_content_not_extension(tmp_path):
    np.save(tmp_path / "weights.npy", np.ones(3))
    os.rename(tmp_path / "weights.npy", tmp_path / "weights.bin")
    save_file({"w": np.ones(2, np.float32)}, str(tmp_path / "really.npy"))
    with h5py.File(tmp_path / "ub.h5", "w", userblock_size=512) as file:
        file["x"] = np.arange(3.0)
    assert read_all(tmp_path / "weights.bin")[1] == "npy"
    assert read_all(tmp_path / "really.npy")[1] == "safetensors"
    assert read_all(tmp_path / "ub.h5")[1] == "hdf5"


@pytest.fixture
def stdin_pipe(monkeypatch):
    """Feed bytes to ``sys.stdin`` through a real pipe (not seekable), written by a thread."""
    threads = []

    def feed(data: bytes) -> None:
        read_end, write_end = os.pipe()

        def write() -> None:
            with os.fdopen(write_end, "wb") as out:
                try:
                    out.write(data)
                except BrokenPipeError:
                    pass

        thread = threading.Thread(target=write, daemon=True)
        thread.start()
        threads.append(thread)
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(os.fdopen(read_end, "rb")))

    yield feed
    for thread in threads:
        thread.join(5)


@pytest.mark.parametrize("format_name", ["npy", "npz", "hdf5", "safetensors"])
def test_stdin_of_every_format(tmp_path, stdin_pipe, format_name):
    array = values_of((300, 70), np.float32)
    path = tmp_path / f"x.{format_name}"
    if format_name == "npy":
        np.save(path, array)
    elif format_name == "npz":
        np.savez(path, w=array)
    elif format_name == "hdf5":
        with h5py.File(path, "w") as file:
            file["w"] = array
    else:
        save_file({"skipped": np.ones(5, np.float32), "w": array}, str(path))
    stdin_pipe(path.read_bytes())
    with formats.open_reader("-") as reader:
        assert reader.source.label == "stdin"
        assert reader.source.seekable == (format_name in ("npz", "hdf5"))
        entries = [(e, np.concatenate(list(e.chunks(1000)))) for e in reader.entries() if e.name != "skipped"]
    assert len(entries) == 1 and np.array_equal(entries[0][1], array.ravel())


def test_stdin_that_ends_early_is_a_truncated_file(stdin_pipe):
    buffer = io.BytesIO()
    np.save(buffer, np.ones(10_000, np.float32))
    stdin_pipe(buffer.getvalue()[:-100])
    with pytest.raises(InputError, match=r"^cannot read stdin: not a valid npy file \(truncated: 100 bytes"):
        with formats.open_reader("-") as reader:
            for entry in reader.entries():
                list(entry.chunks())


def test_stdin_that_is_empty_or_a_terminal(stdin_pipe, monkeypatch):
    stdin_pipe(b"")
    with pytest.raises(InputError, match="stdin: it is empty"):
        with formats.open_reader("-"):
            pass

    class Terminal(io.BytesIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(Terminal()))
    with pytest.raises(UsageError, match="terminal"):
        with formats.open_reader("-"):
            pass


def npy_bytes(shape, descr="<f4", data=b"", fortran=False) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": descr, "fortran_order": fortran, "shape": shape})
    return buffer.getvalue() + data


def safetensors_bytes(header: dict, data: bytes = b"") -> bytes:
    text = json.dumps(header).encode()
    return len(text).to_bytes(8, "little") + text + data


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def central_directory_claiming(size: int) -> bytes:
    data = bytearray(zip_bytes({"a.npy": npy_bytes((2,), data=bytes(8))}))
    end = data.rfind(b"PK\x05\x06")
    struct.pack_into("<I", data, end + 12, size)
    return bytes(data)


HOSTILE = {
    "wrong magic.npy": (b"hello, not numpy at all", "not a valid npy file (unrecognised first bytes)"),
    "unknown.dat": (b"\x00\x01\x02" * 10, "not an .npy, .npz, HDF5 or .safetensors file"),
    "claims a petabyte.npy": (npy_bytes((10**15,), data=bytes(64)),
                              "the header promises 4000000000000000 bytes of data, the file holds 64"),
    "huge header.npy": (b"\x93NUMPY\x02\x00" + (10**9).to_bytes(4, "little") + b"{", "header of 1000000000 bytes"),
    "bad header.npy": (b"\x93NUMPY\x01\x00\x10\x00{'descr': __import", "not a Python literal"),
    "negative shape.npy": (npy_bytes((3,)).replace(b"(3,)", b"(-3,)"), "bad shape"),
    "unknown dtype.npy": (npy_bytes((3,)).replace(b"'<f4'", b"'<q9'"), "unknown dtype"),
    "version 9.npy": (b"\x93NUMPY\x09\x00" + bytes(20), "unknown .npy format version 9.0"),
    "object.npy": (npy_bytes((1,), descr="|O", data=bytes(8)), "never unpickles"),
    "a terabyte header.safetensors": ((10**12).to_bytes(8, "little") + b'{"a": 1}', "header length 1000000000000"),
    "a terabyte tensor.safetensors": (safetensors_bytes({"w": {"dtype": "F32", "shape": [10**6, 250_000],
                                                                  "data_offsets": [0, 10**12]}}, bytes(16)),
                                      "truncated data"),
    "span mismatch.safetensors": (safetensors_bytes({"w": {"dtype": "F32", "shape": [4],
                                                          "data_offsets": [0, 8]}}, bytes(8)),
                                  "spans 8 bytes, but shape [4] of F32 needs 16"),
    "overlap.safetensors": (safetensors_bytes({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                                               "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}},
                                              bytes(12)), "overlap"),
    "not json.safetensors": (b"\x05" + bytes(7) + b"{abc}", "header is not JSON"),
    "lying member.npz": (zip_bytes({"x.npy": npy_bytes((1000,), data=bytes(40))}),
                         "member 'x.npy' holds 40 bytes of data, its header promises 4000"),
    "object member.npz": (zip_bytes({"x.npy": npy_bytes((1,), descr="|O", data=bytes(8))}),
                          "member 'x.npy': it holds Python objects, which only unpickling could read; weightgen "
                          "never unpickles"),
    "huge directory.npz": (central_directory_claiming(0xFFFFFFF0), "not a valid npz file"),
    "truncated.npz": (zip_bytes({"x.npy": npy_bytes((100,), data=bytes(400))})[:300], "not a valid npz file"),
    "truncated.h5": (None, "not a valid hdf5 file"),
    "empty.npy": (b"", "it is empty"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_files_are_one_clear_line_without_a_big_allocation(tmp_path, name):
    data, message = HOSTILE[name]
    if data is None:  # an HDF5 file cut short
        with h5py.File(tmp_path / "whole.h5", "w") as file:
            file.create_dataset("w", data=np.ones((100, 100)), chunks=(10, 100))
        data = (tmp_path / "whole.h5").read_bytes()[:3000]
    path = tmp_path / name
    path.write_bytes(data)
    tracemalloc.start()
    try:
        with pytest.raises(InputError) as caught:
            with formats.open_reader(str(path)) as reader:
                for entry in reader.entries():
                    for _ in entry.chunks():
                        pass
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    text = str(caught.value)
    assert text.startswith(f"cannot read {path}: ") and "\n" not in text
    assert message in text
    assert peak < 64 << 20, f"{peak} bytes allocated"


@pytest.mark.parametrize("name", ["overlap.safetensors", "span mismatch.safetensors"])
def test_a_bad_safetensors_layout_is_refused_before_any_entry_and_never_written_into(tmp_path, name):
    """Checked with the header: no entry is reported before the error, and a writer that
    would keep the file's tensors refuses it as corrupt instead of copying the damage."""
    path = tmp_path / "m.safetensors"
    path.write_bytes(HOSTILE[name][0])
    with pytest.raises(InputError, match=re.escape(HOSTILE[name][1])):
        with formats.open_reader(str(path)) as reader:
            next(iter(reader.entries()))
    with pytest.raises(OutputError, match="not a valid safetensors file"):
        weightgen.generate("zeros", (2,), output=str(path), name="new", force=True)
    assert path.read_bytes() == HOSTILE[name][0]


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(InputError, match="No such file"):
        with formats.open_reader(str(tmp_path / "nope.npy")):
            pass
    with pytest.raises(InputError, match="Is a directory"):
        with formats.open_reader(str(tmp_path)):
            pass


def test_provenance_of_every_format_is_read(tmp_path):
    for extension in ("npz", "h5", "safetensors"):
        path = tmp_path / f"m.{extension}"
        weightgen.generate("he_normal", (4, 3), seed=5, output=str(path), name="layer/w")
        with formats.open_reader(str(path)) as reader:
            (entry,) = list(reader.entries())
        assert entry.provenance["initializer"] == "he_normal" and entry.provenance["seed"] == "5"
        assert entry.provenance["params"] == {"input_axes": None, "output_axes": None}
