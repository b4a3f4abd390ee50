"""The command line: options, output, summaries, errors and exit codes (in-process)."""

from __future__ import annotations

import io
import json
import os

import numpy as np
import pytest

from conftest import run_cli

EXPECTED_KEYS = {"name", "initializer", "params", "shape", "dtype", "seed", "fan_in", "fan_out",
                 "mean", "std", "min", "max", "expected", "output", "format", "stream_version",
                 "seconds"}


def load(run) -> np.ndarray:
    return np.load(io.BytesIO(run.stdout), allow_pickle=False)


def test_writes_npy_and_prints_a_summary(tmp_path):
    out = tmp_path / "w.npy"
    run = run_cli("glorot_uniform", "--shape", "256,128", "--seed", "3", "-o", str(out))
    assert run.exit_code == 0, run
    values = np.load(out, allow_pickle=False)
    assert values.shape == (256, 128) and values.dtype == np.float32
    assert "limit=0.125" in run.stderr and "fan" in run.stderr and "expected" in run.stderr
    assert run.stdout == b""


def test_stdout_carries_npy_and_json_goes_to_stderr():
    run = run_cli("he_normal", "--shape", "3,3,64,128", "--seed", "7", "-o", "-", "--json")
    assert run.exit_code == 0, run
    values = load(run)
    assert values.shape == (3, 3, 64, 128)
    record = json.loads(run.stderr.strip().splitlines()[-1])
    assert EXPECTED_KEYS <= set(record)
    assert record["output"] == "-" and record["format"] == "npy" and record["seed"] == 7
    assert record["std"] == pytest.approx(float(values.astype(np.float64).std()))


def test_json_summary_on_stdout_without_data():
    run = run_cli("glorot_uniform", "--shape", "256x128", "--seed", "1", "--json")
    assert run.exit_code == 0, run
    lines = run.text.strip().splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert EXPECTED_KEYS <= set(record)
    assert record["shape"] == [256, 128] and record["fan_in"] == 256 and record["fan_out"] == 128
    assert record["expected"]["max"] == 0.125 and record["resolved"]["limit"] == 0.125
    assert record["output"] is None and record["params"] == {"input_axes": None, "output_axes": None}


def test_same_command_same_bytes_across_threads(tmp_path):
    outputs = []
    for threads in ("1", "2", "7"):
        target = tmp_path / f"w{threads}.npy"
        run = run_cli("he_normal", "--shape", "1024,1024", "--seed", "11", "--threads", threads,
                      "-o", str(target), "-q")
        assert run.exit_code == 0, run
        outputs.append(target.read_bytes())
    assert outputs[0] == outputs[1] == outputs[2]


def test_quiet_prints_nothing(tmp_path):
    run = run_cli("zeros", "--shape", "4", "-o", str(tmp_path / "z.npy"), "-q")
    assert run.exit_code == 0 and run.stderr == "" and run.stdout == b""


def test_initializer_params_and_aliases():
    run = run_cli("VarianceScaling", "--shape", "100,50", "--scale", "2", "--mode", "fan_out",
                  "--distribution", "uniform", "--seed", "1", "--json")
    record = json.loads(run.text)
    assert run.exit_code == 0, run
    assert record["initializer"] == "variance_scaling"
    assert record["params"]["mode"] == "fan_out"
    assert record["resolved"]["limit"] == pytest.approx((3 * 2 / 50) ** 0.5)


def test_drawn_seed_is_reported():
    record = json.loads(run_cli("glorot_uniform", "--shape", "4,4", "--json").text)
    again = json.loads(run_cli("glorot_uniform", "--shape", "4,4", "--json", "--seed",
                               str(record["seed"])).text)
    assert again["mean"] == record["mean"] and again["max"] == record["max"]


def test_scalar_shape():
    for spelling in ("", "()"):
        run = run_cli("random_normal", "--shape", spelling, "--seed", "1", "-o", "-", "-q")
        assert run.exit_code == 0, run
        assert load(run).shape == ()


# -- errors: one line, the right exit code, nothing written ---------------------------------

