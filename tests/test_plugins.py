"""Plugins: initializers from the entry-point group ``weightgen.initializers``.

In-process tests feed the registry entry points directly; the installed test pip-installs
the example plugin under ``tests/plugin_example`` (and a broken one beside it) into a
temporary folder and runs the real command with that folder on its path.
"""

from __future__ import annotations

import importlib.util
import json
import os
import pathlib
import shutil
import subprocess
import sys
from importlib.metadata import EntryPoint

import importlib

import numpy as np
import pytest

import weightgen
from weightgen.families import builtin_specs
from weightgen.registry import ENTRY_POINT_GROUP, InitializerSpec, Registry

from conftest import run_cli, run_installed

EXAMPLE = pathlib.Path(__file__).resolve().parent / "plugin_example"

# Objects the synthetic entry points below point at (this module is importable as test_plugins).
NOT_A_SPEC = 42
CLASHING = InitializerSpec(name="glorot_uniform", family="example", summary="clash",
                           resolve=lambda request: None)
RESERVED = InitializerSpec(name="list", family="example", summary="clash", resolve=lambda request: None)
BAD_NAME = InitializerSpec(name="two words", family="example", summary="x", resolve=lambda request: None)
BUGGY = InitializerSpec(name="example.buggy", family="example", summary="its resolve has a bug",
                        resolve=lambda request: 1 / 0)


def raising():
    raise RuntimeError("plugin bug")


def empty():
    return []


def half_clashing():
    from weightgen_example_plugin import ARANGE

    return [ARANGE, CLASHING]


def entry(name: str, value: str) -> EntryPoint:
    return EntryPoint(name=name, value=value, group=ENTRY_POINT_GROUP)


@pytest.fixture
def example_path(monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLE))
    yield
    sys.modules.pop("weightgen_example_plugin", None)


def builtins() -> Registry:
    built = Registry()
    for spec in builtin_specs():
        built.add(spec)
    return built


def test_plugins_come_after_the_builtins(example_path):
    reg = builtins()
    count = len(reg)
    reg.load_plugins([entry("arange", "weightgen_example_plugin:ARANGE"),
                      entry("symmetric", "weightgen_example_plugin:specs")])
    assert reg.problems == []
    assert len(reg) == count + 2
    assert reg.canonical_names()[-2:] == ["example.arange", "example.symmetric_uniform"]
    assert reg.get("example.su").name == "example.symmetric_uniform"
    assert reg.get("example.arange").origin.startswith("plugin ")
    assert reg.get("glorot_uniform").origin == "builtin"


@pytest.mark.parametrize("value,pattern", [
    ("surely_no_such_plugin_module:SPEC", "ModuleNotFoundError"),
    ("weightgen_example_plugin:MISSING", "AttributeError"),
    ("test_plugins:NOT_A_SPEC", "expected an InitializerSpec or a callable"),
    ("test_plugins:raising", "RuntimeError: plugin bug"),
    ("test_plugins:empty", "provides no initializers"),
    ("test_plugins:CLASHING", "'glorot_uniform' is taken by 'glorot_uniform'"),
    ("test_plugins:RESERVED", "'list' is a weightgen command"),
    ("test_plugins:BAD_NAME", "'two words' is not a usable initializer name"),
    ("test_plugins:half_clashing", "is taken"),
])
def test_a_broken_plugin_is_recorded_and_harmless(example_path, value, pattern):
    reg = builtins()
    before = reg.canonical_names()
    reg.load_plugins([entry("broken", value), entry("symmetric", "weightgen_example_plugin:specs")])
    assert len(reg.problems) == 1
    assert reg.problems[0].startswith(f"plugin 'broken' ({value}) was skipped: ")
    assert pattern in reg.problems[0] and "\n" not in reg.problems[0]
    # Built-ins untouched, the good plugin loaded, nothing of the broken one added.
    assert reg.canonical_names() == [*before, "example.symmetric_uniform"]
    assert reg.get("glorot_uniform").family == "keras"
    assert reg.find("example.arange") is None
    assert "1 plugin failed to load" in reg.unknown_message("example.arange")


