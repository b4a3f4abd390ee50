"""``generate()``: one tensor from an initializer name, params, shape, dtype and seed.

The pipeline is: look the initializer up, check the request completely (shape, dtype,
params, fans, output), resolve it to a :class:`~weightgen.plan.Plan`, run the core
sampler, and optionally write the result. Everything is checked before anything is
generated or written, so a bad request costs nothing and touches no file.
"""

from __future__ import annotations

import math
import os
import platform
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from weightgen import dtypes, seeding, streams
from weightgen._version import __version__
from weightgen.errors import DtypeError, InitializerError, ParameterError, WeightgenError, one_line
from weightgen.fans import LAYOUTS, Fans, with_overrides
from weightgen.params import bind
from weightgen.plan import Plan, PlanInput
from weightgen.registry import InitializerSpec, get
from weightgen.shapes import format_shape, parse_shape

DEFAULT_NAME = "weight"


@dataclass(frozen=True)
class Request:
    """A complete, checked description of one tensor: enough to regenerate it exactly."""

    initializer: str
    params: Mapping[str, Any]
    shape: tuple[int, ...]
    dtype: str = "float32"
    seed: int = 0
    layout: str | None = None
    fan_in: float | None = None
    fan_out: float | None = None
    name: str = DEFAULT_NAME
    #: The random stream: weightgen's own, or a framework-exact one (``keras``, ``jax``).
    rng: str = streams.DEFAULT


@dataclass
class Result:
    """A generated tensor, what it was asked to be, and how it came out."""

    request: Request
    spec: InitializerSpec
    plan: Plan
    array: Any
    seconds: float
    output: str | None = None
    format: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    #: The statistics, when they were made with the tensor (else :attr:`moments` makes them).
    known_moments: Any = field(default=None, repr=False)
    #: Threads for summarising the array on first use of :attr:`moments`.
    threads: int | None = field(default=None, repr=False)

    @property
    def moments(self) -> Any:
        """The tensor's :class:`~weightgen.stats.Moments`.

        A tensor that is written (or not kept) is summarised block by block while it is
        made; one made only to be returned in memory is summarised here, on first use, from
        the same blocks in the same way (so the same numbers): a caller who wants just the
        array, as from numpy, pays for no statistics.
        """
        if self.known_moments is None:
            from weightgen import sampler

            self.known_moments = sampler.summarise(self.plan, self.array, self.threads)
        return self.known_moments

    @property
    def seed(self) -> int:
        """The seed used (the one given, or the one drawn): ``generate(..., seed=result.seed)``
        gives the same tensor again."""
        return self.request.seed

    @property
    def fans(self) -> Fans | None:
        return self.plan.fans

    def provenance(self) -> dict[str, Any]:
        """What a file should store to let anyone regenerate this tensor (and, under
        ``resolved``, what the parameters came to: fans, the std or limit used)."""
        return provenance(self.request, self.spec, self.plan)

    def summary(self) -> dict[str, Any]:
        """The JSON summary (SPEC §2): one object per tensor."""
        request = self.request
        out: dict[str, Any] = {
            "name": request.name,
            "initializer": request.initializer,
            "family": self.spec.family,
            "params": _jsonable(dict(request.params)),
            "resolved": _jsonable(dict(self.plan.resolved)),
            "shape": list(request.shape),
            "dtype": request.dtype,
            "seed": request.seed,
            "rng": request.rng,
        }
        if self.fans is not None:
            out.update(self.fans.as_dict())
            out["layout"] = request.layout or self.spec.layout
        out.update(self.moments.as_dict())
        out["zeros"] = self.moments.zeros / self.moments.count if self.moments.count else None
        out["expected"] = self.plan.expected.expected()
        out["distribution"] = self.plan.expected.describe()
        out.update({"output": self.output, "format": self.format,
                    "stream_version": seeding.STREAM_VERSION,
                    "seconds": round(self.seconds, 6)})
        return out


