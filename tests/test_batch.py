"""Batch specs: checked completely first, seeds from names, one container written once."""

from __future__ import annotations

import json
import os
import pathlib
import textwrap

import h5py
import numpy as np
import pytest
from safetensors.numpy import load_file

from conftest import entry_names, run_cli

import weightgen
from weightgen import batch, seeding
from weightgen.errors import OutputError, SpecError, UsageError

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"
EXTENSION = {"npz": ".npz", "hdf5": ".h5", "safetensors": ".safetensors"}

SPEC = """
seed = 11

[[tensor]]
name = "dense/kernel"
init = "glorot_uniform"
shape = [64, 32]

[[tensor]]
name = "dense/bias"
init = "random_normal"
shape = [32]
stddev = 0.5

[[tensor]]
name = "conv/kernel"
init = "he_uniform"
shape = "3x3x4x8"
"""


def tensor(name: str, init: str, shape, **params) -> dict:
    return {"name": name, "init": init, "shape": shape, **params}


def spec_of(*tensors: dict, **keys) -> dict:
    return {**keys, "tensor": list(tensors)}


def write(tmp_path, text: str, name: str = "spec.toml") -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return str(path)


def stored_bytes(path, name: str) -> bytes:
    """A tensor's values as bytes, read by the format's own client."""
    path = str(path)
    if path.endswith(".npz"):
        with np.load(path, allow_pickle=False) as archive:
            return archive[name].tobytes()
    if path.endswith(".h5"):
        with h5py.File(path, "r") as file:
            return file[name][()].tobytes()
    return load_file(path)[name].tobytes()


# -- reading and checking ---------------------------------------------------------------


def test_toml_and_json_specs_are_the_same_batch(tmp_path):
    toml = batch.plan_batch(write(tmp_path, SPEC))
    as_json = json.dumps({"seed": 11, "tensor": [
        tensor("dense/kernel", "glorot_uniform", [64, 32]),
        tensor("dense/bias", "random_normal", [32], stddev=0.5),
        tensor("conv/kernel", "he_uniform", "3x3x4x8")]})
    for path in (write(tmp_path, as_json, "spec.json"), write(tmp_path, as_json, "spec.txt")):
        from_json = batch.plan_batch(path)
        assert [t.request for t in from_json.tensors] == [t.request for t in toml.tensors]
    assert toml.seed == 11 and toml.tensors[2].request.shape == (3, 3, 4, 8)
    assert toml.tensors[1].request.params == {"mean": 0.0, "stddev": 0.5}


def test_each_tensor_seed_is_derived_from_the_master_seed_and_its_name(tmp_path):
    planned = batch.plan_batch(write(tmp_path, SPEC))
    for item in planned.tensors:
        assert item.request.seed == seeding.derive_seed(11, item.request.name)
    assert batch.plan_batch(write(tmp_path, SPEC), seed="12").tensors[0].request.seed == \
        seeding.derive_seed(12, "dense/kernel")


def test_a_tensor_may_fix_its_own_seed():
    planned = batch.plan_batch(spec_of(tensor("w", "glorot_uniform", [4, 4], seed=99),
                                       tensor("v", "glorot_uniform", [4, 4]), seed=1))
    assert planned.tensors[0].request.seed == 99
    assert planned.tensors[1].request.seed == seeding.derive_seed(1, "v")


def test_defaults_apply_to_every_tensor_and_a_tensor_overrides_them():
    planned = batch.plan_batch(spec_of(tensor("w", "glorot_uniform", [4, 4, 2]),
                                       tensor("b", "zeros", [4]),
                                       tensor("h", "he_normal", [4, 4, 2], dtype="float64", layout="keras"),
                                       seed=0, dtype="float16", layout="torch"))
    w, b, h = (t.request for t in planned.tensors)
    assert (w.dtype, w.layout) == ("float16", "torch")
    assert (b.dtype, b.layout) == ("float16", None)  # a default layout concerns only fan initializers
    assert (h.dtype, h.layout) == ("float64", "keras")


