"""End-to-end: the installed ``weightgen`` command in real processes and pipelines."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np

from conftest import run_installed, weightgen_command


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


def test_ctrl_c_exits_130_and_leaves_no_file(tmp_path):
    target = tmp_path / "big.npy"
    process = subprocess.Popen([*weightgen_command(), "orthogonal", "--shape", "3000,3000",
                                "--dtype", "float64", "-o", str(target)],
                               stderr=subprocess.PIPE, env={**os.environ, "NO_COLOR": "1"})
    time.sleep(0.8)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert b"Traceback" not in stderr
    assert os.listdir(tmp_path) == []


def test_writing_to_a_full_device_is_one_line():
    if not os.path.exists("/dev/full"):
        return
    with open("/dev/full", "wb") as full:
        done = subprocess.run([*weightgen_command(), "zeros", "--shape", "100000", "-o", "-", "-q"],
                              stdout=full, stderr=subprocess.PIPE, text=True)
    assert done.returncode == 1
    assert done.stderr.startswith("Error: cannot write stdout") and done.stderr.count("\n") == 1
