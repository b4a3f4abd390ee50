"""Kernels for the complex distributions (JAX's complex64/complex128 initializers).

A block of ``n`` complex values is filled through its float view of ``2n`` interleaved
(real, imag) parts, from the block's own generator and with the real kernels of
:mod:`weightgen.kernels`, so complex tensors keep the stream contract: block ``i`` of the
flat tensor depends on ``(seed, i)`` only, whatever the thread count.

* complex normal: every part an independent N(0, std²/2), by the real normal kernel;
* disk and truncated modulus: two uniforms per value, the first giving the modulus by
  inversion and the second the angle, as JAX does, computed in the parts' own precision
  (float32 for complex64, as JAX does; float64 math would cost ten times as much), and
  each part kept inside the distribution's bounds after rounding.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from weightgen import dtypes
from weightgen.distributions import (ComplexDisk, ComplexNormal, ComplexTruncatedNormal,
                                     Distribution)
from weightgen.kernels import fill_normal, fill_uniform

#: ``kernel(rng, parts)``: fill the float view ``parts`` (length 2n) of n complex values.
PairKernel = Callable[[np.random.Generator, np.ndarray], None]


def _polar(parts: np.ndarray, modulus: np.ndarray, bound: float) -> None:
    """Write ``modulus·e^{iθ}`` into ``parts``, θ = 2π times the odd parts (uniforms)."""
    theta = parts[1::2] * parts.dtype.type(2.0 * math.pi)
    np.multiply(modulus, np.cos(theta), out=parts[0::2])
    np.multiply(modulus, np.sin(theta), out=parts[1::2])
    limit = dtypes.inward(bound, parts.dtype, upward=False)
    np.clip(parts, -limit, limit, out=parts)


def fill_disk(rng: np.random.Generator, parts: np.ndarray, radius: float) -> None:
    """Uniform on the disk |z| < radius: modulus radius·sqrt(u)."""
    fill_uniform(rng, parts, 0.0, 1.0)
    modulus = np.sqrt(parts[0::2])
    modulus *= parts.dtype.type(radius)
    _polar(parts, modulus, radius)


def fill_truncated_modulus(rng: np.random.Generator, parts: np.ndarray, std: float,
                           upper: float) -> None:
    """Circular normal (E|z|² = std²) cut at |z| <= upper·std: |z|²/std² is Exp(1) below upper²."""
    fill_uniform(rng, parts, 0.0, 1.0)
    t = parts[0::2] * parts.dtype.type(-math.expm1(-upper * upper))
    modulus = np.sqrt(-np.log1p(-t))
    modulus *= parts.dtype.type(std)
    _polar(parts, modulus, upper * std)


def kernel_for(distribution: Distribution) -> PairKernel:
    """The kernel that draws a complex ``distribution`` into (real, imag) pairs."""
    d: Any = distribution
    if isinstance(d, ComplexNormal):
        part_std = d.std_ / math.sqrt(2.0)
        return lambda rng, parts: fill_normal(rng, parts, 0.0, part_std)
    if isinstance(d, ComplexDisk):
        return lambda rng, parts: fill_disk(rng, parts, d.radius)
    if isinstance(d, ComplexTruncatedNormal):
        return lambda rng, parts: fill_truncated_modulus(rng, parts, d.std_, d.upper)
    raise TypeError(f"no complex kernel draws {type(distribution).__name__}")
