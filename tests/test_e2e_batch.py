"""End-to-end: batch through the installed command, and the README's pipeline recipes."""

from __future__ import annotations

import json
import os
import pathlib
import re
import shutil
import subprocess

import numpy as np
import pytest

from conftest import entry_names, run_installed, weightgen_command

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_readme_batch_command_writes_every_tensor_and_reordering_changes_no_bytes(tmp_path):
    spec = (ROOT / "examples" / "mlp.toml").read_text(encoding="utf-8")
    run = run_installed("batch", str(ROOT / "examples" / "mlp.toml"), "-o", "mlp.h5", cwd=str(tmp_path))
    assert run.exit_code == 0, run
    assert sorted(entry_names(tmp_path / "mlp.h5")) == sorted(re.findall(r'name = "([^"]+)"', spec))
    assert "wrote 6 tensors to mlp.h5 (hdf5)" in run.stderr and "\x1b[" not in run.stderr
    header, *tables = spec.split("[[tensor]]")
    (tmp_path / "reordered.toml").write_text(header + "".join("[[tensor]]" + t for t in tables[::-1]),
                                             encoding="utf-8")
    again = run_installed("batch", "reordered.toml", "-o", "again.h5", "-q", cwd=str(tmp_path))
    assert again.exit_code == 0, again
    import h5py

    with h5py.File(tmp_path / "mlp.h5", "r") as a, h5py.File(tmp_path / "again.h5", "r") as b:
        for name in entry_names(tmp_path / "mlp.h5"):
            assert a[name][()].tobytes() == b[name][()].tobytes(), name


def test_a_bad_spec_through_the_installed_command(tmp_path):
    (tmp_path / "bad.toml").write_text('seed = 1\n[[tensor]]\nname = "w"\ninit = "he_normal"\nshape = [3, -3]\n',
                                       encoding="utf-8")
    run = run_installed("batch", "bad.toml", "-o", "m.h5", cwd=str(tmp_path))
    assert run.exit_code == 2 and run.stderr.count("\n") == 1 and "Traceback" not in run.stderr
    assert run.stderr.startswith("Error: bad.toml: tensor 1 ('w'): Invalid value for shape")
    assert sorted(os.listdir(tmp_path)) == ["bad.toml"]


def pipeline_recipes() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"## Pipelines\n\n```sh\n(.*?)\n```", text, re.S)
    assert block, "README lost its Pipelines recipes"
    return [line for line in block.group(1).splitlines() if line.strip() and not line.startswith("#")]


def has_command(name: str) -> bool:
    if name == "inspect":
        return run_installed("inspect", "--help").exit_code == 0
    return shutil.which(name) is not None


@pytest.mark.parametrize("recipe", pipeline_recipes())
def test_readme_pipeline_recipes_run(tmp_path, recipe):
    for needed in ("parallel", "jq", "inspect"):
        if re.search(rf"(^|\| |weightgen ){needed}\b", recipe) and not has_command(needed):
            pytest.skip(f"{needed} is not available here")
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    folder = os.path.dirname(weightgen_command()[0])
    done = subprocess.run(["bash", "-o", "pipefail", "-c", recipe], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "NO_COLOR": "1",
                                            "PATH": folder + os.pathsep + os.environ.get("PATH", "")})
    assert done.returncode == 0, (recipe, done.stderr)
    if "xargs" in recipe:
        assert len(entry_names(tmp_path / "vit.safetensors")) == 12
    if "parallel" in recipe:
        assert len(entry_names(tmp_path / "m.h5")) == 24
    if "jq" in recipe:
        assert done.stdout.strip()
        if "resolved.limit" in recipe:
            assert float(done.stdout) == 0.125
        if "@tsv" in recipe:
            rows = [line.split("\t") for line in done.stdout.splitlines()]
            assert [row[0] for row in rows][:2] == ["dense_1/kernel", "dense_1/bias"]
        if "select" in recipe:
            from weightgen.seeding import derive_seed

            assert int(done.stdout) == derive_seed(42, "dense_1/kernel")


def test_json_lines_of_a_batch_feed_a_while_read_loop(tmp_path):
    done = subprocess.run(["bash", "-o", "pipefail", "-c",
                           f"{weightgen_command()[0]} batch {ROOT / 'examples' / 'resnet_stem.toml'} --json | "
                           "while read -r line; do echo \"$line\" | wc -c; done"],
                          capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0 and len(done.stdout.split()) == 5


def test_stdout_batch_feeds_numpy(tmp_path):
    producer = subprocess.Popen([*weightgen_command(), "batch", str(ROOT / "examples" / "resnet_stem.toml"),
                                 "-o", "-", "-q"], stdout=subprocess.PIPE)
    data = producer.stdout.read()
    assert producer.wait() == 0
    import io

    with np.load(io.BytesIO(data), allow_pickle=False) as archive:
        assert archive["conv1/kernel"].shape == (7, 7, 3, 64)
        assert json.loads(json.dumps(archive.files))[0] == "conv1/kernel"


@pytest.mark.parametrize("example", ["mlp.toml", "resnet_stem.toml", "transformer_block.toml"])
def test_every_tensor_of_an_example_passes_inspect_against_its_provenance(tmp_path, example):
    if not has_command("inspect"):
        pytest.skip("inspect is not available here")
    run = run_installed("batch", str(ROOT / "examples" / example), "-o", "out.safetensors", "-q", "--seed", "5",
                        cwd=str(tmp_path))
    assert run.exit_code == 0, run
    checked = run_installed("inspect", "out.safetensors", "--json", cwd=str(tmp_path))
    assert checked.exit_code == 0, checked
    records = [json.loads(line) for line in checked.text.splitlines()]
    assert records and all(r["check"]["pass"] for r in records)
    assert all(r["provenance"]["master_seed"] == "5" for r in records)
