"""Inspect throughput on a large file beside numpy's mean()/std() of the same data in memory,
and the peak memory of inspecting a file far larger than that.

    python benchmarks/inspect_throughput.py                 # 2 GiB float32 .npy, 6 GiB for the memory run
    python benchmarks/inspect_throughput.py --gib 1 --repeat 5 --rss-gib 6 --dir /some/disk

Throughput: a float32 ``.npy`` of random normals is written once, then each method runs
``--repeat`` times, interleaved so a noisy machine slows them alike; the best time
counts. ``weightgen.inspect`` reads the file (from the page cache after the first run)
and computes everything ``inspect`` shows: float64 moments, zeros, non-finite values,
the exact histogram and, with ``--expect``, the bounds and the KS test on its subsample.
numpy's figures are for the array already in memory (``np.load`` is timed on its own).
Times are printed as throughput over the file's data and as a ratio to numpy's
``mean()`` + ``std()``, all from one run: on a shared machine read the ratios. CPU time
(of every thread) is given too: it is what the work costs, whoever else wants the cores.

Memory: a sparse ``.npy`` of ``--rss-gib`` GiB (no disk space used) is inspected by the
installed command in a child process, and that process's peak RSS is reported
(``getrusage(RUSAGE_CHILDREN)`` of a wrapper whose only child it is).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

import numpy as np

import weightgen


def write_normals(path: str, count: int, block: int = 1 << 24) -> None:
    rng = np.random.default_rng(0)
    with open(path, "wb") as file:
        np.lib.format.write_array_header_1_0(file, {"descr": "<f4", "fortran_order": False, "shape": (count,)})
        for start in range(0, count, block):
            rng.standard_normal(min(block, count - start), dtype=np.float32).tofile(file)


def write_sparse(path: str, count: int) -> None:
    with open(path, "wb") as file:
        np.lib.format.write_array_header_1_0(file, {"descr": "<f4", "fortran_order": False, "shape": (count,)})
        file.truncate(file.tell() + count * 4)


def peak_rss(args: list[str]) -> tuple[float, float]:
    """Seconds and peak RSS (MiB) of one child process running ``args``."""
    wrapper = ("import resource, subprocess, sys, time\n"
               "started = time.perf_counter()\n"
               "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)\n"
               "print(time.perf_counter() - started, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    done = subprocess.run([sys.executable, "-c", wrapper, *args], capture_output=True, text=True, check=True)
    seconds, kib = done.stdout.split()
    return float(seconds), int(kib) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gib", type=float, default=2.0, help="size of the throughput file (GiB)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--rss-gib", type=float, default=6.0, help="size of the sparse file for the memory run")
    parser.add_argument("--dir", default=None, help="where to put the files (default: a temporary folder)")
    args = parser.parse_args()

    folder = tempfile.mkdtemp(prefix="weightgen-bench-", dir=args.dir)
    try:
        count = int(args.gib * 2**30) // 4
        path = os.path.join(folder, "normals.npy")
        write_normals(path, count)
        array = np.load(path)
        methods: dict[str, Callable[[], object]] = {
            "numpy a.mean(); a.std() (in memory)": lambda: (array.mean(), array.std()),
            "numpy in float64 (dtype=np.float64)": lambda: (array.mean(dtype=np.float64), array.std(dtype=np.float64)),
            "np.load (into memory)": lambda: np.load(path),
            "weightgen.inspect": lambda: weightgen.inspect(path),
            "weightgen.inspect, 1 thread": lambda: weightgen.inspect(path, threads=1),
            "weightgen.inspect --expect random_normal": lambda: weightgen.inspect(path, expect="random_normal",
                                                                                  stddev=1.0),
        }
        best = {name: float("inf") for name in methods}
        cpu = {name: float("inf") for name in methods}
        for _ in range(args.repeat):
            for name, method in methods.items():
                started, started_cpu = time.perf_counter(), time.process_time()
                method()
                best[name] = min(best[name], time.perf_counter() - started)
                cpu[name] = min(cpu[name], time.process_time() - started_cpu)
        del array

        gigabytes = count * 4 / 1e9
        numpy = "numpy a.mean(); a.std() (in memory)"
        print(f"{count:,} float32 values ({gigabytes:.2f} GB), best of {args.repeat}, {os.cpu_count()} CPUs, "
              f"python {sys.version.split()[0]}, numpy {np.__version__}")
        print(f"{'method':44} {'seconds':>8} {'GB/s':>6} {'vs numpy':>9} {'CPU s':>7} {'CPU vs numpy':>13}")
        for name, seconds in best.items():
            print(f"{name:44} {seconds:8.3f} {gigabytes / seconds:6.2f} {best[numpy] / seconds:9.2f} "
                  f"{cpu[name]:7.3f} {cpu[numpy] / cpu[name]:13.2f}")
        print("(vs numpy: throughput as a ratio to numpy's mean() + std(); CPU: the same by CPU time, "
              "all threads, which a busy machine disturbs less)")
        os.unlink(path)

        sparse = os.path.join(folder, "sparse.npy")
        write_sparse(sparse, int(args.rss_gib * 2**30) // 4)
        command = [os.path.join(os.path.dirname(sys.executable), "weightgen")]
        if not os.path.exists(command[0]):
            command = [sys.executable, "-m", "weightgen"]
        seconds, mebibytes = peak_rss([*command, "inspect", sparse, "--json"])
        print(f"\nweightgen inspect of a {args.rss_gib:g} GiB .npy (sparse): peak RSS {mebibytes:.0f} MiB, "
              f"{seconds:.1f} s ({args.rss_gib * 2**30 / 1e9 / seconds:.2f} GB/s)")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
