"""End-to-end: the installed ``weightgen`` command in real processes and pipelines."""

from __future__ import annotations

import io
import json
import os
import resource
import shlex
import signal
import subprocess
import sys
import time
import zipfile

import numpy as np
import pytest

from conftest import entry_names, run_installed, weightgen_command


def test_readme_first_command(tmp_path):
    run = run_installed("glorot_uniform", "--shape", "256,128", "-o", "w.npy", cwd=str(tmp_path))
    assert run.exit_code == 0, run
    values = np.load(tmp_path / "w.npy", allow_pickle=False)
    assert values.shape == (256, 128) and np.abs(values).max() < 0.125
    assert "glorot_uniform" in run.stderr and "\x1b[" not in run.stderr


def test_pipeline_into_numpy():
    producer = subprocess.Popen([*weightgen_command(), "he_normal", "--shape", "3,3,64,128", "--seed", "7",
                                 "-o", "-", "-q"], stdout=subprocess.PIPE)
    consumer = subprocess.run([sys.executable, "-c",
                               "import numpy,sys,io; a = numpy.load(io.BytesIO(sys.stdin.buffer.read())); "
                               "print(a.shape, a.std())"],
                              stdin=producer.stdout, capture_output=True, text=True)
    producer.stdout.close()
    assert producer.wait() == 0 and consumer.returncode == 0, consumer.stderr
    shape, std = consumer.stdout.rsplit(") ", 1)
    assert shape == "(3, 3, 64, 128"
    assert abs(float(std) - (2 / 576) ** 0.5) < 0.002


def test_python_dash_m_is_the_same_command():
    done = subprocess.run([sys.executable, "-m", "weightgen", "zeros", "--shape", "2", "-o", "-", "-q"],
                          capture_output=True)
    assert done.returncode == 0
    assert np.array_equal(np.load(io.BytesIO(done.stdout)), np.zeros(2, np.float32))


def test_json_lines_for_jq_style_consumers(tmp_path):
    run = run_installed("he_uniform", "--shape", "10,10", "--seed", "1", "--json")
    record = json.loads(run.text)
    assert record["initializer"] == "he_uniform" and record["seed"] == 1


def test_usage_error_in_a_real_process_has_no_traceback():
    run = run_installed("he_normal", "--shape", "3,x")
    assert run.exit_code == 2
    assert run.stderr.count("\n") == 1 and "Traceback" not in run.stderr


@pytest.mark.parametrize("signum, code, message", [(signal.SIGINT, 130, b"Error: interrupted\n"),
                                                   (signal.SIGTERM, 143, b"Error: terminated\n")])
def test_ctrl_c_and_sigterm_exit_with_one_line_and_leave_no_file(tmp_path, signum, code, message):
    target = tmp_path / "big.npy"
    process = subprocess.Popen([*weightgen_command(), "orthogonal", "--shape", "3000,3000",
                                "--dtype", "float64", "-o", str(target)],
                               stderr=subprocess.PIPE, env={**os.environ, "NO_COLOR": "1"})
    time.sleep(0.8)
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == code, stderr
    assert stderr == message
    assert os.listdir(tmp_path) == []


def test_ctrl_c_while_the_command_is_still_loading_is_one_line():
    """The entry point imports the command line under a guard (click, numpy... take ~0.1 s)."""
    code = ("import builtins\nreal = builtins.__import__\n"
            "def loading(name, *args, **kwargs):\n"
            "    if name == 'weightgen.cli':\n        raise KeyboardInterrupt\n"
            "    return real(name, *args, **kwargs)\n"
            "builtins.__import__ = loading\nfrom weightgen._entry import run\nrun()\n")
    done = subprocess.run([sys.executable, "-c", code, "zeros", "--shape", "3"], capture_output=True, text=True)
    assert done.returncode == 130 and done.stderr == "Error: interrupted\n"


def test_numpy_warnings_stay_out_of_the_command_s_output(tmp_path):
    target = tmp_path / "g.npy"
    assert run_installed("glorot_uniform", "--shape", "64,32", "-o", str(target), "-q").exit_code == 0
    run = run_installed("inspect", str(target), "--expect", "truncated_normal", "--stddev", "1e300", "-q")
    assert run.exit_code == 1 and run.stderr.count("\n") == 1 and "Warning" not in run.stderr, run


def test_stdout_named_by_a_path_carries_only_the_data():
    """-o /dev/stdout is stdout: the JSON summary goes to stderr, as with -o -."""
    run = run_installed("glorot_uniform", "--shape", "4,4", "--seed", "3", "-o", "/dev/stdout", "--format", "npy",
                        "--json")
    assert run.exit_code == 0, run
    assert np.array_equal(np.load(io.BytesIO(run.stdout)),
                          np.load(io.BytesIO(run_installed("glorot_uniform", "--shape", "4,4", "--seed", "3",
                                                           "-o", "-", "-q").stdout)))
    assert json.loads(run.stderr)["seed"] == 3


