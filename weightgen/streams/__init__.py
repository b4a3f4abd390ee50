"""Random streams: weightgen's own, and the framework-exact ones (``--rng``).

weightgen's own stream (``--rng weightgen``) is the block-parallel core sampler
(:mod:`weightgen.sampler`). An *exact* stream instead gives, bit for bit, what one
framework's initializers give for a seed (``--rng keras``: Keras 3 with its NumPy backend;
``--rng jax``: ``jax.nn.initializers`` with ``jax.random.key(seed)``). It follows that
framework's algorithm, in memory and on one thread, so it is slower and bounded by memory.

The registry spec stays the single source of parameters, checks, fans and the expected
distribution: an exact stream receives the checked request and its resolved plan and only
decides how the framework turns them into numbers. Each one is a module with
``sample(request, spec, plan, progress) -> numpy.ndarray`` (``progress(n)``, if given, is
told of each n elements done); a spec lists the exact streams it
supports in ``InitializerSpec.streams``. Importing this package imports no numpy.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from weightgen.errors import DtypeError, ParameterError

if TYPE_CHECKING:  # pragma: no cover
    from weightgen.generation import Request
    from weightgen.plan import Plan
    from weightgen.registry import InitializerSpec

#: weightgen's own block-parallel stream, the default of ``--rng``.
DEFAULT = "weightgen"


@dataclass(frozen=True)
class Stream:
    """One value of ``--rng``: what it reproduces and what it can take."""

    name: str
    #: What the stream gives, for help texts and messages.
    reproduces: str
    #: Seeds must be below this (None: any non-negative integer).
    seed_limit: int | None = None
    #: Why seeds are limited, for the error message.
    seed_reason: str = ""
    #: The module whose ``sample(request, spec, plan)`` produces the tensor (None: the core sampler).
    module: str | None = None
    #: (initializer, dtype) pairs the framework itself fails on, and why.
    refusals: Mapping[tuple[str, str], str] = field(default_factory=dict)


STREAMS: dict[str, Stream] = {
    stream.name: stream
    for stream in (
        Stream(DEFAULT, "weightgen's fast, block-parallel stream"),
        Stream("keras", "what Keras 3 gives with its NumPy backend (KERAS_BACKEND=numpy)",
               seed_limit=2**32, seed_reason="Keras's NumPy backend stores the seed as uint32",
               module="weightgen.streams.keras",
               refusals={("orthogonal", "float16"): "Keras's NumPy backend fails on it "
                                                    "(numpy.linalg.qr has no float16 kernel)"}),
        Stream("jax", "what jax.nn.initializers give with jax.random.key(seed) on CPU",
               seed_limit=2**32,
               seed_reason="JAX keeps only a seed's low 32 bits unless jax_enable_x64 is on, "
                           "so a larger seed has no single answer",
               module="weightgen.streams.jax",
               refusals={(name, dtype): "JAX fails on it (its CPU QR is LAPACK's, which has no "
                                        "16-bit kernel)"
                         for name in ("jax.orthogonal", "jax.delta_orthogonal")
                         for dtype in ("float16", "bfloat16")}),
    )
}

NAMES = tuple(STREAMS)


def get(name: str) -> Stream:
    """The stream called ``name``; an unknown name is a usage error."""
    stream = STREAMS.get(name) if isinstance(name, str) else None
    if stream is None:
        raise ParameterError(
            f"Invalid value for --rng: expected one of {', '.join(NAMES)} (got {name!r})."
        )
    return stream


def check(name: str, spec: InitializerSpec, dtype: str) -> Stream:
    """The stream ``name``, refusing an initializer or dtype it cannot reproduce."""
    stream = get(name)
    if name != DEFAULT and name not in spec.streams:
        raise ParameterError(
            f"--rng {name} does not reproduce {spec.name} ({spec.family} family); "
            f"{spec.name} takes --rng {' or '.join(spec.rngs)}."
        )
    reason = stream.refusals.get((spec.name, dtype))
    if reason:
        raise DtypeError(f"--rng {name} cannot give {spec.name} in {dtype}: {reason}; use "
                         "--dtype float32 and cast, or --rng weightgen.")
    return stream


def check_seed(stream: Stream, seed: int) -> None:
    """Refuse a seed the framework cannot take."""
    if stream.seed_limit is not None and seed >= stream.seed_limit:
        raise ParameterError(
            f"Invalid value for --seed: --rng {stream.name} takes seeds from 0 to "
            f"{stream.seed_limit - 1} ({stream.seed_reason}); got {seed}."
        )


def run(request: Request, spec: InitializerSpec, plan: Plan,
        progress: Callable[[int], None] | None = None) -> Any:
    """Generate ``request`` with its exact stream, in memory: a :class:`~weightgen.sampler.Sampled`."""
    import importlib

    from weightgen import dtypes
    from weightgen.sampler import Sampled, check_fits
    from weightgen.stats import Moments

    stream = get(request.rng)
    if stream.module is None:  # pragma: no cover - the default stream goes through the sampler
        raise ValueError("weightgen's own stream runs in the core sampler")
    module = importlib.import_module(stream.module)
    check_fits(request.shape, request.dtype, extra_factor=module.WORKSPACE_BYTES)
    itemsize = dtypes.itemsize(request.dtype)
    array = module.sample(request, spec, plan,
                          (lambda count: progress(count * itemsize)) if progress else None)
    return Sampled(array, Moments.of(array))
