"""weightgen against numpy, PyTorch and JAX, in-process and whole-process, and a memory test.

    python benchmarks/run.py [--repeat 3] [--peer-python PYTHON ...] [--memory-gib 16]
                             [--skip-memory] [--skip-whole] [--skip-speed] [--skip-scaling]
                             [--scratch DIR] [--case TEXT]

For each case (8192x8192 float32 tensors of the common initializers, orthogonal
4096x4096) it prints weightgen's best time and, for every peer measured in the same run,
the peer's best time and the ratio weightgen / peer (below 1: weightgen is faster):

- in-process: ``weightgen.generate(...)`` against the peer's library call, each
  returning a new array; participants alternate within each round, so slow phases of a
  shared machine hit them alike;
- whole process: the command as a user runs it (``weightgen NAME --shape ... -o w.npy``)
  against the peer's equivalent script (make the tensor, ``np.save`` it), interpreter
  start-up and imports included. The file case also has a durable numpy peer
  (``np.save`` then ``fsync``), since the command's atomic write flushes to disk.

numpy is always measured. PyTorch and JAX are measured when some interpreter has them:
this one, or one given with ``--peer-python`` (e.g. a virtualenv's ``bin/python``); their
calls run in a worker process of that interpreter (``peers.py worker``). Then a tensor of
``--memory-gib`` GiB is streamed into an ``.npy`` file by the command: its peak resident
memory is reported, and blocks at sampled positions are compared with blocks
regenerated alone; the file is deleted. A scaling section compares weightgen's speed-up
from 1 to 2 threads with that of a workload that never holds the GIL. Last, the ratios are
checked against weightgen's speed targets. The machine may be shared and noisy: read
ratios from one run, not seconds.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import peers  # noqa: E402
from peers import N, PEERS, QR_N, Namespaces, Peer, fsync_script  # noqa: E402

import weightgen  # noqa: E402


@dataclass
class Contender:
    """A peer in a case: the best of one or more peer programs (e.g. torch on 1 or 2
    threads), in-process and as a whole process (possibly different programs, or none)."""

    label: str
    names: tuple[str, ...]
    whole_names: tuple[str, ...]
    #: Best time per program.
    inside: dict[str, float] = field(default_factory=dict)
    whole: dict[str, float] = field(default_factory=dict)

    def best(self, inside: bool) -> float | None:
        times, names = (self.inside, self.names) if inside else (self.whole, self.whole_names)
        values = [times[n] for n in names if n in times]
        return min(values) if values else None


@dataclass
class Case:
    title: str
    #: weightgen.generate(name, shape, threads=...) in-process; the command whole-process.
    initializer: str
    shape: tuple[int, ...]
    threads: int
    contenders: list[Contender]
    #: Time the in-process call with output= (streamed into a file) instead of in memory.
    to_file: bool = False
    inside: float = math.inf
    whole: float = math.inf

    @property
    def command(self) -> list[str]:
        return [self.initializer, "--shape", ",".join(map(str, self.shape)), "--threads", str(self.threads)]


def contender(label: str, *names: str, whole: tuple[str, ...] | None = None) -> Contender:
    return Contender(label, names, names if whole is None else whole)


def cases(save_peer: str) -> list[Case]:
    return [
        Case(f"glorot_uniform {N}x{N}, 2 threads", "glorot_uniform", (N, N), 2, [
            contender("numpy random(float32, out=) + scale, 2 threads", "numpy_uniform_2t"),
            contender("torch xavier_uniform_ (best of 1 or 2 threads)", "torch_xavier_uniform_1t",
                      "torch_xavier_uniform_2t"),
            contender("jax glorot_uniform", "jax_glorot_uniform")]),
        Case(f"he_normal (truncated) {N}x{N}, 2 threads", "he_normal", (N, N), 2, [
            contender("numpy ±2σ truncated normal by rejection, 2 threads", "numpy_truncated_2t"),
            contender("jax he_normal (truncated)", "jax_he_normal"),
            contender("torch trunc_normal_, 2 threads", "torch_trunc_normal_2t")]),
        Case(f"untruncated normal {N}x{N}, 1 thread (torch.kaiming_normal)", "torch.kaiming_normal", (N, N), 1, [
            contender("numpy standard_normal(float32), 1 thread", "numpy_normal_1t"),
            contender("torch kaiming_normal_ (normal_), 1 thread", "torch_kaiming_normal_1t")]),
        Case(f"orthogonal {QR_N}x{QR_N}, 1 thread", "orthogonal", (QR_N, QR_N), 1, [
            contender("numpy linalg.qr route, 1 thread", "numpy_qr_1t"),
            contender("torch orthogonal_, 1 thread", "torch_orthogonal_1t")]),
        Case(f"orthogonal {QR_N}x{QR_N}, 2 threads", "orthogonal", (QR_N, QR_N), 2, [
            contender("numpy linalg.qr route, 2 threads", "numpy_qr_2t"),
            contender("torch orthogonal_, 2 threads", "torch_orthogonal_2t")]),
        Case(f"glorot_uniform {N}x{N} into an .npy file (weightgen streams, fsync included)", "glorot_uniform",
             (N, N), 2, [contender("np.save, page cache (whole: np.ones + np.save)",
                                   save_peer, whole=("numpy_ones",)),
                         contender("np.save + fsync (whole: np.ones + np.save + fsync)",
                                   save_peer + "_fsync", whole=("numpy_ones_fsync",)),
                         contender("np.empty + fill (the memory floor)", "numpy_fill", whole=())], to_file=True),
    ]


# -- peers in other interpreters ---------------------------------------------------------


class Worker:
    """A ``peers.py worker`` process of an interpreter that has the peer's library."""

    def __init__(self, python: str) -> None:
        self.process = subprocess.Popen([python, os.path.join(HERE, "peers.py"), "worker"],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def time_call(self, name: str) -> float:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps({"peer": name}) + "\n")
        self.process.stdin.flush()
        reply = json.loads(self.process.stdout.readline())
        if "error" in reply:
            raise RuntimeError(reply["error"])
        return reply["seconds"]

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait()


