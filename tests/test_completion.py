"""Shell completion: shipped scripts in step with the program, and what completes on TAB."""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys
import sysconfig

import h5py
import numpy as np
import pytest

from conftest import run_cli, weightgen_command

from weightgen import completion
from weightgen.fans import LAYOUTS
from weightgen.registry import registry

ROOT = pathlib.Path(__file__).resolve().parent.parent
#: Where the wheel installs each script (pyproject's shared-data), relative to the prefix.
INSTALLED = {"bash": "share/bash-completion/completions/weightgen",
             "zsh": "share/zsh/site-functions/_weightgen",
             "fish": "share/fish/vendor_completions.d/weightgen.fish"}


@pytest.mark.parametrize("shell", completion.SCRIPTS)
def test_shipped_scripts_are_what_the_program_generates(shell):
    shipped = (ROOT / completion.FOLDER / completion.SCRIPTS[shell]).read_text(encoding="utf-8")
    assert shipped == completion.script(shell), (
        f"completions/{completion.SCRIPTS[shell]} is out of date; regenerate the scripts with:\n"
        f"  {completion.REGENERATE}")


@pytest.mark.parametrize("shell", completion.SCRIPTS)
def test_scripts_equal_what_the_command_prints_for_its_source_variable(shell):
    run = run_cli(env={completion.COMPLETE_VAR: f"{shell}_source"})
    assert run.exit_code == 0 and run.text == completion.script(shell)


def test_the_check_mode_fails_on_drift_and_the_writer_repairs_it(tmp_path, capsys):
    assert completion.main([str(tmp_path)]) == 0
    assert sorted(os.listdir(tmp_path)) == sorted(completion.SCRIPTS.values())
    assert completion.main(["--check", str(tmp_path)]) == 0
    (tmp_path / "_weightgen").write_text("stale", encoding="utf-8")
    assert completion.main(["--check", str(tmp_path)]) == 1
    assert "regenerate with: python -m weightgen.completion" in capsys.readouterr().err
    assert (tmp_path / "_weightgen").read_text(encoding="utf-8") == "stale"
    assert completion.main([str(tmp_path)]) == 0 and completion.main(["--check", str(tmp_path)]) == 0


def test_pyproject_installs_each_script_where_its_shell_looks():
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    shared = config["tool"]["hatch"]["build"]["targets"]["wheel"]["shared-data"]
    assert shared == {f"{completion.FOLDER}/{completion.SCRIPTS[shell]}": INSTALLED[shell] for shell in INSTALLED}


def test_the_installed_scripts_are_the_shipped_ones():
    prefix = pathlib.Path(sysconfig.get_paths()["data"])
    for shell, relative in INSTALLED.items():
        installed = prefix / relative
        assert installed.is_file(), f"{relative} is not installed under {prefix}; reinstall weightgen"
        assert installed.read_text(encoding="utf-8") == completion.script(shell)


def complete(*words: str, cwd: str | None = None) -> list[str]:
    """What bash completion offers for the last word (``""`` for a new one), in-process."""
    line = " ".join(["weightgen", *words])
    env = {completion.COMPLETE_VAR: "bash_complete", "COMP_WORDS": line, "COMP_CWORD": str(len(words))}
    old = os.getcwd()
    if cwd:
        os.chdir(cwd)
    try:
        run = run_cli(env=env)
    finally:
        os.chdir(old)
    assert run.exit_code == 0 and run.stderr == "", run
    return [item.split(",", 1)[1] if item.startswith("plain,") else item for item in run.text.splitlines() if item]


def test_initializer_names_complete():
    assert complete("glo") == ["glorot_uniform", "glorot_normal"]
    offered = complete("")
    assert set(registry().canonical_names()) <= set(offered) and {"list", "batch"} <= set(offered)


@pytest.mark.parametrize(("option", "values"), [
    ("--dtype", ["float32", "float16", "bfloat16", "float64"]),
    ("--layout", list(LAYOUTS)),
    ("--format", ["npy", "npz", "hdf5", "safetensors"]),
    ("--rng", ["weightgen", "keras"]),
    ("--compression", ["gzip", "lzf"]),
])
def test_common_option_values_complete(option, values):
    assert complete("he_normal", option, "") == values
    assert complete("he_normal", option, values[0][:2]) == [v for v in values if v.startswith(values[0][:2])]


