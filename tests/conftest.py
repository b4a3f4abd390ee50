"""Shared test helpers: run the CLI in-process or as the installed command."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass

import pytest


@dataclass
class Run:
    """What a CLI run did; its repr puts everything in a failure message."""

    args: list[str]
    exit_code: int
    stdout: bytes
    stderr: str

    @property
    def text(self) -> str:
        return self.stdout.decode("utf-8", "replace")

    def __repr__(self) -> str:
        return (f"Run(args={self.args!r}, exit_code={self.exit_code},\n"
                f"stdout={self.stdout[:2000]!r},\nstderr={self.stderr[-4000:]!r})")


def run_cli(*args: str, input: bytes | None = None, env: dict[str, str] | None = None) -> Run:
    """Run ``weightgen ARGS`` in-process, capturing stdout bytes, stderr and the exit code."""
    from click.testing import CliRunner

    from weightgen.cli import main

    with CliRunner().isolation(input=input, env=env) as (stdout, stderr, _):
        try:
            main(list(args))
            code = 0
        except SystemExit as done:
            code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
        return Run(list(args), code, stdout.getvalue(), stderr.getvalue().decode("utf-8", "replace"))


def weightgen_command() -> list[str]:
    """The installed ``weightgen`` script beside this interpreter (else ``python -m weightgen``)."""
    script = os.path.join(os.path.dirname(sys.executable), "weightgen")
    if os.path.exists(script):
        return [script]
    found = shutil.which("weightgen")
    return [found] if found else [sys.executable, "-m", "weightgen"]


def run_installed(*args: str, input: bytes | None = None, cwd: str | None = None,
                  env: dict[str, str] | None = None, timeout: float = 120) -> Run:
    """Run the installed command in a real process."""
    full_env = {**os.environ, "NO_COLOR": "1", **(env or {})}
    done = subprocess.run([*weightgen_command(), *args], input=input, capture_output=True,
                          cwd=cwd, env=full_env, timeout=timeout)
    return Run(list(args), done.returncode, done.stdout, done.stderr.decode("utf-8", "replace"))


def entry_names(path) -> list[str]:
    """The entries of a container, as its own client lists them (numpy, h5py, safetensors)."""
    path = str(path)
    if path.endswith(".npz"):
        import numpy as np

        with np.load(path) as archive:
            return list(archive.files)
    if path.endswith(".h5"):
        import h5py

        found: list[str] = []
        with h5py.File(path, "r") as file:
            file.visititems(lambda n, o: found.append(n) if isinstance(o, h5py.Dataset) else None)
        return found
    from safetensors import safe_open

    with safe_open(path, "np") as file:
        return list(file.keys())


@pytest.fixture
def cli():
    return run_cli


@pytest.fixture
def installed():
    return run_installed
