"""Every format: read back by its own client, block by block, containers that grow, provenance."""

from __future__ import annotations

import io
import json
import os
import stat
import zipfile

import h5py
import ml_dtypes
import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import load_file, save_file

from conftest import entry_names as names

import weightgen
from weightgen import formats
from weightgen.errors import DtypeError, OutputError, ParameterError, UsageError
from weightgen.formats.base import Entry

EXTENSION = {"npy": ".npy", "npz": ".npz", "hdf5": ".h5", "safetensors": ".safetensors"}
CONTAINERS = ["npz", "hdf5", "safetensors"]


def load(path, name: str = "weight") -> np.ndarray:
    """The entry, read by the format's own client (numpy, h5py, safetensors)."""
    path = str(path)
    if path.endswith(".npy"):
        return np.load(path, allow_pickle=False)
    if path.endswith(".npz"):
        with np.load(path, allow_pickle=False) as archive:
            return archive[name]
    if path.endswith(".h5"):
        with h5py.File(path, "r") as file:
            dataset = file[name]
            if dataset.attrs.get("dtype") == "bfloat16":  # what Keras does
                return np.array(dataset, dtype=ml_dtypes.bfloat16)
            return dataset[()]
    return load_file(path)[name]


def entry_bytes(path, name: str) -> bytes:
    """An entry's stored bytes, as raw as its format allows (to prove copies are exact)."""
    path = str(path)
    if path.endswith(".npz"):
        with zipfile.ZipFile(path) as archive:
            info = archive.getinfo(name + ".npy")
        with open(path, "rb") as file:  # local header + data, byte for byte
            file.seek(info.header_offset)
            fixed = file.read(30)
            variable = int.from_bytes(fixed[26:28], "little") + int.from_bytes(fixed[28:30], "little")
            return fixed + file.read(variable + info.compress_size) + info.comment
    if path.endswith(".h5"):
        with h5py.File(path, "r") as file:
            dataset = file[name]
            attrs = json.dumps({k: str(v) for k, v in dataset.attrs.items()}, sort_keys=True).encode()
            if dataset.chunks is None:
                return dataset[()].tobytes() + attrs
            chunks = b"".join(dataset.id.read_direct_chunk(dataset.id.get_chunk_info(i).chunk_offset)[1]
                              for i in range(dataset.id.get_num_chunks()))
            return chunks + attrs + str(dataset.dtype).encode()
    with open(path, "rb") as file:
        size = int.from_bytes(file.read(8), "little")
        header = json.loads(file.read(size))
        start, end = header[name]["data_offsets"]
        file.seek(8 + size + start)
        return file.read(end - start) + json.dumps(header["__metadata__"].get("weightgen:" + name)).encode()


def write(tmp_path, format_name, *, name="weight", init="he_normal", shape=(3, 3, 8, 16), seed=1, file="m",
          **options):
    target = tmp_path / (file + EXTENSION[format_name])
    weightgen.generate(init, shape, seed=seed, output=str(target), name=name, **options)
    return target


# -- each format, read back by its own client ------------------------------------------------

@pytest.mark.parametrize("format_name", list(EXTENSION))
def test_each_format_reads_back_exactly(tmp_path, format_name):
    expected = weightgen.generate("glorot_uniform", (64, 32), seed=7).array
    target = write(tmp_path, format_name, init="glorot_uniform", shape=(64, 32), seed=7)
    values = load(target)
    assert values.dtype == np.float32 and values.shape == (64, 32)
    assert values.tobytes() == expected.tobytes()
    assert sorted(os.listdir(tmp_path)) == [target.name]


def test_the_same_seed_gives_identical_values_in_every_format(tmp_path):
    shape = (3, 300_001)  # several blocks, a ragged last one
    arrays = [load(write(tmp_path, f, init="random_uniform", shape=shape, seed=42)) for f in EXTENSION]
    for other in arrays[1:]:
        assert other.tobytes() == arrays[0].tobytes()