def find_interpreters(extra: list[str]) -> dict[str, str]:
    """library -> the first interpreter (this one, then ``--peer-python``s) that imports it."""
    found = {"numpy": sys.executable}
    for library in ("torch", "jax"):
        for python in [sys.executable, *extra]:
            probe = subprocess.run([python, "-c", f"import {library}; print({library}.__version__)"],
                                   capture_output=True, text=True)
            if probe.returncode == 0:
                found[library] = python
                print(f"  {library} {probe.stdout.strip()} from {python}")
                break
        else:
            print(f"  {library}: not installed (pass --peer-python PYTHON to measure it)")
    return found


class Peers:
    """Times peer calls: numpy's in this process, the others in workers."""

    def __init__(self, interpreters: dict[str, str]) -> None:
        self.interpreters = interpreters
        self.local = Namespaces()
        self.workers: dict[str, Worker] = {}

    def available(self, name: str) -> bool:
        return PEERS[name].library in self.interpreters

    def time_call(self, name: str) -> float:
        library = PEERS[name].library
        if library == "numpy":
            return self.local.time_call(name)
        if library not in self.workers:
            self.workers[library] = Worker(self.interpreters[library])
        return self.workers[library].time_call(name)

    def close(self) -> None:
        for worker in self.workers.values():
            worker.close()


# -- measuring ------------------------------------------------------------------------------


def weightgen_command() -> list[str]:
    script = os.path.join(os.path.dirname(sys.executable), "weightgen")
    return [script] if os.path.exists(script) else [sys.executable, "-m", "weightgen"]


def process_environment() -> dict[str, str]:
    """The environment of a whole-process run: bytecode cached, as after ``pip install``,
    even where PYTHONDONTWRITEBYTECODE is set; otherwise an editable install would
    recompile weightgen on every run while numpy and the peers load their bytecode."""
    return {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}


def timed_process(command: list[str], output: str) -> float:
    """Seconds of one run of ``command``, which must write ``output`` (then deleted)."""
    started = time.perf_counter()
    done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          env=process_environment())
    seconds = time.perf_counter() - started
    if done.returncode != 0 or not os.path.exists(output):
        raise RuntimeError(f"{command[:3]}... failed: {done.stderr.decode(errors='replace')[-500:]}")
    os.unlink(output)
    return seconds