@pytest.fixture
def plugged(example_path, monkeypatch):
    """The process-wide registry with the example plugin and one broken plugin loaded."""
    reg = builtins()
    reg.load_plugins([entry("arange", "weightgen_example_plugin:ARANGE"),
                      entry("symmetric", "weightgen_example_plugin:specs"),
                      entry("broken", "surely_no_such_plugin_module:SPEC")])
    monkeypatch.setattr(importlib.import_module("weightgen.registry"), "_REGISTRY", reg)
    return reg


def test_plugin_initializers_generate_like_any_other(plugged):
    values = weightgen.generate("example.arange", (2, 3), start=1, step=0.5).array
    assert np.array_equal(values, 1 + 0.5 * np.arange(6, dtype=np.float32).reshape(2, 3))
    uniform = weightgen.generate("example.su", (300, 300), limit=0.25, seed=1)
    assert uniform.array.min() >= -0.25 and uniform.array.max() < 0.25
    assert uniform.summary()["family"] == "example"


def test_plugins_in_list_help_and_subcommands(plugged):
    listed = run_cli("list")
    assert listed.exit_code == 0 and "example.arange" in listed.text, listed
    assert listed.stderr.startswith("Warning: plugin 'broken'") and listed.stderr.count("\n") == 1
    records = [json.loads(line) for line in run_cli("list", "--json", "--family", "example").text.splitlines()]
    assert [r["name"] for r in records] == ["example.arange", "example.symmetric_uniform"]
    assert records[0]["origin"].startswith("plugin ")
    top = run_cli("--help")
    assert "Initializers (example)" in top.text and "example.symmetric_uniform" in top.text, top
    assert "Warning: plugin 'broken'" in top.stderr
    sub = run_cli("example.symmetric_uniform", "--help")
    assert "--limit" in sub.text and "--shape" in sub.text, sub
    run = run_cli("example.arange", "--shape", "4", "--step", "2", "--json")
    assert run.exit_code == 0 and json.loads(run.text)["max"] == 6.0, run
    builtin = run_cli("glorot_uniform", "--shape", "3,3", "-q")
    assert builtin.exit_code == 0 and builtin.stderr == "", builtin


def test_a_plugin_bug_at_generation_is_one_line_exit_1(plugged):
    plugged.load_plugins([entry("buggy", "test_plugins:BUGGY")])
    with pytest.raises(weightgen.InitializerError, match="example.buggy .from plugin .* ZeroDivisionError"):
        weightgen.generate("example.buggy", (3,))
    run = run_cli("example.buggy", "--shape", "3")
    assert run.exit_code == 1 and run.stderr.count("\n") == 1, run


def test_the_readme_table_lists_builtins_only(plugged):
    from weightgen.listing import markdown_table

    assert "example." not in markdown_table()


# -- installed ------------------------------------------------------------------------------------

BROKEN_METADATA = "Metadata-Version: 2.1\nName: broken-weightgen-plugin\nVersion: 0.0.1\n"
BROKEN_ENTRY_POINTS = f"[{ENTRY_POINT_GROUP}]\nbroken = surely_no_such_plugin_module:SPEC\n"


def _local_setuptools_builds_wheels() -> bool:
    """Whether this environment can build the plugin without fetching a backend.

    setuptools builds wheels by itself from 70.1; older ones need the ``wheel`` package.
    """
    from importlib.metadata import PackageNotFoundError, version

    try:
        major, minor = (int(part) for part in version("setuptools").split(".")[:2])
    except (PackageNotFoundError, ValueError):
        return False
    return (major, minor) >= (70, 1) or importlib.util.find_spec("wheel") is not None