@pytest.mark.parametrize("format_name", list(EXTENSION))
def test_the_same_command_writes_a_byte_identical_file(tmp_path, format_name):
    first = write(tmp_path, format_name, file="a", seed=3).read_bytes()
    second = write(tmp_path, format_name, file="b", seed=3).read_bytes()
    assert first == second


@pytest.mark.parametrize("format_name", list(EXTENSION))
@pytest.mark.parametrize("shape", [(), (1,), (7,), (5, 3, 4), (2, 3, 1000)])
@pytest.mark.parametrize("block", [1, 7, 1000, 10**9])
def test_blocks_of_any_size_give_the_same_file(tmp_path, format_name, shape, block):
    """A writer never needs the whole array: odd-sized blocks make the same entry."""
    values = np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape) * 0.5 - 3
    target = tmp_path / ("m" + EXTENSION[format_name])
    entry = Entry("weight", shape, "float32", {"initializer": "test", "stream_version": 1})
    with formats.open_writer(format_name, str(target), entry) as writer:
        flat = values.reshape(-1)
        for start in range(0, flat.size, block):
            writer.write(flat[start:start + block])
    assert np.array_equal(load(target), values) and load(target).shape == shape


@pytest.mark.parametrize("format_name", list(EXTENSION))
@pytest.mark.parametrize("dtype", ["float16", "float32", "float64", "bfloat16"])
def test_float_dtypes(tmp_path, format_name, dtype):
    if dtype == "bfloat16" and format_name in ("npy", "npz"):
        with pytest.raises(DtypeError, match="bfloat16 cannot be stored in .np.*safetensors or .h5"):
            write(tmp_path, format_name, dtype=dtype)
        assert os.listdir(tmp_path) == []
        return
    expected = weightgen.generate("he_normal", (3, 3, 8, 16), seed=1, dtype=dtype).array
    values = load(write(tmp_path, format_name, dtype=dtype))
    assert values.dtype == expected.dtype and values.tobytes() == expected.tobytes()


@pytest.mark.parametrize("format_name", list(EXTENSION))
@pytest.mark.parametrize("dtype", ["int8", "uint16", "int32", "int64", "uint64"])
def test_integer_dtypes_for_deterministic_initializers(tmp_path, format_name, dtype):
    values = load(write(tmp_path, format_name, init="constant", shape=(4, 5), dtype=dtype, value=3))
    assert values.dtype == np.dtype(dtype) and (values == 3).all()


def test_bfloat16_is_native_in_safetensors_for_torch(tmp_path):
    torch = pytest.importorskip("torch")
    from safetensors.torch import load_file as load_torch

    expected = weightgen.generate("glorot_uniform", (5, 6), seed=2, dtype="bfloat16").array
    tensor = load_torch(str(write(tmp_path, "safetensors", init="glorot_uniform", shape=(5, 6), seed=2,
                                  dtype="bfloat16")))["weight"]
    assert tensor.dtype == torch.bfloat16
    assert tensor.view(torch.int16).numpy().tobytes() == expected.tobytes()


def test_safetensors_read_by_torch(tmp_path):
    torch = pytest.importorskip("torch")
    from safetensors.torch import load_file as load_torch

    target = write(tmp_path, "safetensors", name="conv1/kernel")
    write(tmp_path, "safetensors", name="conv1/bias", init="zeros", shape=(16,))
    tensors = load_torch(str(target))
    assert tensors["conv1/kernel"].dtype == torch.float32 and tensors["conv1/bias"].shape == (16,)
    assert np.array_equal(tensors["conv1/kernel"].numpy(), load(target, "conv1/kernel"))


# -- containers that grow -------------------------------------------------------------------

