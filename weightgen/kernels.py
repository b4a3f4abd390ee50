"""Elementwise sampling kernels: fill a work-dtype block from its generator.

A kernel is a pure function ``kernel(rng, out)`` of the block's generator and the
block's length; that purity is what makes values independent of threads and chunking.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from weightgen.distributions import Distribution, Normal, TruncatedNormal, Uniform

Kernel = Callable[["np.random.Generator", np.ndarray], None]  # a string: np.random imports lazily


def fill_uniform(rng: np.random.Generator, out: np.ndarray, low: float, high: float) -> None:
    """Uniform on ``[low, high)``: never ``high``, never below ``low``, also after rounding."""
    rng.random(out=out, dtype=out.dtype)
    out *= out.dtype.type(high - low)
    out += out.dtype.type(low)
    np.clip(out, out.dtype.type(low), np.nextafter(out.dtype.type(high), out.dtype.type(low)), out=out)


def fill_normal(rng: np.random.Generator, out: np.ndarray, mean: float, std: float) -> None:
    """Normal(mean, std)."""
    rng.standard_normal(out=out, dtype=out.dtype)
    out *= out.dtype.type(std)
    out += out.dtype.type(mean)


def fill_truncated_normal(rng: np.random.Generator, out: np.ndarray, mean: float, std: float,
                          lower: float, upper: float) -> None:
    """Normal(mean, std) restricted to ``[mean + lower·std, mean + upper·std]`` (exact rejection)."""
    filled = 0
    n = out.size
    while filled < n:
        want = n - filled
        draw = rng.standard_normal(size=int(want * 1.1) + 64, dtype=out.dtype)
        keep = draw[(draw >= lower) & (draw <= upper)][:want]
        out[filled : filled + keep.size] = keep
        filled += keep.size
    out *= out.dtype.type(std)
    out += out.dtype.type(mean)
    np.clip(out, out.dtype.type(mean + lower * std), out.dtype.type(mean + upper * std), out=out)


def kernel_for(distribution: Distribution) -> Kernel:
    """The kernel that draws ``distribution``."""
    d: Any = distribution
    if isinstance(d, Uniform):
        return lambda rng, out: fill_uniform(rng, out, d.low_, d.high_)
    if isinstance(d, Normal):
        return lambda rng, out: fill_normal(rng, out, d.mean_, d.std_)
    if isinstance(d, TruncatedNormal):
        return lambda rng, out: fill_truncated_normal(rng, out, d.mean_, d.std_, d.lower, d.upper)
    raise TypeError(f"no kernel draws {type(distribution).__name__}")