def test_a_framework_stream_gets_a_derived_seed_it_can_take_and_gives_the_single_commands_bytes():
    spec = spec_of(tensor("w", "glorot_uniform", [16, 8]), tensor("j", "jax.lecun_normal", [8, 4], rng="jax"),
                   tensor("o", "orthogonal", [6, 6], rng="weightgen"), seed=9, rng="keras")
    done = weightgen.generate_batch(spec)
    records = {r["name"]: r for r in done.summaries()}
    assert [records[n]["rng"] for n in ("w", "j", "o")] == ["keras", "jax", "weightgen"]
    assert records["w"]["seed"] == seeding.derive_seed(9, "w") % 2**32 == seeding.derive_seed(9, "w", 2**32)
    assert records["o"]["seed"] == seeding.derive_seed(9, "o")
    for name, init in (("w", "glorot_uniform"), ("j", "jax.lecun_normal"), ("o", "orthogonal")):
        record = records[name]
        alone = weightgen.generate(init, tuple(record["shape"]), seed=record["seed"], rng=record["rng"])
        assert alone.array.tobytes() == done.arrays()[name].tobytes(), name


def test_without_a_seed_one_is_drawn_and_reported_and_reproduces_the_batch(tmp_path):
    spec = spec_of(tensor("w", "glorot_uniform", [8, 8]), tensor("b", "random_uniform", [8]))
    first = weightgen.generate_batch(spec)
    again = weightgen.generate_batch(spec, seed=first.seed)
    assert all(r["master_seed"] == first.seed for r in first.summaries())
    for name in ("w", "b"):
        assert first.arrays()[name].tobytes() == again.arrays()[name].tobytes()


BAD_SPECS = [
    (spec_of(tensor("w", "glorot_unifrom", [2, 2])), "tensor 1 ('w'): Unknown initializer 'glorot_unifrom'. "
     "Did you mean 'glorot_uniform'"),
    (spec_of(tensor("w", "zeros", [2]), tensor("v", "random_normal", [2], stddev=-1)),
     "tensor 2 ('v'): Invalid value for stddev: must be >= 0 (got -1)"),
    (spec_of(tensor("w", "glorot_uniform", [2, 2], gain=2)), "tensor 1 ('w'): glorot_uniform has no parameter "
     "'gain'; its parameters are: input_axes, output_axes"),
    (spec_of(tensor("w", "glorot_uniform", [2, 0])), "tensor 1 ('w'): Invalid value for shape"),
    (spec_of(tensor("w", "glorot_uniform", [2, 2], dtype="int8")), "dtype int8 is not allowed for glorot_uniform"),
    (spec_of(tensor("w", "identity", [2, 2, 2])), "tensor 1 ('w'): identity needs a shape with exactly 2 dimensions"),
    (spec_of(tensor("w", "zeros", [2], layout="torch")), "zeros does not use fans; drop layout/fan_in/fan_out"),
    (spec_of(tensor("w", "glorot_uniform", [2, 2], fan_in="many")), "fan_in must be a number"),
    (spec_of(tensor("w", "glorot_uniform", [2, 2], seed=-3)), "tensor 1 ('w'): Invalid value for seed"),
    (spec_of(tensor("w", "glorot_uniform", [2, 2], rng="torch")), "tensor 1 ('w'): Invalid value for rng: "
     "expected one of weightgen, keras, jax (got 'torch')"),
    (spec_of(tensor("w", "jax.he_normal", [2, 2]), rng="keras"), "rng keras does not reproduce jax.he_normal"),
    (spec_of({"init": "zeros", "shape": [2]}), "tensor 1 needs a name"),
    (spec_of({"name": "w", "shape": [2]}), "tensor 1 ('w'): needs init"),
    (spec_of({"name": "w", "init": "zeros"}), "tensor 1 ('w'): needs a shape"),
    (spec_of("w"), "tensor 1 is a str, not a table"),
    (spec_of(tensor("w", "zeros", [2]), tensor("w", "ones", [2])), "tensors 1 and 2 are both named 'w'"),
    (spec_of(), "no tensors"),
    ({"tensor": 5}, "tensor must be a list of tables, each with name, init and shape (got int)"),
    (spec_of(tensor("w", "truncated_normal", [2], stddev=1e300)),
     "tensor 1 ('w'): truncated_normal's values with these parameters reach ±2e+300, beyond float32's"),
    ({"tensors": []}, "unknown key 'tensors' in the spec; did you mean 'tensor'?"),
    (spec_of(tensor("w", "zeros", [2]), seed="soon"), "Invalid value for seed"),
    (spec_of(tensor("w", "zeros", [2]), output=3), "output must be a non-empty string"),
    (spec_of(tensor("w", "zeros", [2]), output="a.h5", output_dir="d"), "give output (one container) or output_dir"),
]