@pytest.mark.parametrize("format_name", CONTAINERS)
def test_the_issue_example_builds_one_file(tmp_path, format_name):
    target = write(tmp_path, format_name, name="conv1/kernel", seed=5)
    write(tmp_path, format_name, name="conv1/bias", init="zeros", shape=(16,))
    assert sorted(names(target)) == ["conv1/bias", "conv1/kernel"]
    kernel = weightgen.generate("he_normal", (3, 3, 8, 16), seed=5).array
    assert np.array_equal(load(target, "conv1/kernel"), kernel)
    assert np.array_equal(load(target, "conv1/bias"), np.zeros(16, np.float32))
    stored = formats.read_entries(str(target))
    assert stored["conv1/kernel"]["initializer"] == "he_normal" and stored["conv1/kernel"]["seed"] == "5"
    assert stored["conv1/bias"]["initializer"] == "zeros"
    assert sorted(os.listdir(tmp_path)) == [target.name]


@pytest.mark.parametrize("format_name", CONTAINERS)
def test_adding_keeps_every_other_entry_byte_identical(tmp_path, format_name):
    target = write(tmp_path, format_name, name="a", dtype="float16", shape=(7, 3))
    write(tmp_path, format_name, name="b", dtype="float64", shape=(300_000,), seed=2)
    before = {n: entry_bytes(target, n) for n in ("a", "b")}
    write(tmp_path, format_name, name="c", shape=(5,), seed=3)
    write(tmp_path, format_name, name="d/e", init="ones", shape=(2, 2), dtype="int32")
    assert {n: entry_bytes(target, n) for n in ("a", "b")} == before
    assert sorted(names(target)) == ["a", "b", "c", "d/e"]


@pytest.mark.parametrize("format_name", CONTAINERS)
def test_an_existing_entry_is_refused_and_the_file_untouched(tmp_path, format_name):
    target = write(tmp_path, format_name, name="kernel")
    original = target.read_bytes()
    with pytest.raises(OutputError, match="already has an entry named 'kernel'; pass --force"):
        write(tmp_path, format_name, name="kernel", seed=9)
    assert target.read_bytes() == original
    assert sorted(os.listdir(tmp_path)) == [target.name]


@pytest.mark.parametrize("format_name", CONTAINERS)
def test_force_replaces_just_that_entry(tmp_path, format_name):
    target = write(tmp_path, format_name, name="first", seed=1)
    write(tmp_path, format_name, name="middle", seed=2, shape=(40, 40))
    write(tmp_path, format_name, name="last", seed=3)
    keep = {n: entry_bytes(target, n) for n in ("first", "last")}
    write(tmp_path, format_name, name="middle", seed=4, shape=(10,), force=True)
    assert {n: entry_bytes(target, n) for n in ("first", "last")} == keep
    assert np.array_equal(load(target, "middle"), weightgen.generate("he_normal", (10,), seed=4).array)
    assert formats.read_entries(str(target))["middle"]["seed"] == "4"
    if format_name == "npz":  # a replaced member keeps its place
        assert names(target) == ["first", "middle", "last"]
    assert sorted(os.listdir(tmp_path)) == [target.name]


def test_npz_written_by_numpy_keeps_its_members(tmp_path):
    target = tmp_path / "m.npz"
    np.savez_compressed(target, a=np.arange(10), b=np.eye(3))
    before = {n: entry_bytes(target, n) for n in ("a", "b")}
    weightgen.generate("ones", (2,), output=str(target), name="c")
    assert {n: entry_bytes(target, n) for n in ("a", "b")} == before
    with np.load(target) as archive:
        assert archive.files == ["a", "b", "c"] and np.array_equal(archive["b"], np.eye(3))


def test_safetensors_written_by_the_library_keeps_tensors_and_metadata(tmp_path):
    target = tmp_path / "m.safetensors"
    save_file({"x": np.arange(6, dtype=np.int64).reshape(2, 3), "y": np.ones(3, np.float16)}, str(target),
              metadata={"format": "np", "author": "someone"})
    weightgen.generate("he_uniform", (4, 4), seed=1, output=str(target), name="z")
    with safe_open(str(target), "np") as file:
        metadata = file.metadata()
        assert np.array_equal(file.get_tensor("x"), np.arange(6).reshape(2, 3))
        assert np.array_equal(file.get_tensor("y"), np.ones(3, np.float16))
    assert metadata["format"] == "np" and metadata["author"] == "someone"
    assert json.loads(metadata["weightgen:z"])["initializer"] == "he_uniform"


