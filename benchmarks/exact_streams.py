"""Speed of the framework-exact streams (``--rng keras``, ``--rng jax``) beside their peers.

    python benchmarks/exact_streams.py                # 2048x2048 float32, best of 3
    python benchmarks/exact_streams.py --size 4096 --repeat 5

For three kinds of initializer (a truncated normal, a uniform, an orthogonal matrix) it
times numpy drawing as many float32 normals, weightgen's own stream, ``--rng keras`` and
Keras itself (NumPy backend), ``--rng jax`` and JAX itself (CPU; its first call, which
compiles, is not counted). The frameworks run only where installed. Each method runs
``--repeat`` times, interleaved with the others so a noisy machine slows them alike; the
best time counts, and every time is printed as a ratio to numpy on the same run.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

os.environ.setdefault("KERAS_BACKEND", "numpy")

import numpy as np  # noqa: E402

import weightgen  # noqa: E402

Method = Callable[[], object]


def peers(kind: str, shape: tuple[int, ...]) -> dict[str, Method]:
    """The methods compared for one kind of initializer, by label."""
    keras_name, jax_name = {"truncated normal": ("he_normal", "he_normal"),
                            "uniform": ("glorot_uniform", "glorot_uniform"),
                            "orthogonal": ("orthogonal", "orthogonal")}[kind]
    methods: dict[str, Method] = {
        "numpy normal (float32)": lambda: np.random.default_rng(1).standard_normal(
            shape, dtype=np.float32),
        f"weightgen {keras_name}": lambda: weightgen.generate(keras_name, shape, seed=1),
        f"weightgen {keras_name} --rng keras": lambda: weightgen.generate(
            keras_name, shape, seed=1, rng="keras"),
    }
    try:
        import keras

        keras_init = getattr(keras.initializers, keras_name)(seed=1)
        methods[f"keras.initializers.{keras_name} (numpy backend)"] = lambda: keras_init(shape)
    except ImportError:
        pass
    if f"jax.{jax_name}" in weightgen.registry():
        methods[f"weightgen jax.{jax_name} --rng jax"] = lambda: weightgen.generate(
            f"jax.{jax_name}", shape, seed=1, rng="jax")
        try:
            import jax

            jax_init = getattr(jax.nn.initializers, jax_name)()
            methods[f"jax.nn.initializers.{jax_name}"] = lambda: np.asarray(
                jax_init(jax.random.key(1), shape))
            methods[f"jax.nn.initializers.{jax_name}"]()  # compile once, outside the timing
        except ImportError:
            pass
    return methods


def best_times(methods: dict[str, Method], repeat: int) -> dict[str, float]:
    best = {label: float("inf") for label in methods}
    for _ in range(repeat):
        for label, method in methods.items():
            started = time.perf_counter()
            method()
            best[label] = min(best[label], time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=2048, help="rows and columns [2048]")
    parser.add_argument("--repeat", type=int, default=3, help="runs per method; the best counts [3]")
    args = parser.parse_args()
    for kind in ("truncated normal", "uniform", "orthogonal"):
        size = args.size // 2 if kind == "orthogonal" else args.size
        shape = (size, size)
        times = best_times(peers(kind, shape), args.repeat)
        baseline = times["numpy normal (float32)"]
        print(f"\n{kind}, {size}x{size} float32 (best of {args.repeat})")
        for label, seconds in times.items():
            print(f"  {label:52s} {seconds:8.3f} s  {seconds / baseline:7.1f}x numpy")


if __name__ == "__main__":
    main()
