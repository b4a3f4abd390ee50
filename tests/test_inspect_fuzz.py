"""Mangled files of every format: inspect gives results or one InputError line, never anything else."""

from __future__ import annotations

import os
import tempfile

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import run_cli

import weightgen
from weightgen.errors import InputError

FORMATS = ("npy", "npz", "h5", "safetensors")


def _originals() -> dict[str, bytes]:
    """One small file per format (plus a deflated npz), written once."""
    originals = {}
    with tempfile.TemporaryDirectory() as folder:
        for extension in FORMATS:
            path = os.path.join(folder, f"m.{extension}")
            weightgen.generate("glorot_uniform", (24, 16), seed=1, output=path, name="dense/kernel")
            if extension != "npy":
                weightgen.generate("zeros", (16,), output=path, name="dense/bias", dtype="float16")
            with open(path, "rb") as file:
                originals[extension] = file.read()
        path = os.path.join(folder, "c.npz")
        np.savez_compressed(path, a=np.arange(300, dtype=np.float32), b=np.ones((3, 4)))
        with open(path, "rb") as file:
            originals["deflated.npz"] = file.read()
    return originals


ORIGINALS = _originals()


@st.composite
def mangled(draw: st.DrawFn) -> tuple[str, bytes]:
    """A file of some format, cut, overwritten, spliced or with bytes flipped."""
    name = draw(st.sampled_from(sorted(ORIGINALS)))
    data = bytearray(ORIGINALS[name])
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["truncate", "flip", "overwrite", "insert", "delete", "header"]))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == "truncate":
            del data[at:]
        elif kind == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "overwrite":
            chunk = draw(st.binary(min_size=1, max_size=16))
            data[at:at + len(chunk)] = chunk
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "delete":
            del data[at:at + draw(st.integers(1, 64))]
        elif kind == "header" and len(data) > 8:  # where lengths, shapes and offsets live
            spot = draw(st.integers(0, min(len(data) - 1, 160)))
            data[spot] = draw(st.sampled_from([0x00, 0xFF, 0x7F, ord("9"), ord("-"), ord("{"), ord("O")]))
    extension = name.rsplit(".", 1)[-1]
    return extension, bytes(data)


SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(case=mangled())
def test_mangled_files_give_results_or_one_input_error(case):
    extension, data = case
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, f"x.{extension}")
        with open(path, "wb") as file:
            file.write(data)
        try:
            reports = weightgen.inspect(path)
            reports += weightgen.inspect(path, expect="glorot_uniform")
        except InputError as error:
            text = str(error)
            assert text.startswith(f"cannot read {path}: ") and "\n" not in text, text
        else:
            for report in reports:
                report.as_dict()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=mangled())
def test_mangled_input_on_stdin_exits_0_or_1_with_no_traceback(case):
    _, data = case
    run = run_cli("inspect", "-", "--json", input=data)
    assert run.exit_code in (0, 1), run
    assert "Traceback" not in run.stderr
    errors = [line for line in run.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) <= 2 and len(run.stderr.splitlines()) == len(errors), run