@pytest.mark.parametrize(("spec", "message"), BAD_SPECS)
def test_a_bad_spec_is_one_line_naming_the_tensor(spec, message):
    with pytest.raises(SpecError) as caught:
        batch.plan_batch(spec, source="model.toml")
    text = str(caught.value)
    assert message in text and text.startswith("model.toml: ") and "\n" not in text


@pytest.mark.parametrize(("name", "text", "message"), [
    ("spec.toml", "seed = 1\n[[tensor]]\nname = \n", r"spec.toml: not valid TOML: .*line 3"),
    ("spec.json", "{\"seed\": 1,}", r"spec.json: not valid JSON: .*line 1"),
    ("spec", "{\"seed\": 1,}", r"spec: not valid JSON: "),  # no extension: JSON by its first brace
    ("spec", "[1, 2]", r"spec: not valid TOML"),
    ("spec.json", "{\"seed\": 7, \"tensor\": [], \"seed\": 8}",
     r"spec.json: not valid JSON: the key 'seed' is given twice in one object"),
    ("spec.json", "{\"tensor\": [{\"name\": \"a\", \"name\": \"b\"}]}", r"the key 'name' is given twice"),
])
def test_a_spec_that_does_not_parse_is_one_line(tmp_path, name, text, message):
    path = write(tmp_path, text, name)
    with pytest.raises(SpecError, match=message) as caught:
        batch.plan_batch(path)
    assert "\n" not in str(caught.value)


def test_json_that_is_not_an_object_is_refused():
    with pytest.raises(SpecError, match="a spec is a table of keys"):
        batch.parse_spec("[1, 2]", "s.json", "json")


def test_a_missing_spec_is_a_runtime_error(tmp_path):
    run = run_cli("batch", str(tmp_path / "missing.toml"), "-o", str(tmp_path / "m.h5"))
    assert run.exit_code == 1 and run.stderr.startswith("Error: cannot read spec ") and "No such file" in run.stderr


@pytest.mark.parametrize(("spec", "output", "message"), [
    (spec_of(tensor("w", "zeros", [2], dtype="bfloat16")), "m.npz", "tensor 1 ('w'): bfloat16 cannot be stored"),
    (spec_of(tensor("w", "zeros", [2], compression="gzip")), "m.safetensors",
     "tensor 1 ('w'): compression gzip: safetensors is not compressed"),
    (spec_of(tensor("w", "zeros", [2], compression="zstd")), "m.h5", "Invalid value for compression"),
    (spec_of(tensor("a", "zeros", [2]), tensor("a/b", "zeros", [2])), "m.h5", "cannot both be HDF5 datasets"),
    (spec_of(tensor("a//b", "zeros", [2]), tensor("a/b", "zeros", [2])), "m.h5", "are the same hdf5 entry"),
    (spec_of(tensor("__metadata__", "zeros", [2])), "m.safetensors", "__metadata__ is reserved"),
])
def test_what_the_output_cannot_take_is_refused_before_generating(tmp_path, spec, output, message):
    with pytest.raises(SpecError, match=message.replace("(", r"\(").replace(")", r"\)")):
        batch.plan_batch(spec, output=str(tmp_path / output), source="s")
    assert os.listdir(tmp_path) == []


