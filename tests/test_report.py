"""The summary: one description, printed by rich on a terminal and as the same plain text elsewhere."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

import weightgen
from weightgen import batch, report


def rich_text(parts) -> str:
    """What rich prints for ``parts`` on a wide console without colours (lines right-stripped)."""
    console = Console(file=io.StringIO(), width=400, color_system=None, force_terminal=False)
    console.print(report.rich_renderable(parts))
    return "\n".join(line.rstrip() for line in console.file.getvalue().splitlines()) + "\n"


@pytest.mark.parametrize(("initializer", "shape", "params"), [
    ("glorot_uniform", (256, 128), {}),
    ("variance_scaling", (3, 3, 8, 16), {"scale": 2.0, "mode": "fan_out", "distribution": "uniform"}),
    ("zeros", (), {}),
    ("stft", (32, 2, 17), {}),
    ("orthogonal", (20, 30), {"gain": 0.5}),
])
def test_plain_summary_is_what_rich_prints(initializer, shape, params):
    record = weightgen.generate(initializer, shape, seed=3, **params).summary()
    parts = report.summary_parts(record)
    assert report.plain_text(parts) == rich_text(parts)
    assert initializer in report.plain_text(parts) and "empirical" in report.plain_text(parts)


def test_plain_batch_table_is_what_rich_prints():
    spec = {"seed": 4, "tensor": [{"name": "encoder/layer_0/kernel", "init": "he_normal", "shape": [64, 32]},
                                  {"name": "b", "init": "zeros", "shape": [32], "dtype": "float16"},
                                  {"name": "s", "init": "constant", "shape": [], "value": -2.5}]}
    done = weightgen.generate_batch(spec)
    parts = report.batch_parts(done.summaries(), "m.h5", "hdf5", done.seed, done.seconds)
    text = report.plain_text(parts)
    assert text == rich_text(parts)
    lines = text.splitlines()
    assert len(lines) == 5 and lines[0].startswith("name ") and lines[3].split()[:4] == ["s", "constant", "scalar",
                                                                                          "float32"]
    assert lines[4].startswith("wrote 3 tensors to m.h5 (hdf5), seeds derived from master seed 4")


def test_off_a_terminal_the_summary_is_plain_and_on_one_it_is_rich(monkeypatch, capsys):
    record = weightgen.generate("he_uniform", (10, 10), seed=1).summary()
    report.show_summary(record, as_json=False, stdout_has_data=False)
    assert capsys.readouterr().err == report.plain_text(report.summary_parts(record))
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert report._rich_wanted()
    monkeypatch.delenv("FORCE_COLOR")
    assert not report._rich_wanted()


def test_a_progress_off_a_terminal_is_silent_and_accepts_descriptions(capsys):
    with report.progress(1000, "batch", enabled=True) as advance:
        advance.describe("w (1/1)")
        advance(1000)
    assert capsys.readouterr().err == ""


def test_on_a_terminal_the_batch_progress_bar_names_the_tensor(monkeypatch):
    screen = io.StringIO()
    monkeypatch.setattr(report, "_CONSOLE", Console(file=screen, force_terminal=True, width=120))
    monkeypatch.setattr(report.sys.stderr, "isatty", lambda: True, raising=False)
    planned = batch.plan_batch({"seed": 0, "tensor": [
        {"name": "first", "init": "he_normal", "shape": [300, 300]},
        {"name": "second", "init": "zeros", "shape": [300, 300]}]})
    with report.progress(planned.nbytes, "batch", enabled=True, delay=0.0) as advance:
        batch.run_batch(planned, progress=advance)
        advance._bar.refresh()
        shown = screen.getvalue()
    assert "second (2/2)" in shown
