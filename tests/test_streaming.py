"""Streaming through generate() and the command: files equal the in-memory tensor, sizes
are checked up front against memory and disk, and progress reaches the bar."""

from __future__ import annotations

import io
import os

import numpy as np
import pytest

from conftest import run_cli
from test_formats import EXTENSION, load

import weightgen
from weightgen import report, seeding
from weightgen.errors import TooLargeError

SHAPE = (3 * seeding.BLOCK_SIZE // 512 + 5, 512)  # three blocks and a bit

CASES = [(fmt, dtype) for fmt in EXTENSION for dtype in ("float32", "float16", "float64")] + [
    ("hdf5", "bfloat16"), ("safetensors", "bfloat16"), ("npy", "complex64"), ("hdf5", "complex128")]


@pytest.mark.parametrize("format_name,dtype", CASES, ids=[f"{f}-{d}" for f, d in CASES])
def test_a_streamed_file_holds_the_in_memory_tensor(tmp_path, format_name, dtype):
    init = "jax.normal" if dtype.startswith("complex") else "he_normal"
    target = tmp_path / ("w" + EXTENSION[format_name])
    result = weightgen.generate(init, SHAPE, dtype=dtype, seed=5, output=str(target))
    assert result.array is None
    expected = weightgen.generate(init, SHAPE, dtype=dtype, seed=5)
    stored = load(target)
    assert stored.dtype == expected.array.dtype and stored.tobytes() == expected.array.tobytes()
    assert result.moments == expected.moments


def test_keep_array_gives_the_array_and_the_file(tmp_path):
    target = tmp_path / "w.npy"
    result = weightgen.generate("glorot_uniform", SHAPE, seed=2, output=str(target), keep_array=True)
    assert np.array_equal(result.array, np.load(target))
    assert weightgen.generate("glorot_uniform", SHAPE, seed=2, keep_array=False).array is None


def test_what_is_made_whole_anyway_is_kept_by_default(tmp_path):
    """Only a streamed tensor is dropped by default: a matrix initializer is made in memory."""
    result = weightgen.generate("orthogonal", (300, 200), seed=2, output=str(tmp_path / "o.npy"))
    assert np.array_equal(result.array, np.load(tmp_path / "o.npy"))
    assert weightgen.generate("orthogonal", (30, 20), seed=2, output=str(tmp_path / "p.npy"),
                              keep_array=False).array is None


def test_stdout_streams(tmp_path):
    done = run_cli("he_uniform", "--shape", ",".join(map(str, SHAPE)), "--seed", "3", "-o", "-", "-q")
    assert done.exit_code == 0, done
    expected = weightgen.generate("he_uniform", SHAPE, seed=3).array
    assert np.load(io.BytesIO(done.stdout)).tobytes() == expected.tobytes()


def fake_free_space(monkeypatch, free: int) -> None:
    real = os.statvfs

    class Stat:
        def __init__(self, path):
            self.f_frsize = 4096
            self.f_bavail = free // 4096
            self.real = real(path)

    monkeypatch.setattr(os, "statvfs", Stat)


@pytest.mark.parametrize("extension", [".npy", ".h5", ".safetensors", ".npz"])
def test_a_tensor_the_disk_cannot_hold_is_refused_up_front(tmp_path, monkeypatch, extension):
    target = tmp_path / ("w" + extension)
    fake_free_space(monkeypatch, 1 << 20)
    with pytest.raises(TooLargeError, match=r"needs 4\.0 MiB of free space .* only 1\.0 MiB is free"):
        weightgen.generate("zeros", (1024, 1024), output=str(target))
    assert os.listdir(tmp_path) == []


def test_a_growing_container_also_needs_room_for_its_copy(tmp_path, monkeypatch):
    target = tmp_path / "m.safetensors"
    weightgen.generate("zeros", (768, 1024), output=str(target), name="a")  # 3 MiB
    fake_free_space(monkeypatch, 5 << 20)
    with pytest.raises(TooLargeError, match=r"needs 7\.0 MiB"):
        weightgen.generate("zeros", (1024, 1024), output=str(target), name="b")


def test_the_command_refuses_sizes_with_the_bytes_needed(tmp_path):
    """No -o: memory is the limit (SPEC §2); -o FILE: the disk; orthogonal: memory, even with -o."""
    huge = "1000000,1000000"
    alone = run_cli("zeros", "--shape", huge)
    assert alone.exit_code == 1 and "needs 3.6 TiB of memory" in alone.stderr, alone
    to_file = run_cli("zeros", "--shape", huge, "-o", str(tmp_path / "z.npy"))
    assert to_file.exit_code == 1 and "needs 3.6 TiB of free space" in to_file.stderr, to_file
    matrix = run_cli("orthogonal", "--shape", "300000,300000", "-o", str(tmp_path / "o.npy"))
    assert matrix.exit_code == 1 and "of memory" in matrix.stderr, matrix
    exact = run_cli("glorot_uniform", "--shape", huge, "--rng", "keras", "-o", str(tmp_path / "k.npy"))
    assert exact.exit_code == 1 and "of memory" in exact.stderr and "--rng keras makes the tensor in memory; " \
        "use --rng weightgen (the default) to stream it" in exact.stderr, exact
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("where", [{"output": "m.h5"}, {"output": "m.npz"}, {"output_dir": "parts"}])
def test_a_batch_checks_the_disk_for_all_its_tensors_before_the_first(tmp_path, monkeypatch, where):
    from weightgen.batch import generate_batch

    spec = {"seed": 1, "tensor": [{"name": "a", "init": "zeros", "shape": [1024, 256]},  # 1 MiB
                                  {"name": "b", "init": "he_normal", "shape": [1024, 1024]}]}  # 4 MiB
    monkeypatch.chdir(tmp_path)
    fake_free_space(monkeypatch, 3 << 20)
    with pytest.raises(TooLargeError, match=r"needs 5\.0 MiB of free space"):
        generate_batch(spec, **where)
    assert os.listdir(tmp_path) == []


def test_a_batch_output_dir_is_measured_itself_not_its_parent(tmp_path, monkeypatch):
    """The folder may be a mount point or a link to another disk than its parent's."""
    from weightgen.batch import plan_batch

    (tmp_path / "parts").mkdir()
    asked = []
    real = os.statvfs
    monkeypatch.setattr(os, "statvfs", lambda path: asked.append(os.path.normpath(path)) or real(path))
    plan_batch({"seed": 1, "tensor": [{"name": "w", "init": "zeros", "shape": [4]}]},
               output_dir=str(tmp_path / "parts"))
    assert asked == [str(tmp_path / "parts")]


def test_a_batch_tensor_too_large_for_memory_is_refused_by_name_before_any_work():
    from weightgen.batch import generate_batch

    spec = {"seed": 1, "tensor": [{"name": "small", "init": "zeros", "shape": [4]},
                                  {"name": "huge", "init": "glorot_uniform", "shape": [1000000, 1000000]}]}
    with pytest.raises(TooLargeError, match=r"spec: tensor 2 \('huge'\): shape \(1000000, 1000000\) as float32 "
                                            r"needs 3\.6 TiB of memory"):
        generate_batch(spec)


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def terminal(monkeypatch):
    """stderr is a terminal, the bar shows at once, and what it draws is captured."""
    from rich.console import Console

    screen = Terminal()
    monkeypatch.setattr(report, "_CONSOLE", Console(file=screen, force_terminal=True, width=100))
    monkeypatch.setattr(report, "PROGRESS_DELAY", 0.0)
    monkeypatch.setattr(report, "_stderr_is_terminal", lambda: True)
    return screen


def test_the_command_shows_progress_on_a_terminal(tmp_path, terminal):
    done = run_cli("he_normal", "--shape", "4096,1024", "-o", str(tmp_path / "w.npy"), "--threads", "1")
    assert done.exit_code == 0, done
    drawn = terminal.getvalue()
    assert "he_normal" in drawn and "16.8" in drawn and "MB" in drawn  # bytes done and total


def test_quiet_means_no_progress(tmp_path, terminal):
    done = run_cli("he_normal", "--shape", "4096,1024", "-o", str(tmp_path / "w.npy"), "-q")
    assert done.exit_code == 0, done
    assert terminal.getvalue() == ""


def test_no_progress_off_a_terminal(tmp_path, terminal, monkeypatch):
    monkeypatch.setattr(report, "_stderr_is_terminal", lambda: False)  # a pipe or a file
    done = run_cli("he_normal", "--shape", "4096,1024", "-o", str(tmp_path / "w.npy"))
    assert done.exit_code == 0, done
    assert "he_normal" in done.stderr  # the summary, as plain text
    assert terminal.getvalue() == ""  # and no bar


def test_progress_waits_for_its_delay(terminal, monkeypatch):
    monkeypatch.setattr(report, "PROGRESS_DELAY", 3600.0)
    with report.progress(100, "slow", enabled=True) as advance:
        advance(100)
    assert terminal.getvalue() == ""