def provenance(request: Request, spec: InitializerSpec, plan: Plan | None = None) -> dict[str, Any]:
    """The provenance of a request; with its ``plan``, also what the parameters resolved to."""
    import numpy as np

    data: dict[str, Any] = {
        "initializer": request.initializer,
        "family": spec.family,
        "params": _jsonable(dict(request.params)),
        "shape": list(request.shape),
        "dtype": request.dtype,
        "seed": str(request.seed),
        "rng": request.rng,
        "stream_version": seeding.STREAM_VERSION,
        "weightgen_version": __version__,
        "numpy_version": np.__version__,
        "python_version": platform.python_version(),
    }
    if spec.uses_fans:
        data["layout"] = request.layout or spec.layout
        if request.fan_in is not None:
            data["fan_in"] = request.fan_in
        if request.fan_out is not None:
            data["fan_out"] = request.fan_out
    if plan is not None:
        data["resolved"] = _jsonable(dict(plan.resolved))
    return data


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item") and callable(value.item):
        return value.item()
    return value


def build_request(
    initializer: str,
    shape: Any,
    *,
    dtype: str = "float32",
    seed: Any = None,
    layout: str | None = None,
    fan_in: float | None = None,
    fan_out: float | None = None,
    name: str = DEFAULT_NAME,
    params: Mapping[str, Any] | None = None,
    rng: str = streams.DEFAULT,
) -> tuple[Request, InitializerSpec]:
    """Look up and check everything about a request; draws a seed when none is given."""
    spec = get(initializer)
    shape = parse_shape(shape)
    dtype_name = dtypes.canonical(dtype)
    if dtype_name is None:
        raise DtypeError(
            f"Invalid value for --dtype: unknown dtype {dtype!r}; use one of {', '.join(spec.dtypes)}."
        )
    if dtype_name not in spec.dtypes:
        why = " (it draws random floats)" if not spec.deterministic else ""
        raise DtypeError(
            f"--dtype {dtype_name} is not allowed for {spec.name}{why}; use one of "
            f"{', '.join(spec.dtypes)}."
        )
    if layout is not None and layout not in LAYOUTS:
        raise ParameterError(
            f"Invalid value for --layout: expected one of {', '.join(LAYOUTS)} (got {layout!r})."
        )
    if not spec.uses_fans and (layout is not None or fan_in is not None or fan_out is not None):
        raise ParameterError(
            f"{spec.name} does not use fans; drop --layout/--fan-in/--fan-out."
        )
    bound = bind(spec.params, params or {}, spec.name)
    if not isinstance(name, str) or not name.strip("/"):
        raise ParameterError(f"Invalid value for --name: expected a non-empty name (got {name!r}).")
    stream = streams.check(rng, spec, dtype_name)
    seed = seeding.resolve_seed(seed, stream.seed_limit)
    streams.check_seed(stream, seed)
    request = Request(spec.name, bound, shape, dtype_name, seed, layout, fan_in, fan_out, name,
                      rng)
    return request, spec


def resolve(request: Request, spec: InitializerSpec) -> Plan:
    """The plan of a checked request (fans computed here, where layout and axes are known)."""
    fans = None
    if spec.uses_fans:
        layout = request.layout or spec.layout
        fans = with_overrides(lambda: spec.fan_rule(request.shape, layout, request.params),
                              request.fan_in, request.fan_out)
    return spec.resolve(PlanInput(spec.name, request.params, request.shape, request.dtype, fans))


#: The chance, for the whole tensor, that an unbounded distribution reaches beyond its
#: reach (:func:`reach_in_stds`): below it, values the dtype cannot hold are not expected.
OVERFLOW_CHANCE = 1e-6