USAGE_ERRORS = [
    (["glorot_unifrom", "--shape", "3,3"], "Did you mean 'glorot_uniform'"),
    (["glorot_uniform"], "Missing option '--shape'"),
    (["glorot_uniform", "--shape", "3,-1"], "--shape"),
    (["glorot_uniform", "--shape", "3,0"], "--shape"),
    (["glorot_uniform", "--shape", "a,b"], "--shape"),
    (["glorot_uniform", "--shape", "3,3", "--dtype", "int32"], "not allowed for glorot_uniform"),
    (["glorot_uniform", "--shape", "3,3", "--dtype", "float8"], "unknown dtype"),
    (["variance_scaling", "--shape", "3,3", "--scale", "0"], "--scale: must be > 0"),
    (["variance_scaling", "--shape", "3,3", "--mode", "fan_sum"], "--mode"),
    (["orthogonal", "--shape", "5"], "at least 2 dimensions"),
    (["identity", "--shape", "2,2,2"], "exactly 2 dimensions"),
    (["glorot_uniform", "--shape", "3,3", "--seed", "-4"], "--seed"),
    (["glorot_uniform", "--shape", "3,3", "--threads", "0"], "--threads"),
    (["glorot_uniform", "--shape", "3,3", "--nonsense", "1"], "No such option"),
    (["glorot_uniform", "--shape", "3,3", "--layout", "tf"], "--layout"),
    (["glorot_uniform", "--shape", "3,3", "-o", "w.txt"], "Cannot tell the format"),
    (["glorot_uniform", "--shape", "3,3", "-o", "w.npy", "--dtype", "bfloat16"], "bfloat16 cannot be stored in .npy"),
    (["zeros", "--shape", "3", "--fan-in", "3"], "No such option"),
    (["truncated_normal", "--shape", "3", "--stddev", "1e300"], "beyond float32's largest finite value"),
    (["variance_scaling", "--shape", "3,3", "--scale", "1e80"], "beyond float32's largest finite value"),
    (["jax.truncated_normal", "--shape", "3", "--stddev", "1e300"], "beyond float32's largest finite value"),
    (["orthogonal", "--shape", "4,4", "--gain", "1e40"], "beyond float32's largest finite value"),
    (["constant", "--shape", "2", "--value", "1e10", "--dtype", "float16"], "beyond float16's largest finite value 65504"),
    (["random_uniform", "--shape", "3", "--minval", "-1e5", "--maxval", "1e5", "--dtype", "float16"],
     "reach ±1e+05, beyond float16"),
    (["random_normal", "--shape", "3", "--stddev", "1e308", "--dtype", "float16"], "beyond float16"),
    (["torch.normal", "--shape", "1000000", "--std", "10000", "--dtype", "float16"], "reach ±7.131e+04"),
    (["torch.trunc_normal", "--shape", "5", "--a", "0.1", "--b", "0.1000001", "--dtype", "bfloat16"],
     "no bfloat16 value lies in torch.trunc_normal's interval [0.1, 0.1000001]; choose a wider interval or a wider --dtype"),
    (["torch.uniform", "--shape", "5", "--a", "0.1", "--b", "0.1000001", "--dtype", "bfloat16"],
     "no bfloat16 value lies in torch.uniform's interval [0.1, 0.1000001)"),
    # what only the sampler's own set-up finds: a few values are drawn first
    (["random_uniform", "--shape", "4", "--minval", "-1e38", "--maxval", "3e38"],
     "random_uniform cannot be drawn in float32 with these parameters (range too wide for float32)"),
    (["truncated_normal", "--shape", "4", "--mean", "0.1", "--stddev", "1e-20"],
     "holds no finite float32 value"),
    (["torch.xavier_uniform", "--shape", "4,4", "--gain", "5e-324"], "torch.xavier_uniform cannot be drawn"),
    (["torch.trunc_normal", "--shape", "4", "--a", "1e-320"], "torch.trunc_normal cannot be drawn"),
    (["random_uniform", "--shape", "3", "--minval", "-1e308", "--maxval", "1e308", "--dtype", "float64"],
     "not a finite number"),
]