def test_every_choice_parameter_of_every_initializer_completes():
    """--mode, --distribution, --nonlinearity, ... wherever the registry has a choice."""
    checked = 0
    for spec in registry():
        for param in spec.params:
            if param.kind == "choice":
                offered = complete(spec.name, param.option, "")
                assert set(param.choices) <= set(offered), (spec.name, param.option)
                checked += 1
    assert checked >= 3
    assert complete("variance_scaling", "--mode", "fan_") == ["fan_in", "fan_out", "fan_avg"]
    assert "untruncated_normal" in complete("variance_scaling", "--distribution", "")


def test_half_typed_commands_complete_silently():
    """Completion never prints an error: an unknown initializer or an option still waiting for
    its value (--expect's own parameters, which do not complete) complete nothing."""
    assert complete("nosuch", "--dtype", "") == []
    assert complete("inspect", "x.npy", "--expect", "variance_scaling", "--mode", "") == []


def test_integer_dtypes_complete_only_where_allowed():
    assert "int8" in complete("zeros", "--dtype", "") and "int8" not in complete("he_normal", "--dtype", "")


@pytest.mark.parametrize("extension", [".h5", ".npz", ".safetensors"])
def test_entry_names_of_the_output_container_complete(tmp_path, extension):
    target = tmp_path / f"model{extension}"
    for name in ("dense_1/kernel", "dense_1/bias", "conv/kernel"):
        assert run_cli("zeros", "--shape", "2", "-o", str(target), "--name", name, "-q").exit_code == 0
    assert sorted(complete("he_normal", "-o", str(target), "--name", "dense_1/")) == ["dense_1/bias", "dense_1/kernel"]
    assert sorted(complete("glorot_uniform", "--output", str(target), "--name", "")) == [
        "conv/kernel", "dense_1/bias", "dense_1/kernel"]


def test_inspect_name_completes_the_entries_of_the_files_given(tmp_path):
    for target, name in (("a.h5", "enc/kernel"), ("a.h5", "enc/bias"), ("b.npz", "dec/kernel")):
        assert run_cli("ones", "--shape", "2", "-o", str(tmp_path / target), "--name", name, "-q").exit_code == 0
    assert sorted(complete("inspect", str(tmp_path / "a.h5"), str(tmp_path / "b.npz"), "--name", "")) == [
        "dec/kernel", "enc/bias", "enc/kernel"]
    assert complete("inspect", str(tmp_path / "b.npz"), "--name", "d") == ["dec/kernel"]


def test_entry_names_need_an_existing_readable_container(tmp_path):
    assert complete("zeros", "-o", str(tmp_path / "missing.h5"), "--name", "") == []
    (tmp_path / "junk.h5").write_bytes(b"not hdf5")
    assert complete("zeros", "-o", str(tmp_path / "junk.h5"), "--name", "") == []
    assert complete("zeros", "--name", "") == []
    np.save(tmp_path / "w.npy", np.zeros(2))
    assert complete("zeros", "-o", str(tmp_path / "w.npy"), "--name", "") == []


def test_entry_name_completion_reads_hdf5_groups_deeply(tmp_path):
    with h5py.File(tmp_path / "m.h5", "w") as file:
        file.create_dataset("a/b/c/kernel", data=np.zeros(2))
        file.create_group("empty")
    assert completion.entry_names(str(tmp_path / "m.h5")) == ["a/b/c/kernel"]


def test_files_complete_for_paths(tmp_path):
    assert complete("batch", "") == ["file,"]
    assert complete("he_normal", "-o", "") == ["file,"]
    assert complete("batch", "spec.toml", "--output-dir", "") == ["dir,"]


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_the_bash_script_completes_in_bash(tmp_path):
    """The shipped script, sourced by a real bash, asks the installed command."""
    script = ROOT / completion.FOLDER / completion.SCRIPTS["bash"]
    program = weightgen_command()
    if len(program) != 1:
        pytest.skip("the weightgen command is not installed")
    folder = os.path.dirname(program[0])
    code = (f"source {script}\n"
            "COMP_WORDS=(weightgen variance_scaling --mode fan_); COMP_CWORD=3\n"
            "_weightgen_completion weightgen\n"
            "printf '%s\\n' \"${COMPREPLY[@]}\"\n")
    done = subprocess.run(["bash", "--norc", "-c", code], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PATH": folder + os.pathsep + os.environ.get("PATH", "")})
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["fan_in", "fan_out", "fan_avg"]


def test_completion_module_runs_as_a_script(tmp_path):
    done = subprocess.run([sys.executable, "-m", "weightgen.completion", "--check", str(tmp_path)],
                          capture_output=True, text=True)
    assert done.returncode == 1 and "out of date" in done.stderr