def measure_case(case: Case, peers_: Peers, repeat: int, scratch: str, whole: bool) -> None:
    names = {n for c in case.contenders for n in c.names if peers_.available(n)}
    output = os.path.join(scratch, "w.npy")

    def ours() -> float:
        started = time.perf_counter()
        if case.to_file:
            weightgen.generate(case.initializer, case.shape, seed=1, threads=case.threads, output=output)
            seconds = time.perf_counter() - started
            os.unlink(output)
            return seconds
        weightgen.generate(case.initializer, case.shape, seed=1, threads=case.threads)
        return time.perf_counter() - started

    for name in names:  # warm-up: imports, compilation, first page faults
        peers_.time_call(name)
    ours()
    for _ in range(repeat):
        case.inside = min(case.inside, ours())
        for c in case.contenders:
            for name in c.names:
                if peers_.available(name):
                    c.inside[name] = min(c.inside.get(name, math.inf), peers_.time_call(name))
    if not whole:
        return
    command = [*weightgen_command(), *case.command, "-o", output]
    timed_process(command, output)  # warm-up: fills the bytecode cache
    for _ in range(repeat):
        case.whole = min(case.whole, timed_process(command, output))
        for c in case.contenders:
            for name in c.whole_names:
                peer = PEERS[name]
                if peers_.available(name):
                    python = peers_.interpreters[peer.library]
                    c.whole[name] = min(c.whole.get(name, math.inf),
                                        timed_process([python, "-c", peer.script(output)], output))


# -- reporting -------------------------------------------------------------------------------


def seconds(value: float | None) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.3f} s"


def ratio(ours: float, theirs: float | None) -> str:
    if theirs is None or not math.isfinite(theirs) or not math.isfinite(ours):
        return ""
    return f"{ours / theirs:.2f}x"


def print_case(case: Case, peers_: Peers, whole: bool) -> None:
    print(f"\n{case.title}")
    print(f"  {'':58} {'in-process':>11} {'ratio':>7}" + (f" {'whole process':>14} {'ratio':>7}" if whole else ""))
    print(f"  {'weightgen ' + ' '.join(case.command[:1]):58} {seconds(case.inside):>11} {'':>7}"
          + (f" {seconds(case.whole):>14}" if whole else ""))
    for c in case.contenders:
        missing = [PEERS[n].library for n in c.names if not peers_.available(n)]
        if len(missing) == len(c.names):
            print(f"  {c.label:58} {'(' + missing[0] + ' not installed)':>19}")
            continue
        inside = c.best(inside=True)
        line = f"  {c.label:58} {seconds(inside):>11} {ratio(case.inside, inside):>7}"
        if whole:
            outside = c.best(inside=False)
            line += f" {seconds(outside):>14} {ratio(case.whole, outside):>7}"
        print(line)


Check = tuple[str, Callable[[], float | None], float]


def targets(measured: list[Case]) -> list[Check]:
    """weightgen's speed targets: (what, weightgen / peer, limit)."""
    glorot, he, normal, qr1, qr2, write = measured

    def against(case: Case, label_start: str, inside: bool = True) -> Callable[[], float | None]:
        def value() -> float | None:
            for c in case.contenders:
                if c.label.startswith(label_start):
                    peer = c.best(inside)
                    ours = case.inside if inside else case.whole
                    return ours / peer if peer and math.isfinite(ours) else None
            return None
        return value

    return [
        ("glorot_uniform in-process / torch xavier_uniform_", against(glorot, "torch"), 0.5),
        ("glorot_uniform in-process / numpy, 2 threads", against(glorot, "numpy"), 1.1),
        ("he_normal in-process / jax he_normal", against(he, "jax"), 0.5),
        ("he_normal in-process / torch trunc_normal_", against(he, "torch"), 0.15),
        ("normal per core (1 thread) / torch normal_", against(normal, "torch"), 1.0),
        ("orthogonal 4096² / torch orthogonal_, 1 thread", against(qr1, "torch"), 1.0),
        ("orthogonal 4096² / torch orthogonal_, 2 threads", against(qr2, "torch"), 1.0),
        ("weightgen glorot_uniform -o w.npy / np.ones + np.save (whole)", against(write, "np.save", inside=False),
         1.5),
    ]


