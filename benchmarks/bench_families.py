"""Speed of the torch, jax and custom initializers against numpy and the frameworks themselves.

    python benchmarks/bench_families.py [--repeat 3] [--threads N]

Prints, per case, the best of ``--repeat`` runs in seconds and the ratio of each peer to
weightgen on the same run (> 1 means weightgen is faster). PyTorch and JAX columns appear
only where they are installed. The machine may be shared and noisy: compare ratios from
one run, not absolute times.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import tempfile
import time
from collections.abc import Callable

import numpy as np

import weightgen


def best(function: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return min(times)


def cases(threads: int | None):
    rng = np.random.default_rng(0)
    have_torch = importlib.util.find_spec("torch") is not None
    have_jax = importlib.util.find_spec("jax") is not None
    if have_torch:
        import torch

        torch.manual_seed(0)
    if have_jax:
        import jax
        import jax.numpy as jnp
        from jax.nn import initializers as ji

        key = jax.random.key(0)

    def wg(name, shape, **params):
        return lambda: weightgen.generate(name, shape, seed=1, threads=threads, **params)

    big = (4096, 4096)
    yield ("torch.kaiming_normal 4096x4096", wg("torch.kaiming_normal", big),
           {"numpy": lambda: rng.standard_normal(big, dtype=np.float32) * np.float32(0.02),
            **({"torch": lambda: torch.nn.init.kaiming_normal_(torch.empty(big))} if have_torch else {})})
    yield ("torch.trunc_normal 4096x4096", wg("torch.trunc_normal", big),
           {**({"torch": lambda: torch.nn.init.trunc_normal_(torch.empty(big))} if have_torch else {})})
    sparse = (4096, 2048)
    yield ("torch.sparse 4096x2048 s=0.1", wg("torch.sparse", sparse, sparsity=0.1),
           {**({"torch": lambda: torch.nn.init.sparse_(torch.empty(sparse), 0.1)} if have_torch else {})})
    conv = (512, 512, 3, 3)
    yield ("torch.dirac 512x512x3x3", wg("torch.dirac", conv),
           {"numpy": lambda: np.zeros(conv, np.float32),
            **({"torch": lambda: torch.nn.init.dirac_(torch.empty(conv))} if have_torch else {})})
    ortho = (2048, 2048)
    yield ("torch.orthogonal 2048x2048", wg("torch.orthogonal", ortho),
           {**({"torch": lambda: torch.nn.init.orthogonal_(torch.empty(ortho))} if have_torch else {})})
    yield ("jax.he_normal 4096x4096", wg("jax.he_normal", big),
           {**({"jax": lambda: ji.he_normal()(key, big, jnp.float32).block_until_ready()} if have_jax else {})})
    cbig = (2048, 2048)
    for distribution in ("normal", "uniform", "truncated_normal"):
        yield (f"jax.variance_scaling {distribution} complex64 2048x2048",
               wg("jax.variance_scaling", cbig, dtype="complex64", distribution=distribution),
               {"numpy": lambda: (rng.standard_normal(cbig, dtype=np.float32)
                                  + 1j * rng.standard_normal(cbig, dtype=np.float32)).astype(np.complex64),
                **({"jax": (lambda d=distribution: ji.variance_scaling(1.0, "fan_in", d)(
                    key, cbig, jnp.complex64).block_until_ready())} if have_jax else {})})
    yield ("jax.orthogonal 2048x2048", wg("jax.orthogonal", ortho),
           {**({"jax": lambda: ji.orthogonal()(key, ortho, jnp.float32).block_until_ready()} if have_jax else {})})

    folder = tempfile.mkdtemp()
    with open(os.path.join(folder, "bench_custom.py"), "w") as handle:
        handle.write("def init(shape, dtype, rng):\n"
                     "    return rng.standard_normal(shape, dtype=dtype)\n")
    sys.path.insert(0, folder)
    import bench_custom

    generator = np.random.default_rng(1)
    yield ("custom rng.standard_normal 4096x4096", wg("custom", big, target="bench_custom:init"),
           {"numpy": lambda: bench_custom.init(big, np.dtype(np.float32), generator)})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    print(f"weightgen {weightgen.__version__}, numpy {np.__version__}, threads {args.threads or 'all'}, "
          f"best of {args.repeat}")
    print(f"{'case':58} {'weightgen':>10}  peers (time, peer/weightgen)")
    for label, ours, peers in cases(args.threads):
        ours()  # warm-up: imports, JIT, caches
        for peer in peers.values():
            peer()
        mine = best(ours, args.repeat)
        shown = "  ".join(f"{name} {t:.3f}s ({t / mine:.2f}x)"
                          for name, t in ((n, best(p, args.repeat)) for n, p in peers.items()))
        print(f"{label:58} {mine:9.3f}s  {shown}", flush=True)


if __name__ == "__main__":
    main()