def test_safetensors_layout_keeps_every_tensor_aligned(tmp_path):
    for name, dtype in (("h", "float16"), ("b", "int8"), ("d", "float64"), ("f", "float32")):
        write(tmp_path, "safetensors", name=name, init="ones", shape=(3,), dtype=dtype)
    target = tmp_path / "m.safetensors"
    with open(target, "rb") as file:
        size = int.from_bytes(file.read(8), "little")
        header = json.loads(file.read(size))
    assert (8 + size) % 8 == 0
    for name, itemsize in (("h", 2), ("b", 1), ("d", 8), ("f", 4)):
        assert header[name]["data_offsets"][0] % itemsize == 0
    assert {k: load(target, k).dtype.itemsize for k in "hbdf"} == {"h": 2, "b": 1, "d": 8, "f": 4}


@pytest.mark.parametrize("format_name", CONTAINERS)
def test_a_corrupt_container_is_refused_and_left_alone(tmp_path, format_name):
    target = tmp_path / ("m" + EXTENSION[format_name])
    target.write_bytes(b"not a container at all, just text\n" * 3)
    for force in (False, True):
        with pytest.raises(OutputError, match=f"cannot read .*not a valid {format_name} file"):
            weightgen.generate("zeros", (3,), output=str(target), force=force)
    assert target.read_bytes() == b"not a container at all, just text\n" * 3
    assert sorted(os.listdir(tmp_path)) == [target.name]


@pytest.mark.parametrize("force", [False, True])
@pytest.mark.parametrize("format_name", CONTAINERS)
def test_an_empty_file_is_an_empty_container(tmp_path, format_name, force):
    """``touch model.h5`` then a loop of writes: there is nothing to lose, so no format refuses it."""
    target = tmp_path / ("m" + EXTENSION[format_name])
    target.touch()
    weightgen.generate("ones", (3,), output=str(target), name="a", force=force)
    weightgen.generate("zeros", (2,), output=str(target), name="b")
    assert sorted(names(target)) == ["a", "b"] and np.array_equal(load(target, "a"), np.ones(3, np.float32))


def test_writing_through_a_symlink_updates_the_file_it_names(tmp_path):
    real = write(tmp_path, "npz", name="a", file="real")
    link = tmp_path / "link.npz"
    link.symlink_to(real.name)
    weightgen.generate("zeros", (2,), output=str(link), name="b")
    assert link.is_symlink() and names(real) == ["a", "b"]


def test_permissions_of_the_replaced_file_are_kept(tmp_path):
    target = write(tmp_path, "safetensors", name="a")
    os.chmod(target, 0o640)
    write(tmp_path, "safetensors", name="b")
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o640


# -- provenance -----------------------------------------------------------------------------

@pytest.mark.parametrize("format_name", CONTAINERS)
def test_provenance_regenerates_the_tensor_exactly(tmp_path, format_name):
    target = write(tmp_path, format_name, init="variance_scaling", shape=(30, 20), seed=2**70 + 1,
                   name="layer/w", dtype="float16", scale=2.0, mode="fan_out", distribution="uniform",
                   layout="torch")
    record = formats.read_provenance(str(target), "layer/w")
    assert record["stream_version"] == weightgen.seeding.STREAM_VERSION
    assert record["weightgen_version"] == weightgen.__version__ and record["numpy_version"] == np.__version__
    params = {k: v for k, v in record["params"].items() if v is not None}
    again = weightgen.generate(record["initializer"], record["shape"], dtype=record["dtype"],
                               seed=int(record["seed"]), layout=record.get("layout"), **params)
    assert again.array.tobytes() == load(target, "layer/w").tobytes()


#: Shapes and required parameters for the initializers that cannot take (6, 5) and defaults.
ROUND_TRIP_SHAPES = {"stft": (16, 2, 9), "torch.dirac": (4, 2, 3), "jax.delta_orthogonal": (3, 5, 6)}
ROUND_TRIP_PARAMS = {"torch.constant": {"val": 0.5}, "torch.sparse": {"sparsity": 0.3},
                     "jax.constant": {"value": -2.0}}


