"""Import hygiene: help, version, list and completion must not pay for numpy and friends."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("numpy", "h5py", "safetensors", "ml_dtypes", "scipy", "rich")


def modules_after(code: str) -> set[str]:
    report = "\nimport sys\nsys.stderr.write('MODULES ' + ' '.join(sys.modules))"
    done = subprocess.run([sys.executable, "-c", code + report], capture_output=True, text=True,
                          check=True)
    return set(done.stderr.rsplit("MODULES ", 1)[1].split())


def test_importing_the_cli_and_registry_imports_nothing_heavy():
    loaded = modules_after("import weightgen.cli\nfrom weightgen.registry import registry\nregistry()")
    assert not {m for m in loaded if m.split(".")[0] in HEAVY}


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


def test_generating_npy_does_not_import_container_formats():
    code = ("import weightgen, tempfile, os\n"
            "weightgen.generate('zeros', (10,), output=os.path.join(tempfile.mkdtemp(), 'z.npy'))")
    loaded = modules_after(code)
    assert "numpy" in loaded
    assert not {m for m in loaded if m.split(".")[0] in ("h5py", "safetensors", "scipy")}
