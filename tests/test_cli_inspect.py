"""``weightgen inspect`` on the command line: options, output, the verdict and its exit code."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

from conftest import run_cli

import weightgen
from weightgen.cli import split_expect_params

SPEC_KEYS = {"file", "name", "shape", "dtype", "count", "mean", "std", "min", "max", "zeros", "provenance", "check"}


@pytest.fixture
def glorot(tmp_path):
    path = tmp_path / "w.npy"
    weightgen.generate("glorot_uniform", (256, 128), seed=3, output=str(path))
    return str(path)


def test_a_passing_check_exits_0_and_shows_the_verdict_and_histogram(glorot):
    run = run_cli("inspect", glorot, "--expect", "glorot_uniform")
    assert run.exit_code == 0, run
    assert "PASS" in run.stderr and "FAIL" not in run.stderr and run.stdout == b""
    assert "glorot_uniform expects" in run.stderr and "█" in run.stderr and "│" in run.stderr
    assert "\x1b[" not in run.stderr
    for line in ("mean", "std", "min", "max", "zeros", "non-finite"):
        assert f"\n{line} " in run.stderr


def test_a_failing_check_exits_1_with_one_closing_line(glorot):
    run = run_cli("inspect", glorot, "--expect", "he_normal")
    assert run.exit_code == 1, run
    assert "FAIL" in run.stderr
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("Error: 1 of 1 entries failed the check against their initializer (")
    assert "KS p=" in last and "Traceback" not in run.stderr


def test_json_lines_carry_the_spec_keys(tmp_path):
    path = str(tmp_path / "m.safetensors")
    weightgen.generate("he_normal", (16, 8), seed=1, output=path, name="a")
    weightgen.generate("zeros", (8,), output=path, name="b")
    run = run_cli("inspect", path, "--json")
    assert run.exit_code == 0, run
    records = [json.loads(line) for line in run.text.splitlines()]
    assert [r["name"] for r in records] == ["a", "b"]
    for record in records:
        assert SPEC_KEYS <= set(record)
        assert {"initializer", "ks_statistic", "p_value", "pass"} <= set(record["check"])
        assert record["provenance"]["seed"] in ("1", record["provenance"]["seed"])
    assert records[0]["check"]["pass"] is True and records[0]["check"]["p_value"] > 1e-3
    assert records[1]["check"]["method"] == "exact" and records[1]["check"]["ks_statistic"] is None
    assert records[1]["zeros"] == 1.0 and run.stderr == ""


def test_json_with_a_failure_still_exits_1(glorot):
    run = run_cli("inspect", glorot, "--expect", "he_normal", "--json")
    assert run.exit_code == 1 and json.loads(run.text)["check"]["pass"] is False
    assert run.stderr.count("\n") == 1


@pytest.mark.parametrize("expect, code", [("glorot_uniform", 0), ("he_normal", 1)])
def test_quiet_gives_only_the_exit_code_and_errors(glorot, tmp_path, expect, code):
    run = run_cli("inspect", glorot, "--expect", expect, "-q")
    assert run.exit_code == code, run
    assert run.stdout == b""
    if code == 0:
        assert run.stderr == ""
    else:  # the one closing line, without the report above it
        assert run.stderr.startswith("Error: 1 of 1 entries failed the check") and run.stderr.count("\n") == 1
    missing = run_cli("inspect", str(tmp_path / "gone.npy"), "--quiet")
    assert missing.exit_code == 1 and missing.stderr.startswith("Error: ") and missing.stderr.count("\n") == 1


def test_expect_params_follow_as_options(tmp_path):
    path = str(tmp_path / "vs.npy")
    weightgen.generate("variance_scaling", (256, 64), seed=2, output=path, scale=2.0, mode="fan_out",
                       distribution="uniform")
    ok = run_cli("inspect", path, "--expect", "variance_scaling", "--scale", "2", "--mode=fan_out",
                 "--distribution", "uniform", "--json")
    assert ok.exit_code == 0, ok
    assert json.loads(ok.text)["check"]["params"]["scale"] == 2.0
    assert run_cli("inspect", "--expect=variance_scaling", "--scale=2", path).exit_code == 1
    negative = run_cli("inspect", path, "--expect", "random_uniform", "--minval", "-0.5", "--maxval", "0.5")
    assert negative.exit_code == 1 and "minval=-0.5" in negative.stderr


def test_split_expect_params_handles_every_spelling():
    own = {"--name", "--expect", "--json", "--layout", "--fan-in", "--fan-out", "--alpha", "--help"}
    args = ["a.npy", "--expect", "stft", "--periodic", "--side=imag", "--window", "kaiser,8", "--json", "-"]
    rest, params = split_expect_params(args, own)
    assert rest == ["a.npy", "--expect", "stft", "--json", "-"]
    assert params == {"periodic": True, "side": "imag", "window": "kaiser,8"}
    assert split_expect_params(["--expect", "stft", "--no-periodic"], own)[1] == {"periodic": False}
    assert split_expect_params(["x", "--", "--scale"], own) == (["x", "--", "--scale"], {})
    assert split_expect_params(["--scale", "2", "x"], own) == (["--scale", "2", "x"], {})


@pytest.mark.parametrize("args, message", [
    (["--expect", "variance_scaling", "--scale", "-2"], "Error: Invalid value for --scale: must be > 0 (got '-2')."),
    (["--expect", "variance_scaling", "--mode", "sideways"], "Invalid value for --mode: expected one of"),
    (["--expect", "he_normal", "--stddev", "2"], "he_normal has no parameter 'stddev'; its parameters are: "
                                                "--input-axes, --output-axes."),
    (["--expect", "he_nromal"], "Unknown initializer 'he_nromal'. Did you mean 'he_normal'"),
    (["--expect", "zeros", "--layout", "torch"], "zeros does not use fans"),
    (["--layout", "torch"], "--layout describes the initializer of --expect; give --expect NAME."),
    (["--expect", "he_normal", "--alpha", "0"], "Invalid value for --alpha"),
    (["--expect", "variance_scaling", "--scale"], "Option '--scale' requires an argument."),
    # refused only when the initializer resolves: still usage errors, before any file is read
    (["--expect", "glorot_uniform", "--fan-in", "-3"], "Invalid value for --fan-in: must be > 0"),
    (["--expect", "random_uniform", "--minval", "1", "--maxval", "0"], "random_uniform needs --minval < --maxval"),
    (["--expect", "torch.trunc_normal", "--a", "2", "--b", "2"], "torch.trunc_normal needs --a < --b"),
])
def test_bad_options_are_usage_errors_in_generates_words(glorot, args, message):
    run = run_cli("inspect", glorot, *args)
    assert run.exit_code == 2, run
    assert message in run.stderr and run.stderr.count("\n") == 1


def test_a_parameter_that_suits_only_some_shapes_is_judged_per_entry(tmp_path):
    """--in-axis 4 is out of range for a small shape but right for this 6-D tensor."""
    target = tmp_path / "v6.safetensors"
    assert run_cli("jax.variance_scaling", "--shape", "2,2,2,2,3,4", "--in-axis", "4", "--out-axis", "5",
                   "-o", str(target), "-q").exit_code == 0
    for expect in (["--expect", "jax.variance_scaling", "--in-axis", "4", "--out-axis", "5"], []):
        run = run_cli("inspect", str(target), *expect, "--json")
        assert run.exit_code == 0, run
        assert json.loads(run.text)["check"]["pass"] is True


def test_the_same_bad_value_reads_the_same_in_generate_and_inspect(glorot):
    generate = run_cli("variance_scaling", "--shape", "4,4", "--scale", "-2")
    inspect = run_cli("inspect", glorot, "--expect", "variance_scaling", "--scale", "-2")
    assert generate.exit_code == inspect.exit_code == 2
    assert generate.stderr.splitlines()[-1] == inspect.stderr.splitlines()[-1]


def test_an_unreadable_file_is_one_line_and_the_others_are_still_shown(tmp_path, glorot):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    run = run_cli("inspect", str(bad), glorot, "--expect", "glorot_uniform", "--json")
    assert run.exit_code == 1
    assert run.stderr == f"Error: cannot read {bad}: not a valid npz file (File is not a zip file)\n"
    assert json.loads(run.text)["check"]["pass"] is True


def test_stdin_is_read_and_named(glorot):
    with open(glorot, "rb") as file:
        data = file.read()
    run = run_cli("inspect", "-", "--expect", "glorot_uniform", input=data)
    assert run.exit_code == 0, run
    assert run.stderr.startswith("stdin  (npy)")
    run = run_cli("inspect", "-", "--json", input=data)
    assert json.loads(run.text)["file"] == "-"


def test_names_select_entries(tmp_path):
    path = str(tmp_path / "m.h5")
    for name in ("x", "y", "z"):
        weightgen.generate("ones", (3,), output=path, name=name)
    run = run_cli("inspect", path, "--name", "x", "--name", "z", "--json")
    assert [json.loads(line)["name"] for line in run.text.splitlines()] == ["x", "z"]
    missing = run_cli("inspect", path, "--name", "w")
    assert missing.exit_code == 1 and "has no entry named 'w'; its entries: x, y, z." in missing.stderr


def test_several_entries_end_with_a_count(tmp_path):
    path = str(tmp_path / "m.npz")
    weightgen.generate("he_normal", (32, 32), seed=1, output=path, name="w")
    weightgen.generate("zeros", (32,), output=path, name="b")
    run = run_cli("inspect", path)
    assert run.exit_code == 0, run
    assert "checked 2 entries: 2 passed, 0 failed" in run.stderr
    assert "provenance: he_normal" in run.stderr and "[provenance]" in run.stderr


def test_a_file_without_provenance_has_no_verdict(tmp_path):
    np.save(tmp_path / "plain.npy", np.arange(10, dtype=np.float32))
    run = run_cli("inspect", str(tmp_path / "plain.npy"), "--json")
    record = json.loads(run.text)
    assert run.exit_code == 0 and record["check"] is None and record["provenance"] is None
    assert record["mean"] == 4.5 and record["zeros"] == 0.1


def test_help_lists_the_options():
    run = run_cli("inspect", "--help")
    assert run.exit_code == 0
    for option in ("--expect", "--name", "--json", "--layout", "--alpha"):
        assert option in run.text
    assert "Exit code 1" in run.text


def test_pickled_arrays_are_refused(tmp_path):
    buffer = io.BytesIO()
    np.save(buffer, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    (tmp_path / "o.npy").write_bytes(buffer.getvalue())
    run = run_cli("inspect", str(tmp_path / "o.npy"))
    assert run.exit_code == 1 and "weightgen never unpickles" in run.stderr and run.stderr.count("\n") == 1


def test_a_file_without_entries_says_so(tmp_path):
    import h5py

    with h5py.File(tmp_path / "e.h5", "w") as file:
        file.create_group("only/groups")
    run = run_cli("inspect", str(tmp_path / "e.h5"))
    assert run.exit_code == 0 and run.stderr == f"{tmp_path / 'e.h5'}: no entries\n"
    assert run_cli("inspect", str(tmp_path / "e.h5"), "--json").text == ""