@pytest.mark.parametrize("format_name", CONTAINERS)
@pytest.mark.parametrize("initializer", weightgen.registry().canonical_names())
def test_every_initializer_round_trips_through_its_provenance(tmp_path, format_name, initializer):
    shape = ROUND_TRIP_SHAPES.get(initializer, (6, 5))
    given = dict(ROUND_TRIP_PARAMS.get(initializer, {}))
    if initializer == "custom":
        (tmp_path / "init.py").write_text(
            "def init(shape, dtype, rng):\n    return rng.standard_normal(shape).astype(dtype)\n")
        given["target"] = f"{tmp_path / 'init.py'}:init"
    target = write(tmp_path, format_name, init=initializer, shape=shape, seed=3, name="w", **given)
    record = formats.read_provenance(str(target), "w")
    result = weightgen.generate(initializer, shape, seed=3, **given)
    assert record["resolved"] == pytest.approx(dict(result.plan.resolved))
    params = {k: v for k, v in record["params"].items() if v is not None}
    again = weightgen.generate(record["initializer"], record["shape"], dtype=record["dtype"],
                               seed=int(record["seed"]), layout=record.get("layout"), **params)
    assert again.array.tobytes() == load(target, "w").tobytes() == result.array.tobytes()


def test_hdf5_provenance_is_plain_attributes(tmp_path):
    target = write(tmp_path, "hdf5", name="dense_1/kernel", seed=11)
    with h5py.File(target, "r") as file:
        attrs = file["dense_1/kernel"].attrs
        assert attrs["initializer"] == "he_normal" and attrs["seed"] == "11"
        assert attrs["stream_version"] == weightgen.seeding.STREAM_VERSION
        assert json.loads(attrs["params"]) == {"input_axes": None, "output_axes": None}
        assert attrs["weightgen_version"] == weightgen.__version__ and attrs["numpy_version"] == np.__version__


def test_npz_provenance_rides_in_the_member_comment(tmp_path):
    target = write(tmp_path, "npz", seed=8)
    with zipfile.ZipFile(target) as archive:
        assert json.loads(archive.getinfo("weight.npy").comment)["seed"] == "8"
    with np.load(target) as archive:
        assert archive.files == ["weight"]


def test_npy_holds_no_provenance(tmp_path):
    assert formats.read_entries(str(write(tmp_path, "npy"))) == {}


def test_provenance_of_a_file_weightgen_did_not_write_is_none(tmp_path):
    target = tmp_path / "m.npz"
    np.savez(target, a=np.arange(3))
    assert formats.read_entries(str(target)) == {"a": None}
    assert formats.read_provenance(str(target)) is None


# -- stdout and refusals --------------------------------------------------------------------

@pytest.mark.parametrize("format_name", ["npz", "safetensors"])
def test_containers_stream_to_stdout(format_name, capfdbinary):
    from conftest import run_cli

    run = run_cli("random_normal", "--shape", "70000", "--seed", "4", "-o", "-", "--format", format_name,
                  "--name", "w", "-q")
    assert run.exit_code == 0, run
    expected = weightgen.generate("random_normal", (70000,), seed=4).array
    if format_name == "npz":
        with np.load(io.BytesIO(run.stdout)) as archive:
            assert np.array_equal(archive["w"], expected)
    else:
        from safetensors.numpy import load

        assert np.array_equal(load(run.stdout)["w"], expected)


def test_hdf5_to_stdout_is_a_usage_error():
    from conftest import run_cli

    run = run_cli("zeros", "--shape", "3", "-o", "-", "--format", "hdf5")
    assert run.exit_code == 2 and "hdf5 cannot be written to stdout" in run.stderr and run.stdout == b""