def test_cli_bad_entry_exits_2_and_writes_nothing(tmp_path):
    path = write(tmp_path, SPEC.replace("stddev = 0.5", "stddev = -0.5"))
    target = tmp_path / "m.h5"
    run = run_cli("batch", path, "-o", str(target))
    assert run.exit_code == 2, run
    assert run.stderr.strip() == (f"Error: {path}: tensor 2 ('dense/bias'): Invalid value for stddev: "
                                  "must be >= 0 (got -0.5).")
    assert not target.exists() and sorted(os.listdir(tmp_path)) == ["spec.toml"]


def test_cli_bad_entry_leaves_an_existing_container_byte_for_byte(tmp_path):
    target = tmp_path / "m.npz"
    assert run_cli("zeros", "--shape", "3", "-o", str(target), "--name", "keep", "-q").exit_code == 0
    before = target.read_bytes()
    run = run_cli("batch", write(tmp_path, SPEC.replace('"he_uniform"', '"he_unifrom"')), "-o", str(target))
    assert run.exit_code == 2 and "tensor 3 ('conv/kernel'): Unknown initializer 'he_unifrom'" in run.stderr
    assert target.read_bytes() == before


def test_options_that_contradict_each_other_are_usage_errors(tmp_path):
    path = write(tmp_path, SPEC)
    run = run_cli("batch", path, "-o", str(tmp_path / "m.h5"), "--output-dir", str(tmp_path / "d"))
    assert run.exit_code == 2 and "not both" in run.stderr
    run = run_cli("batch", path, "--output-dir", str(tmp_path / "d"), "--format", "npz")
    assert run.exit_code == 2 and "--output-dir writes one .npy per tensor" in run.stderr
    assert sorted(os.listdir(tmp_path)) == ["spec.toml"]


# -- determinism --------------------------------------------------------------------------


@pytest.mark.parametrize("format_name", EXTENSION)
def test_adding_removing_and_reordering_tensors_changes_no_other_tensors_bytes(tmp_path, format_name):
    a = tmp_path / f"a{EXTENSION[format_name]}"
    b = tmp_path / f"b{EXTENSION[format_name]}"
    first = spec_of(tensor("enc/kernel", "glorot_uniform", [300, 200]),
                    tensor("enc/bias", "random_uniform", [200]),
                    tensor("dec/kernel", "he_normal", [200, 300]),
                    tensor("gone", "orthogonal", [16, 16]), seed=5)
    second = spec_of(tensor("new", "truncated_normal", [1000]),
                     tensor("dec/kernel", "he_normal", [200, 300]),
                     tensor("enc/bias", "random_uniform", [200]),
                     tensor("enc/kernel", "glorot_uniform", [300, 200]), seed=5)
    weightgen.generate_batch(first, output=str(a))
    weightgen.generate_batch(second, output=str(b))
    for name in ("enc/kernel", "enc/bias", "dec/kernel"):
        assert stored_bytes(a, name) == stored_bytes(b, name), name
    assert len({stored_bytes(a, n) for n in ("enc/kernel", "enc/bias", "dec/kernel", "gone")}) == 4


def test_reordering_gives_identical_npy_files_under_output_dir(tmp_path):
    tensors = [tensor("layer1/w", "glorot_normal", [50, 40]), tensor("layer1/b", "zeros", [40]),
               tensor("layer2/w", "lecun_uniform", [40, 10])]
    weightgen.generate_batch(spec_of(*tensors, seed=3), output_dir=str(tmp_path / "a"))
    weightgen.generate_batch(spec_of(*tensors[::-1], seed=3), output_dir=str(tmp_path / "b"))
    for relative in ("layer1/w.npy", "layer1/b.npy", "layer2/w.npy"):
        assert (tmp_path / "a" / relative).read_bytes() == (tmp_path / "b" / relative).read_bytes()


def test_a_batch_tensor_is_the_single_command_with_its_reported_seed(tmp_path):
    done = weightgen.generate_batch(spec_of(tensor("w", "variance_scaling", [30, 20], scale=2.0, mode="fan_out"),
                                            seed=8))
    record = done.summaries()[0]
    alone = weightgen.generate("variance_scaling", (30, 20), seed=record["seed"], scale=2.0, mode="fan_out")
    assert alone.array.tobytes() == done.arrays()["w"].tobytes()