# -- scaling ---------------------------------------------------------------------------------


def scaling(repeat: int) -> None:
    """Speed-up from 1 to 2 threads, beside a workload that never holds the GIL.

    The kernels make ~50-200 numpy calls per block (each holds the GIL for its Python-level
    dispatch); hashing large buffers releases the GIL throughout. On the same machine at the
    same moment, a kernel speed-up close to hashing's means the GIL does not limit scaling
    (and hashing's own speed-up shows how many cores the machine could spare).
    """
    import hashlib
    from concurrent.futures import ThreadPoolExecutor

    data = bytes(32 << 20)

    def hashing(threads: int) -> float:
        with ThreadPoolExecutor(threads) as pool:
            started = time.perf_counter()
            list(pool.map(lambda _: hashlib.sha256(data).digest(), range(8)))
            return time.perf_counter() - started

    def generating(name: str, threads: int) -> float:
        started = time.perf_counter()
        weightgen.generate(name, (N, N), seed=1, threads=threads)
        return time.perf_counter() - started

    jobs: dict[str, Callable[[int], float]] = {
        "sha256 of 32 MiB buffers (never holds the GIL)": hashing,
        f"weightgen glorot_uniform {N}x{N}": lambda t: generating("glorot_uniform", t),
        f"weightgen he_normal {N}x{N}": lambda t: generating("he_normal", t),
    }
    times = {(label, t): math.inf for label in jobs for t in (1, 2)}
    for _ in range(repeat):
        for label, job in jobs.items():
            for threads in (1, 2):
                times[label, threads] = min(times[label, threads], job(threads))
    print(f"\nscaling from 1 to 2 threads (best of {repeat}; the GIL-free line is the ceiling)")
    for label in jobs:
        one, two = times[label, 1], times[label, 2]
        print(f"  {label:58} {seconds(one):>11} {seconds(two):>11} {one / two:>6.2f}x")


# -- memory ----------------------------------------------------------------------------------


#: The command, run in-process by a wrapper that reports its peak resident memory (VmHWM) at
#: exit. (getrusage's ru_maxrss would include the benchmark's own memory: a child's maximum
#: counts what it had between fork and exec.)
PEAK_REPORTING_CLI = """
import atexit, sys

def report():
    try:
        with open("/proc/self/status") as status:
            peak = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        import resource
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    sys.stderr.write(f"PEAK {peak}\\n")

atexit.register(report)
from weightgen.cli import main
main(sys.argv[1:])
"""


def memory_benchmark(gib: float, scratch: str, samples: int = 48) -> tuple[float, bool] | None:
    """Stream ``gib`` GiB of glorot_uniform into an .npy file; peak RSS (MiB) and whether
    sampled blocks equal blocks regenerated alone."""
    from weightgen import seeding
    from weightgen.generation import build_request, resolve
    from weightgen.sampler import flat_slice

    side = int(math.sqrt(gib * (1 << 30) / 4))
    shape = (side, side)
    nbytes = side * side * 4
    free = shutil.disk_usage(scratch).free
    print(f"\nmemory: weightgen glorot_uniform --shape {side},{side} -o big.npy ({nbytes / (1 << 30):.1f} GiB)")
    if nbytes + (1 << 30) > free:
        print(f"  skipped: {scratch} has {free / (1 << 30):.1f} GiB free (--scratch DIR elsewhere)")
        return None
    path = os.path.join(scratch, "big.npy")
    arguments = ["glorot_uniform", "--shape", f"{side},{side}", "--seed", "7", "-o", path, "-q"]
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", PEAK_REPORTING_CLI, *arguments], stderr=subprocess.PIPE,
                          text=True)
    elapsed = time.perf_counter() - started
    try:
        peaks = [line.split()[1] for line in done.stderr.splitlines() if line.startswith("PEAK ")]
        if done.returncode != 0 or not peaks:
            print(f"  failed: {done.stderr.strip()}")
            return None
        peak = int(peaks[-1]) / 1024
        print(f"  {elapsed:.1f} s ({nbytes / elapsed / 1e9:.2f} GB/s, generation, writing and fsync), "
              f"peak resident memory {peak:.0f} MiB")
        request, spec = build_request("glorot_uniform", shape, seed=7)
        plan = resolve(request, spec)
        stored = np.load(path, mmap_mode="r").reshape(-1)
        rng = np.random.default_rng(0)
        blocks = seeding.block_count(stored.size)
        picks = sorted({0, blocks - 1, *rng.integers(0, blocks, samples - 2).tolist()})
        same = True
        for index in picks:
            start = index * seeding.BLOCK_SIZE
            stop = min(stored.size, start + seeding.BLOCK_SIZE)
            same &= np.array_equal(stored[start:stop], flat_slice(plan, shape, "float32", 7, start, stop))
        print(f"  {len(picks)} sampled blocks {'equal' if same else 'DIFFER FROM'} the blocks regenerated alone")
        return peak, bool(same)
    finally:
        if os.path.exists(path):
            os.unlink(path)


