"""Import hygiene: help, version, list and completion must not pay for numpy and friends.

Completion runs the program on every TAB and shell loops run it thousands of times, so
what each command imports is its start-up cost (``benchmarks/startup.py`` measures it).
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

HEAVY = ("numpy", "h5py", "safetensors", "ml_dtypes", "scipy", "rich")


def modules_after(code: str, env: dict[str, str] | None = None) -> set[str]:
    report = "\nimport sys\nsys.stderr.write('MODULES ' + ' '.join(sys.modules))"
    done = subprocess.run([sys.executable, "-c", code + report], capture_output=True, text=True,
                          check=True, env={**os.environ, **(env or {})})
    return set(done.stderr.rsplit("MODULES ", 1)[1].split())


def heavy(loaded: set[str], names: tuple[str, ...] = HEAVY) -> set[str]:
    return {m for m in loaded if m.split(".")[0] in names}


def run_main(*args: str) -> str:
    """Code that runs ``weightgen ARGS`` in-process, as the installed command does."""
    return f"from weightgen.cli import main\ntry:\n    main({list(args)!r})\nexcept SystemExit:\n    pass"


def test_importing_the_cli_and_registry_imports_nothing_heavy():
    loaded = modules_after("import weightgen.cli\nfrom weightgen.registry import registry\nregistry()")
    assert not heavy(loaded)


def test_building_every_command_imports_nothing_heavy():
    code = ("from weightgen.cli import cli, WeightgenGroup\nimport click\n"
            "ctx = click.Context(cli)\n"
            "[cli.get_command(ctx, n) for n in cli.list_commands(ctx)]")
    loaded = modules_after(code)
    assert not {m for m in loaded if m.split(".")[0] in HEAVY}


def test_version_and_help_import_nothing_heavy():
    for args in ("['--version']", "['--help']", "['glorot_uniform', '--help']", "['inspect', '--help']"):
        code = ("from weightgen.cli import main\ntry:\n    main(" + args + ")\nexcept SystemExit:\n    pass")
        loaded = modules_after(code)
        assert not {m for m in loaded if m.split(".")[0] in HEAVY}, args


def test_importing_weightgen_loads_no_generation_machinery():
    loaded = modules_after("import weightgen\nweightgen.registry()\nweightgen.SpecError")
    assert not heavy(loaded) and not {"weightgen.generation", "weightgen.sampler", "weightgen.inspection"} & loaded
    loaded = modules_after("import weightgen\nweightgen.generate, weightgen.generate_batch, weightgen.inspect")
    assert {"weightgen.generation", "weightgen.batch", "weightgen.inspection"} <= loaded


@pytest.mark.parametrize(("words", "cword"), [
    ("weightgen glo", 1),
    ("weightgen he_normal --dtype ", 3),
    ("weightgen variance_scaling --mode ", 3),
    ("weightgen he_normal -o ", 3),
    ("weightgen batch spec.toml --output-dir ", 4),
])
def test_completion_imports_nothing_heavy(words, cword):
    env = {"_WEIGHTGEN_COMPLETE": "bash_complete", "COMP_WORDS": words, "COMP_CWORD": str(cword)}
    loaded = modules_after(run_main(), env)
    assert "weightgen.registry" in loaded  # it did complete
    assert not heavy(loaded), words
    if cword > 1:  # completing an option of a built-in needs no plugin search
        assert "importlib.metadata" not in loaded, words


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_printing_a_completion_script_imports_nothing_heavy(shell):
    loaded = modules_after(run_main(), {"_WEIGHTGEN_COMPLETE": f"{shell}_source"})
    assert not heavy(loaded)


def test_batch_help_imports_nothing_heavy():
    loaded = modules_after(run_main("batch", "--help"))
    assert not heavy(loaded) and "weightgen.batch" not in loaded


def test_generating_npy_does_not_import_container_formats():
    code = ("import weightgen, tempfile, os\n"
            "weightgen.generate('zeros', (10,), output=os.path.join(tempfile.mkdtemp(), 'z.npy'))")
    loaded = modules_after(code)
    assert "numpy" in loaded
    assert not {m for m in loaded if m.split(".")[0] in ("h5py", "safetensors", "scipy")}


@pytest.mark.parametrize("quiet", [(), ("-q",)])
def test_a_small_npy_from_the_command_line_imports_only_what_it_needs(tmp_path, quiet):
    """No container library, no scipy, no bfloat16, no rich off a terminal, no thread pool for one
    block, and no numpy.random for a deterministic initializer."""
    loaded = modules_after(run_main("zeros", "--shape", "10", "-o", str(tmp_path / "z.npy"), *quiet))
    assert (tmp_path / "z.npy").exists() and "numpy" in loaded
    assert not heavy(loaded, ("h5py", "safetensors", "scipy", "ml_dtypes", "rich", "concurrent", "json"))
    assert not {"numpy.random", "numpy.polynomial", "importlib.metadata"} & loaded
    loaded = modules_after(run_main("glorot_uniform", "--shape", "64,64", "-o", str(tmp_path / "g.npy"), *quiet))
    assert not heavy(loaded, ("h5py", "safetensors", "scipy", "ml_dtypes", "rich", "concurrent"))


def test_version_does_not_even_build_the_registry():
    loaded = modules_after(run_main("--version"))
    assert not {m for m in loaded if m.startswith(("weightgen.families", "weightgen.params", "weightgen.plan"))}


def test_the_command_pauses_the_collector_and_freezes_before_exit():
    """What makes a short run cheap (see weightgen.cli.run); main() itself changes nothing."""
    code = ("import atexit, gc, sys\n"
            "atexit.register(lambda: sys.stderr.write(f'GC {gc.isenabled()} {gc.get_freeze_count() > 0}'))\n"
            "from weightgen._entry import run\nrun()")
    done = subprocess.run([sys.executable, "-c", code, "--version"], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.startswith("weightgen ")
    assert done.stderr.endswith("GC False True")
    code = "import gc\nfrom weightgen.cli import main\ntry:\n    main(['--version'])\nexcept SystemExit:\n    pass\n" \
           "print(gc.isenabled(), gc.get_freeze_count())"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.splitlines()[-1] == "True 0"