def reach_in_stds(count: int) -> float:
    """How many stds from the mean ``count`` normal values stay within, but for a chance of
    :data:`OVERFLOW_CHANCE` (about 6.1 for a thousand values, 8.0 for a billion)."""
    target = OVERFLOW_CHANCE / max(1, count)
    low, high = 0.0, 40.0
    for _ in range(60):  # bisection: P(|Z| > k) = erfc(k / √2) falls with k
        middle = (low + high) / 2
        low, high = (middle, high) if math.erfc(middle / math.sqrt(2.0)) > target else (low, middle)
    return high


def check_values_fit(plan: Plan, request: Request) -> None:
    """Refuse parameters whose values the float dtype cannot hold (or that are not finite
    at all), before anything is drawn: otherwise the tensor would fill with ``inf``, be
    clipped, or fail deep in a sampler. Integer dtypes are checked when the values are
    converted (they are exact there)."""
    largest = dtypes.LARGEST.get(request.dtype)
    if largest is None:
        return
    expected = plan.expected
    try:
        mean, std, low, high = expected.mean, expected.std, expected.low, expected.high
    except (ArithmeticError, ValueError):
        mean = std = low = high = math.inf
    reach = [abs(bound) for bound in (low, high) if bound is not None]
    if (low is None or high is None) and mean is not None and std is not None:
        reach.append(abs(mean) + reach_in_stds(math.prod(request.shape)) * std)
    if any(value is not None and not math.isfinite(value) for value in (mean, std)):
        raise ParameterError(f"{request.initializer}'s mean or std with these parameters is not a finite "
                             "number; choose smaller parameters.")
    wider = " or a wider --dtype" if largest < dtypes.LARGEST["float64"] else ""
    if reach and max(reach) > largest:
        raise ParameterError(
            f"{request.initializer}'s values with these parameters reach ±{max(reach):.4g}, beyond "
            f"{request.dtype}'s largest finite value {largest:.5g}; choose smaller parameters{wider}."
        )
    if (expected.continuous and low is not None and high is not None and low < high
            and not dtypes.is_complex(request.dtype)):  # low == high: a constant, rounded
        _check_interval_holds_a_value(low, high, expected.high_open, request, wider)
    _check_a_few_can_be_drawn(plan, request)


def _check_a_few_can_be_drawn(plan: Plan, request: Request) -> None:
    """Draw a few values the way the sampler will: a kernel that cannot set itself up for
    these parameters (a uniform wider than float32 can span, a truncation too narrow for
    its dtype, ziggurat tables that cannot fit) says so now, as a usage error, instead of
    failing inside a worker. Its tables are cached, so the real draw pays nothing again."""
    from weightgen import sampler
    from weightgen.plan import Draw

    if not isinstance(plan.source, Draw) or request.rng != streams.DEFAULT:
        return
    import numpy as np

    block = np.empty(64, dtype=dtypes.numpy_dtype(request.dtype))
    try:
        with np.errstate(all="ignore"):
            sampler.draw_fill(plan.source.distribution, request.dtype, request.seed)(0, block)
    except (ValueError, ArithmeticError, RuntimeError) as error:
        raise ParameterError(f"{request.initializer} cannot be drawn in {request.dtype} with these parameters "
                             f"({one_line(error)}); choose other parameters.") from None


def _check_interval_holds_a_value(low: float, high: float, high_open: bool, request: Request, wider: str) -> None:
    """A bounded distribution whose interval holds no value of the dtype (``[0.1, 0.1000001]``
    in bfloat16) would have to put its values outside it."""
    target = dtypes.numpy_dtype(request.dtype)
    lowest = float(dtypes.inward(low, target, upward=True))
    highest = float(dtypes.below(high, target) if high_open else dtypes.inward(high, target, upward=False))
    if lowest > highest:
        interval = f"[{low:.9g}, {high:.9g}{')' if high_open else ']'}"
        raise ParameterError(f"no {request.dtype} value lies in {request.initializer}'s interval {interval}; "
                             f"choose a wider interval{wider}.")


