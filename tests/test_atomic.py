"""Temporary files, renames, locks and held-back signals: the machinery behind "nothing lost"."""

from __future__ import annotations

import fcntl
import os
import signal
import stat
import subprocess
import sys
import time

import pytest

from weightgen.errors import OutputError
from weightgen.formats import atomic
from weightgen.formats.atomic import AtomicFile, TargetLock, copy_range, deferred_interrupts


@pytest.fixture(params=["unnamed", "named"])
def temp_kind(request, monkeypatch):
    """Both kinds of temporary file: O_TMPFILE where the system has it, named elsewhere."""
    if request.param == "named":
        monkeypatch.setattr(AtomicFile, "_unnamed", lambda self: None)
    return request.param


def test_nothing_is_visible_until_commit(tmp_path, temp_kind):
    target = tmp_path / "w.bin"
    target.write_bytes(b"old")
    temp = AtomicFile(str(target), replace=True)
    temp.file.write(b"new contents")
    visible = sorted(os.listdir(tmp_path))
    assert visible == (["w.bin"] if temp_kind == "unnamed" else sorted(["w.bin", os.path.basename(temp.temp_path)]))
    assert target.read_bytes() == b"old"
    temp.commit()
    assert target.read_bytes() == b"new contents" and os.listdir(tmp_path) == ["w.bin"]


def test_abort_leaves_the_target_and_no_temporary_file(tmp_path, temp_kind):
    target = tmp_path / "w.bin"
    target.write_bytes(b"old")
    temp = AtomicFile(str(target), replace=True)
    temp.file.write(b"half")
    temp.abort()
    assert target.read_bytes() == b"old" and os.listdir(tmp_path) == ["w.bin"]


def test_without_replace_a_file_that_appeared_meanwhile_wins(tmp_path, temp_kind):
    target = tmp_path / "w.bin"
    temp = AtomicFile(str(target), replace=False)
    temp.file.write(b"mine")
    target.write_bytes(b"theirs")
    with pytest.raises(OutputError, match="already exists"):
        temp.commit()
    assert target.read_bytes() == b"theirs" and os.listdir(tmp_path) == ["w.bin"]


def test_a_new_file_gets_umask_permissions_and_a_replaced_one_keeps_its_own(tmp_path, temp_kind):
    target = tmp_path / "w.bin"
    old_mask = os.umask(0o027)
    try:
        temp = AtomicFile(str(target), replace=False)
        temp.commit()
        assert stat.S_IMODE(os.stat(target).st_mode) == 0o640
        os.chmod(target, 0o604)
        temp = AtomicFile(str(target), replace=True)
        temp.commit()
        assert stat.S_IMODE(os.stat(target).st_mode) == 0o604
    finally:
        os.umask(old_mask)


def test_a_large_file_is_handed_to_the_disk_while_it_is_written(tmp_path, monkeypatch):
    """Every WRITEBACK_BYTES written, writeback starts (so the final fsync has little to wait for)."""
    import numpy as np

    import weightgen

    calls = []
    monkeypatch.setattr(atomic, "start_writeback", lambda fd, offset: calls.append(offset))
    shape = (4 * atomic.WRITEBACK_BYTES // 4 // 1024 + 3, 1024)  # a little over 4 windows of float32
    weightgen.generate("glorot_uniform", shape, seed=1, output=str(tmp_path / "w.npy"))
    assert calls == [k * atomic.WRITEBACK_BYTES for k in range(4)]  # each from where the last one ended
    assert np.load(tmp_path / "w.npy").shape == shape


def test_a_missing_folder_is_one_output_error(tmp_path):
    with pytest.raises(OutputError, match="cannot write .*No such file or directory"):
        AtomicFile(str(tmp_path / "missing" / "w.bin"), replace=True)


def test_stale_temporary_files_of_dead_writers_are_removed(tmp_path):
    target = tmp_path / "m.h5"
    stale = tmp_path / ".m.h5.abc123.part"
    stale.write_bytes(b"left by a crash")
    live = tmp_path / ".m.h5.def456.part"
    live.write_bytes(b"being written")
    other = tmp_path / ".other.h5.abc123.part"
    other.write_bytes(b"another target's")
    holder = os.open(live, os.O_RDONLY)
    fcntl.flock(holder, fcntl.LOCK_EX)  # a live writer holds its temporary file locked
    try:
        AtomicFile(str(target), replace=True).abort()
    finally:
        os.close(holder)
    assert sorted(os.listdir(tmp_path)) == sorted([live.name, other.name])


def test_the_lock_excludes_another_process_and_leaves_no_file(tmp_path):
    target = tmp_path / "m.npz"
    code = ("import sys, time; from weightgen.formats.atomic import TargetLock\n"
            "lock = TargetLock(sys.argv[1]); print('locked', flush=True); time.sleep(float(sys.argv[2]));"
            " lock.release()")
    holder = subprocess.Popen([sys.executable, "-c", code, str(target), "1.5"], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    started = time.monotonic()
    lock = TargetLock(str(target))  # waits for the other process
    waited = time.monotonic() - started
    assert holder.poll() is not None or waited > 0.5
    assert os.path.exists(atomic.lock_path_for(str(target)))
    lock.release()
    holder.wait(timeout=30)
    assert waited > 0.5 and os.listdir(tmp_path) == []


def test_a_waiter_never_holds_a_removed_lock_file(tmp_path):
    """The holder removes the lock file on release; a waiter on the old file must start over."""
    target = str(tmp_path / "m.h5")
    first = TargetLock(target)
    stale_fd = os.open(atomic.lock_path_for(target), os.O_RDWR)  # what a waiter opened before release
    first.release()
    assert not atomic._same_file(stale_fd, atomic.lock_path_for(target))
    second = TargetLock(target)
    assert atomic._same_file(second._fd, second.path)
    second.release()
    os.close(stale_fd)


def test_copy_range_copies_exactly_with_and_without_copy_file_range(tmp_path, monkeypatch):
    source = tmp_path / "src"
    source.write_bytes(bytes(range(256)) * 4000)
    for kernel in (True, False):
        if not kernel:
            monkeypatch.delattr(os, "copy_file_range", raising=False)
        with open(source, "rb") as src, open(tmp_path / "dst", "w+b") as dst:
            dst.write(b"head")
            copy_range(src, 1000, 500_000, dst)
            dst.write(b"tail")
            dst.flush()
        assert (tmp_path / "dst").read_bytes() == b"head" + source.read_bytes()[1000:501_000] + b"tail"


def test_interrupts_are_held_back_and_delivered_after():
    delivered_inside = False
    with pytest.raises(KeyboardInterrupt):
        with deferred_interrupts():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)
            delivered_inside = True
    assert delivered_inside
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