def test_threads_never_change_a_batch(tmp_path):
    spec = spec_of(tensor("big", "glorot_uniform", [1100, 700]), tensor("small", "he_normal", [9]), seed=2)
    one = weightgen.generate_batch(spec, threads=1)
    two = weightgen.generate_batch(spec, threads=2)
    assert all(one.arrays()[n].tobytes() == two.arrays()[n].tobytes() for n in ("big", "small"))


# -- writing --------------------------------------------------------------------------------


@pytest.mark.parametrize("format_name", EXTENSION)
def test_every_tensor_goes_into_one_container_with_provenance(tmp_path, format_name):
    target = tmp_path / f"m{EXTENSION[format_name]}"
    done = weightgen.generate_batch(write(tmp_path, SPEC), output=str(target))
    assert sorted(entry_names(target)) == ["conv/kernel", "dense/bias", "dense/kernel"]
    assert done.format == format_name and all(r.output == str(target) for r in done.results)
    assert done.arrays() == {}  # written, so not kept
    provenance = weightgen.formats.read_provenance(str(target), "dense/bias")
    assert provenance["seed"] == str(seeding.derive_seed(11, "dense/bias"))
    assert provenance["master_seed"] == "11" and provenance["params"]["stddev"] == 0.5
    kernel = np.frombuffer(stored_bytes(target, "dense/kernel"), np.float32)
    assert np.abs(kernel).max() < (6 / 96) ** 0.5


def test_writing_into_an_existing_container_adds_and_refuses_duplicates(tmp_path):
    target = tmp_path / "m.h5"
    assert run_cli("zeros", "--shape", "4", "-o", str(target), "--name", "kept", "-q").exit_code == 0
    path = write(tmp_path, SPEC)
    assert run_cli("batch", path, "-o", str(target), "-q").exit_code == 0
    assert sorted(entry_names(target)) == ["conv/kernel", "dense/bias", "dense/kernel", "kept"]
    before = target.read_bytes()
    run = run_cli("batch", path, "-o", str(target))
    assert run.exit_code == 1 and "already has an entry named 'dense/kernel'; pass --force" in run.stderr
    assert target.read_bytes() == before
    run = run_cli("batch", path, "-o", str(target), "--force", "--seed", "12", "-q")
    assert run.exit_code == 0 and sorted(entry_names(target)) == ["conv/kernel", "dense/bias", "dense/kernel", "kept"]
    assert weightgen.formats.read_provenance(str(target), "dense/kernel")["master_seed"] == "12"


def test_a_failure_while_generating_leaves_the_container_as_it_was(tmp_path, monkeypatch):
    target = tmp_path / "m.safetensors"
    assert run_cli("ones", "--shape", "4", "-o", str(target), "--name", "kept", "-q").exit_code == 0
    before = target.read_bytes()
    calls = []
    real = batch.sample

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(batch, "sample", failing)
    run = run_cli("batch", write(tmp_path, SPEC), "-o", str(target))
    assert run.exit_code == 130 and len(calls) == 2
    assert target.read_bytes() == before and sorted(os.listdir(tmp_path)) == ["m.safetensors", "spec.toml"]


def test_output_dir_writes_one_npy_per_tensor_in_subfolders(tmp_path):
    out = tmp_path / "weights"
    run = run_cli("batch", write(tmp_path, SPEC), "--output-dir", str(out), "--json")
    assert run.exit_code == 0, run
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*.npy")) == [
        "conv/kernel.npy", "dense/bias.npy", "dense/kernel.npy"]
    records = [json.loads(line) for line in run.text.splitlines()]
    assert [r["output"] for r in records] == [str(out / "dense" / "kernel.npy"), str(out / "dense" / "bias.npy"),
                                              str(out / "conv" / "kernel.npy")]
    assert np.load(out / "conv" / "kernel.npy").shape == (3, 3, 4, 8)