@pytest.mark.parametrize("format_name", ["npy", "npz", "safetensors"])
def test_a_fifo_is_written_into_like_stdout_not_replaced(tmp_path, format_name):
    """A rename would swap a FIFO or a device (``/dev/null``) for a regular file: such a
    target is opened and streamed into, with the bytes ``-o -`` gives, and no --force."""
    import threading

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    weightgen.generate("he_normal", (300, 70), seed=8, output=str(fifo), format=format_name)
    reader.join(timeout=30)
    reference = tmp_path / ("reference" + EXTENSION[format_name])
    weightgen.generate("he_normal", (300, 70), seed=8, output=str(reference))
    assert stat.S_ISFIFO(os.stat(fifo).st_mode) and sorted(os.listdir(tmp_path)) == ["pipe", reference.name]
    if format_name == "npy":
        assert received == [reference.read_bytes()]
    else:  # written without seeking: maybe other bytes, the same tensor
        streamed = tmp_path / ("streamed" + EXTENSION[format_name])
        streamed.write_bytes(received[0])
        assert np.array_equal(load(streamed), load(reference))


def test_a_device_is_a_stream_and_hdf5_cannot_go_there(tmp_path):
    from weightgen.formats.base import is_stream

    assert is_stream(os.devnull) and is_stream("-") and not is_stream(str(tmp_path / "w.npy"))
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(UsageError, match="hdf5 cannot be written to a stream like"):
        weightgen.generate("zeros", (3,), output=str(fifo), format="hdf5")
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


@pytest.mark.parametrize("format_name,compression,message", [
    ("npy", "gzip", "npy is not compressed"),
    ("safetensors", "lzf", "safetensors is not compressed"),
    ("npz", "lzf", "npz takes only gzip"),
])
def test_compression_a_format_cannot_do_is_refused(tmp_path, format_name, compression, message):
    with pytest.raises(UsageError, match=message):
        write(tmp_path, format_name, compression=compression)
    assert os.listdir(tmp_path) == []


def test_unknown_compression():
    with pytest.raises(UsageError, match="--compression: expected gzip or lzf"):
        weightgen.generate("zeros", (2,), compression="zstd")


def test_npz_gzip_deflates_like_savez_compressed(tmp_path):
    target = write(tmp_path, "npz", init="zeros", shape=(100_000,), compression="gzip")
    with zipfile.ZipFile(target) as archive:
        info = archive.getinfo("weight.npy")
    assert info.compress_type == zipfile.ZIP_DEFLATED and info.compress_size < info.file_size / 100
    assert np.array_equal(load(target), np.zeros(100_000, np.float32))


@pytest.mark.parametrize("format_name,name", [("safetensors", "__metadata__"), ("hdf5", "a/../b"), ("hdf5", "//"),
                                              ("npz", "../../etc/x"), ("npz", "/abs"), ("npz", "a/./b"),
                                              ("npz", "..\\up")])
def test_names_a_format_cannot_hold(tmp_path, format_name, name):
    with pytest.raises(ParameterError, match="--name"):
        write(tmp_path, format_name, name=name)
    assert os.listdir(tmp_path) == []


def test_npz_keys_may_name_folders_inside_the_archive(tmp_path):
    target = write(tmp_path, "npz", name="dense_1/kernel")
    with np.load(target) as archive:
        assert archive.files == ["dense_1/kernel"]


def test_safetensors_refuses_complex128(tmp_path):
    entry = Entry("w", (2,), "complex128")
    with pytest.raises(DtypeError, match="complex128 cannot be stored in .safetensors"):
        formats.open_writer("safetensors", str(tmp_path / "m.safetensors"), entry)


def test_a_writer_that_fails_midway_leaves_the_container_as_it_was(tmp_path):
    target = write(tmp_path, "safetensors", name="a")
    original = target.read_bytes()
    entry = Entry("b", (1000,), "float32")
    with pytest.raises(RuntimeError):
        with formats.open_writer("safetensors", str(target), entry) as writer:
            writer.write(np.zeros(10, np.float32))
            raise RuntimeError("generation failed")
    assert target.read_bytes() == original
    assert sorted(os.listdir(tmp_path)) == [target.name]