@pytest.fixture(scope="module")
def installed_plugins(tmp_path_factory):
    """pip-install the example plugin into a folder (plus a broken plugin's metadata beside it)."""
    work = tmp_path_factory.mktemp("plugins")
    source = work / "source"
    shutil.copytree(EXAMPLE, source)  # building writes into the source tree: keep ours clean
    target = work / "site"
    command = [sys.executable, "-m", "pip", "install", "--no-deps", "--no-input",
               "--disable-pip-version-check", "--target", str(target), str(source)]
    offline_build = _local_setuptools_builds_wheels()
    if offline_build:
        command.insert(4, "--no-build-isolation")
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        if not offline_build:
            pytest.skip("cannot fetch a build backend to install the example plugin: "
                        + done.stderr.strip().splitlines()[-1])
        pytest.fail(f"pip could not install the example plugin:\n{done.stdout}\n{done.stderr}")
    broken = target / "broken_weightgen_plugin-0.0.1.dist-info"
    broken.mkdir()
    (broken / "METADATA").write_text(BROKEN_METADATA)
    (broken / "entry_points.txt").write_text(BROKEN_ENTRY_POINTS)
    return {"PYTHONPATH": os.pathsep.join(filter(None, [str(target), os.environ.get("PYTHONPATH")]))}


def test_installed_plugin_everywhere(installed_plugins):
    env = installed_plugins
    listed = run_installed("list", env=env)
    assert listed.exit_code == 0, listed
    assert "example.arange" in listed.text and "example.symmetric_uniform" in listed.text
    assert "glorot_uniform" in listed.text and "torch.kaiming_normal" in listed.text
    warnings = [line for line in listed.stderr.splitlines() if line]
    assert len(warnings) == 1 and warnings[0].startswith("Warning: plugin 'broken'"), listed
    record = json.loads(run_installed("list", "--json", "--family", "example", env=env).text.splitlines()[0])
    assert record["origin"] == "plugin weightgen-example-plugin 0.1.0"

    run = run_installed("example.symmetric_uniform", "--shape", "50,40", "--limit", "0.5",
                        "--seed", "3", "--json", env=env)
    assert run.exit_code == 0, run
    summary = json.loads(run.text)
    assert summary["family"] == "example" and -0.5 <= summary["min"] and summary["max"] < 0.5

    helped = run_installed("--help", env=env)
    assert "Initializers (example)" in helped.text and "example.arange" in helped.text

    completion = run_installed(env={**env, "_WEIGHTGEN_COMPLETE": "bash_complete",
                                    "COMP_WORDS": "weightgen example.", "COMP_CWORD": "1"})
    assert "example.arange" in completion.text and "example.symmetric_uniform" in completion.text, completion

    builtin = run_installed("he_normal", "--shape", "8,8", "--seed", "1", "-q", env=env)
    assert builtin.exit_code == 0 and builtin.stderr == "", builtin


def test_plugins_are_looked_for_only_when_a_name_is_not_a_builtin(monkeypatch, example_path):
    """Finding plugins imports importlib.metadata and scans every package: a built-in
    asked for by name (every generate command) does without."""
    module = importlib.import_module("weightgen.registry")
    calls = []

    def installed():
        calls.append(1)
        return [entry("arange", "weightgen_example_plugin:ARANGE")]

    monkeypatch.setattr(module, "installed_entry_points", installed)
    monkeypatch.setattr(module, "_REGISTRY", None)
    reg = module.registry()
    assert reg.find("zeros") is not None and reg.get("glorot-uniform").name == "glorot_uniform"
    assert calls == []
    assert reg.find("example.arange") is not None and calls == [1]
    assert "example.arange" in reg.canonical_names() and reg.problems == [] and calls == [1]


@pytest.mark.parametrize("need", ["list", "names", "problems", "unknown"])
def test_every_way_of_needing_all_names_loads_the_plugins(monkeypatch, example_path, need):
    module = importlib.import_module("weightgen.registry")
    monkeypatch.setattr(module, "installed_entry_points",
                        lambda: [entry("arange", "weightgen_example_plugin:ARANGE"),
                                 entry("bad", "test_plugins:NOT_A_SPEC")])
    monkeypatch.setattr(module, "_REGISTRY", None)
    reg = module.registry()
    if need == "list":
        assert "example.arange" in [spec.name for spec in reg]
    elif need == "names":
        assert "example.arange" in reg.all_names()
    elif need == "problems":
        assert len(reg.problems) == 1 and "plugin 'bad'" in reg.problems[0]
    else:
        assert "1 plugin failed to load" in reg.unknown_message("example.arang")
        assert reg.suggestions("example.arang") == ["example.arange"]
