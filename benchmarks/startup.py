"""Start-up cost of the ``weightgen`` command, whole process, beside its floor.

    python benchmarks/startup.py                 # 40 runs of each, medians and ratios
    python benchmarks/startup.py --runs 100

Completion runs the program on every TAB and shell loops run it thousands of times, so
what matters is the time of a whole process. Each pair compares weightgen with the least
a Python program doing the same job must pay:

- ``weightgen --version`` beside ``python -c "import click"`` (the CLI framework alone);
- ``weightgen zeros --shape 10 -o z.npy`` beside
  ``python -c "import numpy; numpy.save('z.npy', numpy.zeros(10, 'float32'))"``.

Other rows (help, completion, quiet, a random initializer) are timed against the same
floors. Runs are interleaved, so a noisy machine slows every command alike; the median of
each is printed with its ratio to its floor. stdout and stderr go to ``/dev/null`` (not a
terminal), as in a script or a pipeline. Every command runs with compiled bytecode cached
(as after ``pip install``, which compiles it; an editable install under
``PYTHONDONTWRITEBYTECODE`` would otherwise recompile weightgen on every run): bytecode goes
to a temporary ``PYTHONPYCACHEPREFIX`` that the warm-up runs fill. Plain Python: no
dependency beyond weightgen's.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

TARGET = 1.3


@dataclass
class Case:
    label: str
    argv: list[str]
    #: The label of the case this one is compared with (None: it is a floor).
    floor: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    #: Files removed (untimed) before each run, so every run writes afresh.
    clean: tuple[str, ...] = ()
    #: Whether the ratio must stay within TARGET (the issue's two targets).
    target: bool = False


def weightgen_command() -> list[str]:
    """The installed ``weightgen`` script beside this interpreter, else on PATH."""
    script = os.path.join(os.path.dirname(sys.executable), "weightgen")
    if os.path.exists(script):
        return [script]
    found = shutil.which("weightgen")
    if found is None:
        sys.exit("weightgen is not installed: pip install . first")
    return [found]


def cases() -> list[Case]:
    python, weightgen = [sys.executable], weightgen_command()
    click_floor = "python -c 'import click'"
    numpy_floor = "python -c 'import numpy; numpy.save(...)'"
    complete = {"_WEIGHTGEN_COMPLETE": "bash_complete"}
    return [
        Case(click_floor, [*python, "-c", "import click"]),
        Case(numpy_floor, [*python, "-c", "import numpy; numpy.save('z.npy', numpy.zeros(10, 'float32'))"],
             clean=("z.npy",)),
        Case("weightgen --version", [*weightgen, "--version"], click_floor, target=True),
        Case("weightgen --help", [*weightgen, "--help"], click_floor),
        Case("TAB: weightgen glo<TAB>", weightgen, click_floor,
             env={**complete, "COMP_WORDS": "weightgen glo", "COMP_CWORD": "1"}),
        Case("TAB: weightgen he_normal --dtype <TAB>", weightgen, click_floor,
             env={**complete, "COMP_WORDS": "weightgen he_normal --dtype ", "COMP_CWORD": "3"}),
        Case("weightgen zeros --shape 10 -o z.npy", [*weightgen, "zeros", "--shape", "10", "-o", "z.npy"],
             numpy_floor, clean=("z.npy",), target=True),
        Case("weightgen zeros --shape 10 -o z.npy -q", [*weightgen, "zeros", "--shape", "10", "-o", "z.npy", "-q"],
             numpy_floor, clean=("z.npy",)),
        Case("weightgen glorot_uniform --shape 256,128 -o g.npy",
             [*weightgen, "glorot_uniform", "--shape", "256,128", "-o", "g.npy"], numpy_floor, clean=("g.npy",)),
    ]


def run_once(case: Case, folder: str) -> float:
    for name in case.clean:
        try:
            os.unlink(os.path.join(folder, name))
        except FileNotFoundError:
            pass
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    env.update(case.env, PYTHONPYCACHEPREFIX=os.path.join(folder, "pycache"))
    started = time.perf_counter()
    done = subprocess.run(case.argv, cwd=folder, env=env, stdin=subprocess.DEVNULL,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{case.label} failed with exit code {done.returncode}")
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=40, help="runs of each command (default 40)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed runs of each first (default 2)")
    args = parser.parse_args(argv)

    chosen = cases()
    times: dict[str, list[float]] = {case.label: [] for case in chosen}
    with tempfile.TemporaryDirectory(prefix="weightgen-startup-") as folder:
        for round_ in range(args.warmup + args.runs):
            for case in chosen:
                seconds = run_once(case, folder)
                if round_ >= args.warmup:
                    times[case.label].append(seconds)

    medians = {label: statistics.median(values) for label, values in times.items()}
    width = max(len(case.label) for case in chosen)
    print(f"{'command':<{width}}  {'median ms':>9}  {'ratio':>6}  vs")
    failed = False
    for case in chosen:
        median = medians[case.label]
        ratio = "" if case.floor is None else f"{median / medians[case.floor]:.2f}x"
        versus = "" if case.floor is None else case.floor
        mark = ""
        if case.target:
            ok = median / medians[case.floor] <= TARGET  # type: ignore[index]
            failed |= not ok
            mark = f"  (target <= {TARGET}x: {'met' if ok else 'MISSED'})"
        print(f"{case.label:<{width}}  {median * 1000:9.1f}  {ratio:>6}  {versus}{mark}")
    print(f"\n{args.runs} runs each (after {args.warmup} warm-up runs), interleaved; "
          f"python {sys.version.split()[0]}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