@pytest.mark.parametrize("args,message", USAGE_ERRORS)
def test_usage_errors_exit_2_with_one_line(args, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run = run_cli(*args)
    assert run.exit_code == 2, run
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run
    assert lines[0].startswith("Error: ") and message in lines[0], run
    assert "Traceback" not in run.stderr
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("args", [
    ["constant", "--shape", "2", "--value", "65504", "--dtype", "float16"],
    ["random_normal", "--shape", "64", "--stddev", "1000", "--dtype", "float16"],
    ["torch.trunc_normal", "--shape", "64", "--std", "1e300"],  # absolute bounds [-2, 2]
    ["random_normal", "--shape", "64", "--stddev", "1e300", "--dtype", "float64"],
    ["torch.normal", "--shape", "1000", "--std", "10000", "--dtype", "float16"],  # 6.1 std: 61000
    ["torch.trunc_normal", "--shape", "64", "--a", "50", "--b", "60", "--dtype", "float64"],
])
def test_values_the_dtype_can_hold_are_generated(args):
    run = run_cli(*args, "--seed", "3", "-o", "-", "-q")
    assert run.exit_code == 0, run
    assert np.isfinite(load(run)).all()


def test_a_bug_is_still_one_line_and_its_traceback_comes_on_request(monkeypatch):
    from weightgen import generation

    def broken(*args, **kwargs):
        raise RuntimeError("something impossible")

    monkeypatch.setattr(generation, "check_values_fit", broken)
    run = run_cli("glorot_uniform", "--shape", "3,3")
    assert run.exit_code == 1 and run.stderr.count("\n") == 1, run
    assert run.stderr.startswith("Error: internal error (RuntimeError: something impossible); please report it")
    with pytest.raises(RuntimeError, match="something impossible"):
        run_cli("glorot_uniform", "--shape", "3,3", env={"WEIGHTGEN_TRACEBACK": "1"})


def test_refuses_to_overwrite_without_force(tmp_path):
    target = tmp_path / "w.npy"
    target.write_bytes(b"precious")
    run = run_cli("glorot_uniform", "--shape", "3,3", "-o", str(target))
    assert run.exit_code == 1, run
    assert "already exists" in run.stderr and "--force" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1
    assert target.read_bytes() == b"precious"
    run = run_cli("glorot_uniform", "--shape", "3,3", "-o", str(target), "--force", "-q")
    assert run.exit_code == 0, run
    assert np.load(target).shape == (3, 3)
    assert sorted(os.listdir(tmp_path)) == ["w.npy"]


def test_unwritable_folder_is_a_runtime_error(tmp_path):
    run = run_cli("zeros", "--shape", "3", "-o", str(tmp_path / "missing" / "z.npy"))
    assert run.exit_code == 1, run
    assert run.stderr.startswith("Error: cannot write") and len(run.stderr.strip().splitlines()) == 1
    assert run.stderr.rstrip().endswith("No such file or directory; create the folder first, or write elsewhere.")


def test_version_and_help():
    from weightgen import __version__

    for level in ([], ["list"], ["inspect"], ["batch"], ["glorot_uniform"], ["jax.orthogonal"]):
        run = run_cli(*level, "--version")
        assert run.exit_code == 0 and run.text.strip() == f"weightgen {__version__}", run
    top = run_cli("--help")
    assert top.exit_code == 0 and "glorot_uniform" in top.text and "list" in top.text
    sub = run_cli("variance_scaling", "--help").text
    for option in ("--scale", "--mode", "--distribution", "--shape", "--dtype", "--seed", "--output",
                   "--layout", "--fan-in", "--threads", "--json", "--quiet", "--input-axes"):
        assert option in sub, option
    assert "--fan-in" not in run_cli("zeros", "--help").text


def test_list_shows_every_initializer():
    from weightgen.registry import registry

    run = run_cli("list")
    assert run.exit_code == 0
    rows = [line.split("\t") for line in run.text.splitlines()]  # not a terminal: one whole line each
    assert [row[0] for row in rows] == registry().canonical_names() and {len(row) for row in rows} == {4}
    records = [json.loads(line) for line in run_cli("list", "--json").text.splitlines()]
    assert [r["name"] for r in records] == registry().canonical_names()
    assert {r["family"] for r in records} == {"keras", "torch", "jax", "custom"}
    for family, example in (("keras", "glorot_uniform"), ("torch", "torch.kaiming_normal"),
                            ("jax", "jax.delta_orthogonal")):
        line = next(line for line in run.text.splitlines() if line.startswith(example + "\t"))
        assert family in line
    vs = next(r for r in records if r["name"] == "variance_scaling")
    assert [p["name"] for p in vs["params"]] == ["scale", "mode", "distribution", "input_axes", "output_axes"]
    assert vs["family"] == "keras" and "VarianceScaling" in vs["aliases"]