@contextmanager
def plugin_failures(spec: InitializerSpec) -> Iterator[None]:
    """A plugin's own bug becomes one line (:class:`InitializerError`), not a traceback."""
    try:
        yield
    except WeightgenError:
        raise
    except Exception as error:
        if spec.origin == "builtin":
            raise
        raise InitializerError(
            f"{spec.name} (from {spec.origin}) failed: {type(error).__name__}: {one_line(error)}"
        ) from error


def generate(
    initializer: str,
    shape: Any,
    *,
    dtype: str = "float32",
    seed: Any = None,
    layout: str | None = None,
    fan_in: float | None = None,
    fan_out: float | None = None,
    threads: int | None = None,
    output: str | None = None,
    format: str | None = None,
    name: str = DEFAULT_NAME,
    force: bool = False,
    compression: str | None = None,
    progress: Callable[[int], None] | None = None,
    rng: str = streams.DEFAULT,
    keep_array: bool | None = None,
    **params: Any,
) -> Result:
    """Generate one tensor; write it to ``output`` (a path, or ``"-"`` for stdout) if given.

    >>> result = generate("glorot_uniform", (256, 128), seed=0)
    >>> result.array.shape, result.plan.resolved["limit"]
    ((256, 128), 0.125)

    ``format`` overrides the format ``output``'s extension implies. ``name`` is the entry
    inside a container (``.npz``, HDF5, ``.safetensors``); writing into an existing
    container adds the entry and keeps the others, and ``force`` replaces an entry of the
    same name (or an existing ``.npy`` file). ``compression`` is ``gzip`` or ``lzf`` for
    HDF5, ``gzip`` for ``.npz``. ``progress(n)``, if given, is called with the bytes of
    each finished block.

    ``rng`` picks the random stream: ``"weightgen"`` (the fast, block-parallel default), or
    ``"keras"``/``"jax"`` for the bytes that framework gives for the same seed (in memory,
    one thread; ``threads`` then changes nothing, as always).

    ``keep_array`` says whether ``Result.array`` holds the tensor. An elementwise
    initializer of the default stream written to an ``output`` is *streamed* into it block
    by block while it is generated (memory: a few blocks per thread, whatever the size),
    and by default not kept: ``Result.array`` is None. Every other tensor is made whole in
    memory, and kept by default. ``keep_array=True`` keeps a streamed tensor too (the same
    values either way); ``keep_array=False`` never keeps one.

    ``shape`` is a tuple or list (numpy integers and arrays too) or the command line's text
    (``"256,128"``); ``dtype`` a name or anything numpy reads as one (``np.float32``);
    ``output`` a path (``str`` or ``os.PathLike``). The seed used is ``Result.seed``.

    Raises :class:`~weightgen.errors.UsageError` subclasses for bad requests (nothing is
    generated; the messages name the command line's options, ``--stddev`` for the
    ``stddev`` keyword), :class:`~weightgen.errors.TooLargeError` when the tensor fits
    neither in memory nor (when streamed) on the output's disk,
    :class:`~weightgen.errors.OutputError` when writing fails or would clobber a file
    without ``force`` (the file is left as it was), and
    :class:`~weightgen.errors.InitializerError` when a custom or plugin initializer's own
    code fails.
    """
    from weightgen import formats, sampler

    threads = check_threads(threads)
    output = None if output is None else os.fspath(output)
    request, spec = build_request(initializer, shape, dtype=dtype, seed=seed, layout=layout,
                                  fan_in=fan_in, fan_out=fan_out, name=name, params=params,
                                  rng=rng)
    with plugin_failures(spec):
        plan = resolve(request, spec)
    check_values_fit(plan, request)
    format_name = formats.format_for(output, format)
    formats.check_compression(compression)
    streamed = streams_into(output, request, plan)
    keep = not streamed if keep_array is None else bool(keep_array)
    # Memory first (without an output nothing streams: SPEC §2), then the output's disk.
    check_memory_for(request, plan, streamed=streamed, keep=keep)
    if output is not None:
        formats.check_writable(format_name, output, request.dtype, force, request.name, compression)
        formats.check_room(format_name, output, math.prod(request.shape) * dtypes.itemsize(request.dtype))
    started = time.perf_counter()
    if output is None:
        result = sample(request, spec, plan, threads=threads, progress=progress, keep=keep)
    else:
        with formats.open_writer(format_name, output, entry_for(request, spec, plan, compression),
                                 force) as writer:
            result = sample(request, spec, plan, threads=threads, progress=progress,
                            sink=writer.write, keep=keep)
    result.seconds = time.perf_counter() - started
    result.output, result.format = output, format_name
    return result