def test_output_dir_refuses_existing_files_before_writing_any(tmp_path):
    out = tmp_path / "weights"
    (out / "dense").mkdir(parents=True)
    (out / "dense" / "bias.npy").write_bytes(b"mine")
    run = run_cli("batch", write(tmp_path, SPEC), "--output-dir", str(out))
    assert run.exit_code == 1 and "bias.npy already exists; pass --force" in run.stderr
    assert [p.name for p in out.rglob("*") if p.is_file()] == ["bias.npy"]
    assert (out / "dense" / "bias.npy").read_bytes() == b"mine"
    assert run_cli("batch", write(tmp_path, SPEC), "--output-dir", str(out), "--force", "-q").exit_code == 0
    assert np.load(out / "dense" / "bias.npy").shape == (32,)


def test_output_dir_names_map_to_paths_or_are_refused():
    assert batch.npy_path("w", "/a//b/") == os.path.join("w", "a", "b.npy")
    assert batch.npy_path("w", "layer.0.weight") == os.path.join("w", "layer.0.weight.npy")
    for bad in ("../x", "a/./b", "/"):
        with pytest.raises(UsageError, match="Invalid tensor name"):
            batch.npy_path("w", bad)
    with pytest.raises(SpecError, match="would both be"):
        batch.plan_batch(spec_of(tensor("a/b", "zeros", [1]), tensor("a//b", "zeros", [1])), output_dir="w")