# -- main --------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="rounds; each time is the best of them")
    parser.add_argument("--peer-python", action="append", default=[], metavar="PYTHON",
                        help="an interpreter that may have torch or jax (repeatable)")
    parser.add_argument("--memory-gib", type=float, default=16.0, help="size of the streamed tensor")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--skip-whole", action="store_true", help="no whole-process comparisons")
    parser.add_argument("--skip-speed", action="store_true", help="only the memory benchmark")
    parser.add_argument("--case", default="", metavar="TEXT",
                        help="only the speed cases whose title contains TEXT (e.g. '.npy file')")
    parser.add_argument("--skip-scaling", action="store_true", help="no 1- versus 2-thread comparison")
    parser.add_argument("--scratch", default=None, help="folder for the files written (default: a temp dir)")
    args = parser.parse_args()

    scratch = tempfile.mkdtemp(prefix="weightgen-bench-", dir=args.scratch)
    print(f"weightgen {weightgen.__version__}, numpy {np.__version__}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}; best of {args.repeat} rounds")
    interpreters = find_interpreters(args.peer_python)
    finished = (f"import numpy as np\nfinished = np.ones(({N}, {N}), np.float32)\n"
                f"path = {os.path.join(scratch, 's.npy')!r}\n")
    PEERS["numpy_save"] = Peer("numpy", "np.save of a finished array", finished, "np.save(path, finished)\nw = finished")
    PEERS["numpy_save_fsync"] = Peer("numpy", "np.save + fsync of a finished array", finished,
                                     "np.save(path, finished)\n" + fsync_script(os.path.join(scratch, "s.npy"))
                                     + "w = finished")
    peers_ = Peers(interpreters)
    measured = [] if args.skip_speed else cases("numpy_save")
    try:
        for case in measured:
            if args.case not in case.title:
                continue
            measure_case(case, peers_, args.repeat, scratch, whole=not args.skip_whole)
            print_case(case, peers_, whole=not args.skip_whole)
        if not args.skip_speed and not args.skip_scaling:
            scaling(args.repeat)
        memory = None if args.skip_memory else memory_benchmark(args.memory_gib, scratch)
    finally:
        peers_.close()
        shutil.rmtree(scratch, ignore_errors=True)

    print(f"\ntargets (load average now {os.getloadavg()[0]:.1f})")
    for what, value, limit in targets(measured) if measured else []:
        got = value()
        verdict = "n/a" if got is None else ("yes" if got <= limit else "NO")
        print(f"  {what:66} {'-' if got is None else f'{got:.2f}x':>7}  (≤ {limit:.2f}x)  {verdict}")
    if memory is not None:
        peak, same = memory
        print(f"  {args.memory_gib:g} GiB .npy streamed: peak RSS {peak:.0f} MiB (< 512 MiB: "
              f"{'yes' if peak < 512 else 'NO'}), sampled blocks equal: {'yes' if same else 'NO'}")


if __name__ == "__main__":
    main()
