"""What an initializer resolves to before any number is drawn.

An initializer spec turns (params, shape, dtype, fans) into a :class:`Plan`: the
distribution to expect, the resolved meaning to show (``limit=0.125``) and the *source*
the sampler runs. There are four kinds of source, and every initializer is one of them:

* :class:`Draw` — independent draws from an elementwise distribution (uniform, normal,
  truncated normal), block by block;
* :class:`Fill` — a deterministic function of the flat index (zeros, constant, identity,
  dirac, stft), also block by block, so it streams like a draw;
* :class:`Transform` — standard normals drawn by the same block sampler into a matrix,
  then transformed as a whole (orthogonal: QR). These need the whole tensor in memory;
* :class:`Call` — a Python callable given the shape, dtype and a seeded generator returns
  the whole tensor (custom initializers).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from weightgen.distributions import Distribution
from weightgen.fans import Fans


@dataclass(frozen=True)
class PlanInput:
    """Everything an initializer may read to resolve itself."""

    initializer: str
    params: Mapping[str, Any]
    shape: tuple[int, ...]
    dtype: str
    fans: Fans | None = None


@dataclass(frozen=True)
class Draw:
    """Elementwise independent draws from ``distribution``."""

    distribution: Distribution


@dataclass(frozen=True)
class Fill:
    """Deterministic values: ``fill(start, out)`` writes flat elements ``start:start+len(out)``."""

    fill: Callable[[int, Any], None]


@dataclass(frozen=True)
class Transform:
    """Draw standard normals of ``draw_shape`` (work dtype), then ``transform`` them.

    ``transform(normals, work_dtype)`` returns the tensor (work dtype, final shape). With
    ``auxiliary`` set, it is called as ``transform(normals, work_dtype, rng)``, ``rng`` being
    ``seeding.auxiliary_generator(seed, auxiliary)`` (e.g. torch sparse's zero positions).
    BLAS runs on one thread during the transform (its results may depend on its thread
    count); with ``threaded`` set, the transform also gets ``threads=N``, the worker
    threads it may use on its own, in a way that never changes the values.
    """

    draw_shape: tuple[int, ...]
    transform: Callable[..., Any]
    #: Bytes per element of working memory beyond the output (for the up-front size check).
    workspace_factor: float = 3.0
    #: Purpose number of an auxiliary generator the transform needs (``seeding.PURPOSE_*``).
    auxiliary: int | None = None
    #: The transform takes a ``threads`` keyword.
    threaded: bool = False


@dataclass(frozen=True)
class Call:
    """``produce(shape, dtype_name, rng)`` returns the whole, checked tensor.

    ``rng`` is ``seeding.auxiliary_generator(seed, purpose)``; ``produce`` checks what it
    returns (shape, dtype, finiteness) and raises weightgen's errors.
    """

    produce: Callable[[tuple[int, ...], str, Any], Any]
    purpose: int


Source = Draw | Fill | Transform | Call


@dataclass(frozen=True)
class Plan:
    """A resolved initializer: what to run and what to expect."""

    source: Source
    expected: Distribution
    #: The numbers the parameters resolve to, for the summary (``{"limit": 0.125}``).
    resolved: Mapping[str, Any] = field(default_factory=dict)
    fans: Fans | None = None