def streams_into(output: str | None, request: Request, plan: Plan) -> bool:
    """Whether the tensor is written block by block while it is made (never whole in memory)."""
    from weightgen import sampler

    return output is not None and request.rng == streams.DEFAULT and sampler.streams(plan.source)


def check_memory_for(request: Request, plan: Plan, *, streamed: bool, keep: bool) -> None:
    """Refuse up front a tensor that memory cannot hold as it will be made (SPEC §2)."""
    from weightgen import sampler

    exact_stream = request.rng != streams.DEFAULT and sampler.streams(plan.source)
    hint = (f"--rng {request.rng} makes the tensor in memory; use --rng {streams.DEFAULT} (the default) to "
            "stream it into a file of any size, or choose a smaller shape." if exact_stream else None)
    sampler.check_memory(plan, request.shape, request.dtype, keep=keep or not streamed, hint=hint)


def check_threads(threads: Any) -> int | None:
    """``threads`` as an int (numpy integers too), or None for the default."""
    if threads is None:
        return None
    if isinstance(threads, bool) or not hasattr(threads, "__index__") or threads.__index__() < 1:
        raise ParameterError(f"Invalid value for --threads: expected a positive integer (got {threads!r}).")
    return threads.__index__()


def sample(request: Request, spec: InitializerSpec, plan: Plan, *, threads: int | None = None,
           progress: Callable[[int], None] | None = None, sink: Callable[[Any], None] | None = None,
           keep: bool = True) -> Result:
    """Run a checked, resolved request's stream: the core sampler, or the framework-exact
    stream its ``rng`` names (in memory).

    ``sink`` receives the tensor's C-order blocks (a writer's ``write``), while they are
    made for the default stream; without ``keep`` an elementwise tensor of the default
    stream is never held whole, and ``Result.array`` is None.
    """
    from weightgen import sampler

    started = time.perf_counter()
    with plugin_failures(spec):
        if request.rng == streams.DEFAULT:
            # Kept and not written: the statistics wait until someone asks (Result.moments).
            sampled = sampler.run(plan, request.shape, request.dtype, request.seed, threads, progress,
                                  sink=sink, keep=keep, statistics=not keep or sink is not None)
        else:
            sampled = streams.run(request, spec, plan, progress)
            if sink is not None:
                sampler.hand_over(sink, sampled.array)
    array = sampled.array if keep else None
    return Result(request, spec, plan, array, time.perf_counter() - started,
                  known_moments=sampled.moments, threads=threads)


def entry_for(request: Request, spec: InitializerSpec, plan: Plan, compression: str | None = None,
              **extra: Any) -> Any:
    """The :class:`~weightgen.formats.Entry` a request is written as, its provenance included
    (with ``extra`` added); known before anything is sampled, as a file header may need it."""
    from weightgen import formats

    metadata = {**provenance(request, spec, plan), **extra}
    return formats.Entry(request.name, request.shape, request.dtype, metadata, compression)


def describe_request(request: Request) -> str:
    """``glorot_uniform (256, 128) float32 seed=1``, for messages."""
    return f"{request.initializer} {format_shape(request.shape)} {request.dtype} seed={request.seed}"