def test_no_command_is_one_usage_line():
    run = run_installed()
    assert run.exit_code == 2 and run.stdout == b""
    assert run.stderr.startswith("Error: no command given") and run.stderr.count("\n") == 1


def test_writing_to_a_full_device_is_one_line():
    if not os.path.exists("/dev/full"):
        return
    with open("/dev/full", "wb") as full:
        done = subprocess.run([*weightgen_command(), "zeros", "--shape", "100000", "-o", "-", "-q"],
                              stdout=full, stderr=subprocess.PIPE, text=True)
    assert done.returncode == 1
    assert done.stderr.startswith("Error: cannot write stdout") and done.stderr.count("\n") == 1


# -- containers, concurrency and nothing lost, in real processes -----------------------------

CONTAINER_EXTENSIONS = [".npz", ".h5", ".safetensors"]
ALL_EXTENSIONS = [".npy", *CONTAINER_EXTENSIONS]


@pytest.mark.parametrize("extension", CONTAINER_EXTENSIONS)
def test_a_parallel_shell_loop_builds_one_container(tmp_path, extension):
    """50 entries, 8 processes at a time, into one file: every entry lands."""
    command = " ".join(shlex.quote(part) for part in weightgen_command())
    loop = (f"seq 1 50 | xargs -P 8 -I{{}} {command} random_normal --shape 64,32 --seed {{}} "
            f"-o m{extension} --name layer_{{}}/kernel -q")
    done = subprocess.run(["bash", "-c", loop], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    target = tmp_path / f"m{extension}"
    assert sorted(entry_names(target)) == sorted(f"layer_{i}/kernel" for i in range(1, 51))
    assert os.listdir(tmp_path) == [target.name]
    from weightgen import formats, generate

    stored = formats.read_entries(str(target))
    for i in (1, 17, 50):
        assert stored[f"layer_{i}/kernel"]["seed"] == str(i)
    if extension == ".npz":
        with np.load(target) as archive:
            assert np.array_equal(archive["layer_17/kernel"], generate("random_normal", (64, 32), seed=17).array)


def _temp_file_of(pid: int, folder) -> str | None:
    """The temporary file a weightgen process is writing in ``folder``, once it holds data."""
    fds = f"/proc/{pid}/fd"
    try:
        names = os.listdir(fds)
    except OSError:
        return None
    for fd in names:
        try:
            where = os.readlink(f"{fds}/{fd}")
            size = os.stat(f"{fds}/{fd}").st_size
        except OSError:
            continue
        if where.startswith(str(folder) + "/") and ("(deleted)" in where or where.endswith(".part")) and size:
            return f"{fds}/{fd}"
    return None


def _signal_mid_write(args, folder, signum):
    """Start weightgen, wait until it is writing its temporary file, freeze it, check that it
    has not committed, then deliver ``signum``. Returns (exit code, stderr)."""
    process = subprocess.Popen([*weightgen_command(), *args], cwd=folder, stderr=subprocess.PIPE,
                               env={**os.environ, "NO_COLOR": "1"})
    deadline = time.monotonic() + 120
    while (temp := _temp_file_of(process.pid, folder)) is None:
        assert process.poll() is None, "weightgen finished before it could be interrupted"
        assert time.monotonic() < deadline
        time.sleep(0.001)
    process.send_signal(signal.SIGSTOP)
    assert os.path.exists(temp), "the write was over before the signal"
    process.send_signal(signum)
    process.send_signal(signal.SIGCONT)
    _, stderr = process.communicate(timeout=120)
    return process.returncode, stderr.decode()


def _prepare(folder, extension) -> bytes:
    """An existing file to protect: a container with one entry, or a .npy file."""
    target = folder / f"m{extension}"
    done = run_installed("he_normal", "--shape", "64,64", "--seed", "1", "-o", str(target), "--name", "old", "-q")
    assert done.exit_code == 0, done
    return target.read_bytes()


BIG = ["random_normal", "--shape", "6000,6000", "--seed", "2", "-q"]


@pytest.mark.parametrize("extension", ALL_EXTENSIONS)
def test_ctrl_c_mid_write_leaves_the_old_file_exactly(tmp_path, extension):
    original = _prepare(tmp_path, extension)
    code, stderr = _signal_mid_write([*BIG, "-o", f"m{extension}", "--name", "new", "--force"], tmp_path,
                                     signal.SIGINT)
    assert code == 130, stderr
    assert stderr.strip() == "Error: interrupted"  # click adds a newline after ^C
    assert (tmp_path / f"m{extension}").read_bytes() == original
    assert os.listdir(tmp_path) == [f"m{extension}"]


@pytest.mark.parametrize("extension", ALL_EXTENSIONS)
def test_a_crash_mid_write_leaves_the_old_file_and_no_temporary_file(tmp_path, extension):
    original = _prepare(tmp_path, extension)
    code, _ = _signal_mid_write([*BIG, "-o", f"m{extension}", "--name", "new", "--force"], tmp_path,
                                signal.SIGKILL)
    assert code == -signal.SIGKILL
    target = tmp_path / f"m{extension}"
    assert target.read_bytes() == original
    # Only the (empty) lock file of a container update may survive a kill -9 ...
    assert set(os.listdir(tmp_path)) <= {target.name, f".{target.name}.lock"}
    # ... and the next write removes it.
    assert run_installed("zeros", "--shape", "3", "-o", str(target), "--name", "after", "--force", "-q").exit_code == 0
    assert os.listdir(tmp_path) == [target.name]


@pytest.mark.parametrize("extension", ALL_EXTENSIONS)
def test_a_full_disk_mid_write_is_one_line_and_the_old_file_stays(tmp_path, extension):
    original = _prepare(tmp_path, extension)
    limit = len(original) + 3_000_000  # the file-size limit a full disk stands for, mid-tensor
    done = subprocess.run([*weightgen_command(), *BIG[:1], "--shape", "2000,2000", "-q", "-o", f"m{extension}",
                           "--name", "new", "--force"], cwd=tmp_path, capture_output=True, text=True,
                          preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit)))
    assert done.returncode == 1
    assert done.stderr == f"Error: cannot write m{extension}: File too large\n"
    assert (tmp_path / f"m{extension}").read_bytes() == original
    assert os.listdir(tmp_path) == [f"m{extension}"]