def test_the_specs_own_output_is_used_unless_the_command_line_names_one(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec = write(tmp_path, 'output = "from_spec.npz"\n' + SPEC)
    assert run_cli("batch", spec, "-q").exit_code == 0
    assert entry_names(tmp_path / "from_spec.npz") == ["dense/kernel", "dense/bias", "conv/kernel"]
    assert run_cli("batch", spec, "--output-dir", "d", "-q").exit_code == 0
    assert (tmp_path / "d" / "conv" / "kernel.npy").exists()


def test_stdout_gets_an_npz_and_the_json_goes_to_stderr(tmp_path):
    import io

    run = run_cli("batch", write(tmp_path, SPEC), "-o", "-", "--json")
    assert run.exit_code == 0, run
    with np.load(io.BytesIO(run.stdout), allow_pickle=False) as archive:
        assert archive.files == ["dense/kernel", "dense/bias", "conv/kernel"]
    assert [json.loads(line)["name"] for line in run.stderr.splitlines()] == [
        "dense/kernel", "dense/bias", "conv/kernel"]
    run = run_cli("batch", write(tmp_path, SPEC), "-o", "-", "--format", "safetensors", "-q")
    from safetensors.numpy import load

    assert sorted(load(run.stdout)) == ["conv/kernel", "dense/bias", "dense/kernel"]


def test_spec_from_stdin(tmp_path):
    target = tmp_path / "m.npz"
    run = run_cli("batch", "-", "-o", str(target), "-q", input=SPEC.encode())
    assert run.exit_code == 0, run
    assert entry_names(target) == ["dense/kernel", "dense/bias", "conv/kernel"]
    as_json = json.dumps(spec_of(tensor("w", "ones", [2]), seed=1)).encode()
    run = run_cli("batch", "-", "--json", input=as_json)
    assert run.exit_code == 0 and json.loads(run.text)["mean"] == 1.0


# -- reporting --------------------------------------------------------------------------------


def test_json_gives_one_line_per_tensor_in_spec_order(tmp_path):
    run = run_cli("batch", write(tmp_path, SPEC), "--json")
    assert run.exit_code == 0 and run.stderr == ""
    records = [json.loads(line) for line in run.text.splitlines()]
    assert [r["name"] for r in records] == ["dense/kernel", "dense/bias", "conv/kernel"]
    for record in records:
        assert record["master_seed"] == 11 and record["seed"] == seeding.derive_seed(11, record["name"])
        assert {"initializer", "params", "shape", "dtype", "mean", "std", "min", "max", "expected", "output",
                "format", "stream_version", "seconds"} <= set(record)
    assert records[1]["params"]["stddev"] == 0.5 and records[0]["fan_in"] == 64


def test_the_summary_is_one_row_per_tensor(tmp_path):
    run = run_cli("batch", write(tmp_path, SPEC), "-o", str(tmp_path / "m.h5"))
    assert run.exit_code == 0 and run.stdout == b""
    lines = run.stderr.splitlines()
    assert lines[0].split() == ["name", "initializer", "shape", "dtype", "mean", "std", "expected", "std", "min",
                                "max"]
    assert [line.split()[:4] for line in lines[1:4]] == [["dense/kernel", "glorot_uniform", "64x32", "float32"],
                                                        ["dense/bias", "random_normal", "32", "float32"],
                                                        ["conv/kernel", "he_uniform", "3x3x4x8", "float32"]]
    assert lines[4].startswith(f"wrote 3 tensors to {tmp_path / 'm.h5'} (hdf5), seeds derived from master seed 11")
    assert run_cli("batch", write(tmp_path, SPEC), "-q").stderr == ""


def test_progress_is_told_each_tensor_and_every_byte():
    seen, total = [], []

    class Recorder:
        def __call__(self, count):
            total.append(count)

        def describe(self, text):
            seen.append(text)

    planned = batch.plan_batch(spec_of(tensor("a", "glorot_uniform", [600, 500]), tensor("b", "zeros", [7]), seed=0))
    batch.run_batch(planned, progress=Recorder())
    assert seen == ["a (1/2)", "b (2/2)"]
    assert sum(total) == planned.nbytes == (600 * 500 + 7) * 4


# -- examples ---------------------------------------------------------------------------------


@pytest.mark.parametrize("example", sorted(p.name for p in EXAMPLES.glob("*.toml")))
def test_every_example_runs(tmp_path, example):
    target = tmp_path / "out.h5"
    run = run_cli("batch", str(EXAMPLES / example), "-o", str(target), "--json")
    assert run.exit_code == 0, run
    records = [json.loads(line) for line in run.text.splitlines()]
    planned = batch.plan_batch(str(EXAMPLES / example))
    assert sorted(entry_names(target)) == sorted(t.request.name for t in planned.tensors)
    with h5py.File(target, "r") as file:
        for record in records:
            assert list(file[record["name"]].shape) == record["shape"]
            expected = record["expected"]
            if expected["min"] is not None:
                assert expected["min"] <= record["min"] <= record["max"] <= expected["max"], record["name"]
            if expected["std"] == 0:
                assert record["std"] == 0 and record["mean"] == expected["mean"], record["name"]
            elif np.prod(record["shape"]) >= 5000:  # the std's own error is then about 1 %
                assert abs(record["std"] - expected["std"]) < 0.05 * expected["std"], record["name"]


def test_the_examples_cover_an_mlp_a_resnet_stem_and_a_transformer_block():
    assert {"mlp.toml", "resnet_stem.toml", "transformer_block.toml"} <= {p.name for p in EXAMPLES.glob("*.toml")}
    block = batch.plan_batch(str(EXAMPLES / "transformer_block.toml"))
    assert block.output == "transformer_block.safetensors" and block.format == "safetensors"
    assert {t.request.dtype for t in block.tensors} == {"bfloat16"}


def test_a_tensor_that_fails_while_generating_is_named_and_nothing_is_written(tmp_path):
    from weightgen.errors import InitializerError

    (tmp_path / "mine.py").write_text("def bad(shape, dtype, rng):\n    raise RuntimeError('boom')\n")
    spec = spec_of(tensor("good", "zeros", [4]), {"name": "bad", "init": "custom", "shape": [3, 3],
                                                   "target": f"{tmp_path / 'mine.py'}:bad"})
    with pytest.raises(InitializerError, match=r"^spec: tensor 2 \('bad'\): custom initializer .*raised "
                                               r"RuntimeError: boom$"):
        batch.generate_batch(spec, output=str(tmp_path / "m.h5"))
    assert not [n for n in os.listdir(tmp_path) if "m.h5" in n]  # neither the file nor a temporary one


def test_plan_batch_errors_are_usage_errors_for_the_cli():
    assert issubclass(SpecError, UsageError) and SpecError.exit_code == 2
    assert not issubclass(OutputError, UsageError)
