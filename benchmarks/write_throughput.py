"""Write throughput of every format, beside numpy and the formats' own libraries.

    python benchmarks/write_throughput.py            # 8192x8192 float32, best of 3
    python benchmarks/write_throughput.py --size 4096 --repeat 5 --dir /some/disk

weightgen's writers get the tensor block by block (as ``weightgen.generate`` hands it
over), write a temporary file, fsync it and rename it into place. The peers write the
whole array in one call and do not fsync. Each method runs ``--repeat`` times,
interleaved with the others so a noisy machine slows them alike; the best time counts,
and every time is printed as a ratio to ``np.save`` of the same array on the same run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable

import h5py
import numpy as np
from safetensors.numpy import save_file

from weightgen import formats, seeding


def weightgen_writer(format_name: str, compression: str | None = None) -> Callable[[np.ndarray, str], None]:
    def write(array: np.ndarray, path: str) -> None:
        entry = formats.Entry("weight", array.shape, str(array.dtype), {"initializer": "benchmark"}, compression)
        flat = array.reshape(-1)
        with formats.open_writer(format_name, path, entry, force=True) as writer:
            for start in range(0, flat.size, seeding.BLOCK_SIZE):
                writer.write(flat[start:start + seeding.BLOCK_SIZE])
    return write


def h5py_contiguous(array: np.ndarray, path: str) -> None:
    with h5py.File(path, "w") as file:
        file.create_dataset("weight", data=array)


def h5py_chunked(array: np.ndarray, path: str) -> None:
    with h5py.File(path, "w") as file:
        file.create_dataset("weight", data=array, chunks=True)


METHODS: dict[str, tuple[str, Callable[[np.ndarray, str], None]]] = {
    "np.save": (".npy", lambda a, p: np.save(p, a)),
    "np.savez": (".npz", lambda a, p: np.savez(p, weight=a)),
    "h5py create_dataset (contiguous)": (".h5", h5py_contiguous),
    "h5py create_dataset (chunks=True)": (".h5", h5py_chunked),
    "safetensors.numpy.save_file": (".safetensors", lambda a, p: save_file({"weight": a}, p)),
    "weightgen .npy": (".npy", weightgen_writer("npy")),
    "weightgen .npz": (".npz", weightgen_writer("npz")),
    "weightgen .h5": (".h5", weightgen_writer("hdf5")),
    "weightgen .safetensors": (".safetensors", weightgen_writer("safetensors")),
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=8192, help="the tensor is SIZE x SIZE float32")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dir", default=None, help="where to write (default: a temporary folder)")
    parser.add_argument("--gzip", action="store_true", help="also weightgen .h5 and .npz with gzip")
    args = parser.parse_args(argv)

    methods = dict(METHODS)
    if args.gzip:
        methods["weightgen .h5 gzip"] = (".h5", weightgen_writer("hdf5", "gzip"))
        methods["weightgen .npz gzip"] = (".npz", weightgen_writer("npz", "gzip"))
    array = np.random.default_rng(0).standard_normal((args.size, args.size), dtype=np.float32)
    folder = tempfile.mkdtemp(prefix="weightgen-bench-", dir=args.dir)
    best = {name: float("inf") for name in methods}
    try:
        for _ in range(args.repeat):
            for name, (extension, write) in methods.items():
                path = os.path.join(folder, "w" + extension)
                if os.path.exists(path):
                    os.unlink(path)
                started = time.perf_counter()
                write(array, path)
                best[name] = min(best[name], time.perf_counter() - started)
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    megabytes = array.nbytes / 2**20
    baseline = best["np.save"]
    print(f"{args.size}x{args.size} float32 ({megabytes:.0f} MiB), best of {args.repeat}, "
          f"python {sys.version.split()[0]}, numpy {np.__version__}, h5py {h5py.__version__}")
    print(f"{'method':36} {'seconds':>8} {'MiB/s':>8} {'time / np.save':>15}")
    for name, seconds in best.items():
        print(f"{name:36} {seconds:8.3f} {megabytes / seconds:8.0f} {seconds / baseline:15.2f}")


if __name__ == "__main__":
    main()