@pytest.mark.parametrize("format_name", ["npy", "npz", "safetensors"])
def test_stdout_on_a_full_device_is_one_line(format_name):
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    with open("/dev/full", "wb") as full:
        done = subprocess.run([*weightgen_command(), "zeros", "--shape", "100000", "-o", "-", "--format",
                               format_name, "-q"], stdout=full, stderr=subprocess.PIPE, text=True)
    assert done.returncode == 1
    assert done.stderr == "Error: cannot write stdout: No space left on device; free some space, or write elsewhere.\n"


@pytest.mark.parametrize("format_name", ["npy", "npz", "safetensors"])
def test_a_broken_pipe_is_one_line(format_name):
    process = subprocess.Popen([*weightgen_command(), "random_normal", "--shape", "2000,2000", "-o", "-",
                                "--format", format_name, "-q"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert len(process.stdout.read(100)) == 100
    process.stdout.close()  # the reader goes away, as `| head -c 100` would
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=120) == 1
    assert stderr == "Error: cannot write stdout: Broken pipe\n"


@pytest.mark.parametrize("args", [["glorot_uniform", "--shape", "3", "--json"], ["zeros", "--shape", "3", "-o", "-"],
                                  ["list"]])
def test_a_closed_stdout_is_one_line(args):
    """Started with stdout closed (``>&-``), a command that must write it fails in one line."""
    done = subprocess.run([*weightgen_command(), *args], stderr=subprocess.PIPE, text=True,
                          preexec_fn=lambda: os.close(1))
    assert done.returncode == 1
    assert done.stderr.endswith("stdout is closed; give the command an output, e.g. > FILE\n")
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("Error: ")


@pytest.mark.parametrize("args", [["inspect", "-"], ["batch", "-"]])
def test_a_closed_stdin_is_one_line(args):
    done = subprocess.run([*weightgen_command(), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, preexec_fn=lambda: os.close(0))
    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith("Error: ") and done.stderr.count("\n") == 1
    assert "stdin is closed; give the command an input, e.g. < FILE" in done.stderr


def test_a_closed_stderr_still_writes_the_file(tmp_path):
    target = tmp_path / "w.npy"
    done = subprocess.run([*weightgen_command(), "glorot_uniform", "--shape", "4,4", "-o", str(target)],
                          stdout=subprocess.PIPE, preexec_fn=lambda: os.close(2))
    assert done.returncode == 0 and np.load(target).shape == (4, 4)


def test_a_seed_of_five_thousand_digits_is_taken_and_reported():
    seed = "9" * 5000
    run = run_installed("glorot_uniform", "--shape", "4,4", "--seed", seed, "--json")
    assert run.exit_code == 0, run.stderr[-300:]
    assert json.loads(run.text, parse_int=str)["seed"] == seed  # (this process's int() stops at 4300 digits)


def test_ctrl_c_while_blocked_on_a_full_pipe():
    process = subprocess.Popen([*weightgen_command(), "random_normal", "--shape", "2000,2000", "-o", "-",
                                "--format", "safetensors", "-q"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert len(process.stdout.read(1)) == 1  # it is writing; nobody reads on, so it blocks
    process.send_signal(signal.SIGINT)
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=120) == 130 and stderr.strip() == "Error: interrupted"
    process.stdout.close()


def test_ctrl_c_while_waiting_for_the_container_lock(tmp_path):
    from weightgen.formats.atomic import TargetLock, lock_path_for

    original = _prepare(tmp_path, ".h5")
    target = tmp_path / "m.h5"
    lock = TargetLock(str(target))
    try:
        process = subprocess.Popen([*weightgen_command(), "zeros", "--shape", "3", "-o", str(target),
                                    "--name", "new", "-q"], stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while lock_path_for(str(target)) not in _open_files(process.pid):
            assert process.poll() is None and time.monotonic() < deadline
            time.sleep(0.01)
        time.sleep(0.1)  # now blocked in flock
        process.send_signal(signal.SIGINT)
        stderr = process.stderr.read().decode()
        assert process.wait(timeout=60) == 130 and stderr.strip() == "Error: interrupted"
    finally:
        lock.release()
    assert target.read_bytes() == original and os.listdir(tmp_path) == ["m.h5"]


def _open_files(pid: int) -> set[str]:
    """The paths a process has open (fds come and go while we look: skip those)."""
    found = set()
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return found
    for fd in fds:
        try:
            found.add(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except OSError:
            pass
    return found


def test_hdf5_to_stdout_exits_2_in_a_real_process():
    done = run_installed("zeros", "--shape", "3", "-o", "-", "--format", "hdf5")
    assert done.exit_code == 2 and done.stdout == b""
    assert done.stderr == "Error: hdf5 cannot be written to stdout (-o -); write a regular file with -o FILE.\n"


def test_npz_streamed_to_stdout_loads_in_numpy():
    done = run_installed("he_uniform", "--shape", "30,20", "--seed", "3", "-o", "-", "--format", "npz",
                         "--name", "dense/kernel", "-q")
    assert done.exit_code == 0, done
    with zipfile.ZipFile(io.BytesIO(done.stdout)) as archive:
        assert archive.namelist() == ["dense/kernel.npy"]
    with np.load(io.BytesIO(done.stdout)) as archive:
        assert archive["dense/kernel"].shape == (30, 20)


# -- inspect, in real processes ---------------------------------------------------------------


@pytest.mark.parametrize("expect, code", [("glorot_uniform", 0), ("he_normal", 1)])
def test_a_pipeline_into_inspect_gives_the_verdict_in_its_exit_code(expect, code):
    producer = subprocess.Popen([*weightgen_command(), "glorot_uniform", "--shape", "256,128", "-o", "-", "-q"],
                                stdout=subprocess.PIPE)
    consumer = subprocess.run([*weightgen_command(), "inspect", "-", "--expect", expect],
                              stdin=producer.stdout, capture_output=True, text=True,
                              env={**os.environ, "NO_COLOR": "1"})
    producer.stdout.close()
    assert producer.wait() == 0
    assert consumer.returncode == code, consumer.stderr
    assert ("PASS" if code == 0 else "FAIL") in consumer.stderr and "Traceback" not in consumer.stderr


def test_inspecting_a_file_far_larger_than_its_memory_use(tmp_path):
    """A 2 GiB .npy (sparse on disk) is inspected with a peak RSS under 256 MiB."""
    count = (2 << 30) // 4
    path = tmp_path / "big.npy"
    with open(path, "wb") as file:
        np.lib.format.write_array_header_1_0(file, {"descr": "<f4", "fortran_order": False, "shape": (count,)})
        file.truncate(file.tell() + count * 4)
    measure = ("import resource, subprocess, sys\n"
               "done = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
               "print(done.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, done.stdout)")
    done = subprocess.run([sys.executable, "-c", measure, *weightgen_command(), "inspect", str(path), "--json"],
                          capture_output=True, text=True, timeout=600)
    code, peak_kib, record = done.stdout.split(" ", 2)
    assert code == "0", done
    assert json.loads(record)["count"] == count and json.loads(record)["zeros"] == 1.0
    assert int(peak_kib) < 256 * 1024, f"peak RSS {int(peak_kib) // 1024} MiB"
