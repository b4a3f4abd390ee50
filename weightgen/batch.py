"""Batch specs: many tensors from one master seed, into one file (SPEC §1 ``batch``).

A spec is TOML or JSON::

    seed = 42                    # master seed (optional: drawn and reported when absent)
    dtype = "float32"            # defaults for every tensor: dtype, layout, compression, rng
    output = "mlp.h5"            # optional; or output_dir = "weights/" for one .npy per tensor

    [[tensor]]
    name = "dense_1/kernel"
    init = "glorot_uniform"
    shape = [784, 256]           # or "784,256"; [] is a scalar
    # any other key is a parameter of the initializer (stddev = 0.02, mode = "fan_out", ...)
    # or seed, dtype, layout, fan_in, fan_out, compression, rng for this tensor alone

:func:`plan_batch` checks the whole spec (every tensor's initializer, shape, dtype and
parameters, and what the output can take) before anything is generated; the first
problem is one :class:`~weightgen.errors.SpecError` line naming the tensor.
:func:`run_batch` then generates the tensors one at a time and writes them all into one
container, committed once (or one ``.npy`` per tensor under ``output_dir``). Each
tensor's seed is :func:`~weightgen.seeding.derive_seed` of the master seed and its name,
so adding, removing or reordering tensors never changes another tensor's values.
"""

from __future__ import annotations

import math
import os
import re
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from weightgen import dtypes, formats, seeding, streams
from weightgen.errors import InputError, SpecError, UsageError, WeightgenError
from weightgen.formats.base import write_error
from weightgen.generation import (Request, Result, build_request, check_memory_for, check_threads,
                                  check_values_fit, entry_for, plugin_failures, resolve, sample, streams_into)
from weightgen.plan import Plan
from weightgen.registry import InitializerSpec, get

#: Keys of the spec itself.
SPEC_KEYS = ("seed", "output", "output_dir", "format", "tensor")
#: Keys that set a default for every tensor (a tensor's own value wins).
DEFAULT_KEYS = ("dtype", "layout", "compression", "rng")
#: Keys of a tensor that are not initializer parameters.
TENSOR_KEYS = ("name", "init", "shape", "seed", "dtype", "layout", "fan_in", "fan_out", "compression", "rng")
#: Tensor keys passed to :func:`~weightgen.generation.build_request` as keyword arguments.
REQUEST_KEYS = ("dtype", "layout", "fan_in", "fan_out", "rng")
#: Where a batch written to stdout goes when no format is named (.npy holds one array).
STDOUT_FORMAT = "npz"
STDIN = "-"


@dataclass
class Planned:
    """One checked tensor of a batch: its request, resolved plan and destination."""

    index: int
    request: Request
    spec: InitializerSpec
    plan: Plan
    compression: str | None = None
    #: The ``.npy`` file of this tensor under ``output_dir`` (None when writing a container).
    path: str | None = None

    @property
    def nbytes(self) -> int:
        return math.prod(self.request.shape) * dtypes.itemsize(self.request.dtype)


@dataclass
class BatchPlan:
    """A whole batch, checked: nothing is generated or written until :func:`run_batch`."""

    source: str
    seed: int
    tensors: list[Planned]
    output: str | None = None
    output_dir: str | None = None
    format: str | None = None
    force: bool = False

    @property
    def nbytes(self) -> int:
        return sum(t.nbytes for t in self.tensors)


@dataclass
class BatchResult:
    """The generated tensors (in the spec's order) and where they went."""

    seed: int
    results: list[Result]
    output: str | None = None
    output_dir: str | None = None
    format: str | None = None
    seconds: float = 0.0

    def summaries(self) -> list[dict[str, Any]]:
        """One JSON record per tensor (the generate command's, plus ``master_seed``)."""
        return [{**result.summary(), "master_seed": self.seed} for result in self.results]

    def arrays(self) -> dict[str, Any]:
        """Name -> array, for the tensors whose arrays were kept (see :func:`run_batch`)."""
        return {r.request.name: r.array for r in self.results if r.array is not None}


# -- reading ------------------------------------------------------------------------


def load_spec(path: str | os.PathLike[str]) -> tuple[dict[str, Any], str]:
    """Read and parse a spec file (``-`` is stdin); returns the spec and a label for messages.

    TOML or JSON by the extension (``.toml``, ``.json``); otherwise, and on stdin, JSON
    when the text starts with ``{``, else TOML.
    """
    path = os.fspath(path)
    if path == STDIN:
        text, label = sys.stdin.read(), "<stdin>"
    else:
        label = path
        try:
            with open(path, encoding="utf-8") as file:
                text = file.read()
        except OSError as error:
            raise InputError(f"cannot read spec {path}: {error.strerror or error}") from None
        except UnicodeDecodeError as error:
            raise SpecError(f"{path}: not a text file ({error.reason}); give a TOML or JSON spec.") from None
    kind = {".toml": "toml", ".json": "json"}.get(os.path.splitext(path)[1].lower())
    return parse_spec(text, label, kind), label


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object, refused when a key repeats (JSON would keep the last; TOML refuses)."""
    data: dict[str, Any] = {}
    for key, value in pairs:
        if key in data:
            raise ValueError(f"the key {key!r} is given twice in one object")
        data[key] = value
    return data


def parse_spec(text: str, source: str = "spec", kind: str | None = None) -> dict[str, Any]:
    """Parse spec text as ``kind`` (``toml`` or ``json``; guessed when None)."""
    if kind is None:
        kind = "json" if text.lstrip().startswith("{") else "toml"
    if kind == "json":
        import json

        try:
            data = json.loads(text, object_pairs_hook=_unique_keys)
        except ValueError as error:
            raise SpecError(f"{source}: not valid JSON: {error}") from None
    else:
        import tomllib

        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            raise SpecError(f"{source}: not valid TOML: {error}") from None
    if not isinstance(data, dict):
        raise SpecError(f"{source}: a spec is a table of keys (seed, output, tensor, ...), not a "
                        f"{type(data).__name__}.")
    return data


# -- checking -----------------------------------------------------------------------


def plan_batch(
    spec: str | os.PathLike[str] | Mapping[str, Any],
    *,
    seed: Any = None,
    output: str | os.PathLike[str] | None = None,
    output_dir: str | os.PathLike[str] | None = None,
    format: str | None = None,
    force: bool = False,
    source: str | None = None,
) -> BatchPlan:
    """Check a spec (a path, ``-`` for stdin, or the parsed mapping) completely.

    ``seed``, ``output``, ``output_dir`` and ``format`` override the spec's own (an
    ``output`` or ``output_dir`` given here replaces both of the spec's). Raises
    :class:`~weightgen.errors.SpecError` naming the first bad tensor, other
    :class:`~weightgen.errors.UsageError` for bad options, and
    :class:`~weightgen.errors.OutputError` when the output already holds a tensor of
    the batch (without ``force``); nothing has been generated or written then.
    """
    if isinstance(spec, Mapping):
        data, label = dict(spec), source or "spec"
    else:
        data, label = load_spec(spec)
        label = source or label
    _check_keys(data, SPEC_KEYS + DEFAULT_KEYS, label, "the spec")
    master = seeding.resolve_seed(seed if seed is not None else _seed_of(data, label))
    output = None if output is None else os.fspath(output)
    output_dir = None if output_dir is None else os.fspath(output_dir)
    if output is not None or output_dir is not None:
        if output is not None and output_dir is not None:
            raise UsageError("Give -o FILE (one container) or --output-dir DIR (one .npy per tensor), not both.")
    else:
        output, output_dir = _text(data, "output", label), _text(data, "output_dir", label)
        if output is not None and output_dir is not None:
            raise SpecError(f"{label}: give output (one container) or output_dir (one .npy per tensor), not both.")
    format = format if format is not None else _text(data, "format", label)
    tensors = data.get("tensor")
    if tensors is not None and not isinstance(tensors, list):
        raise SpecError(f"{label}: tensor must be a list of tables, each with name, init and shape "
                        f"(got {type(tensors).__name__}); in TOML write [[tensor]] tables.")
    if not tensors:
        raise SpecError(f"{label}: no tensors; add [[tensor]] tables (TOML) or a \"tensor\" list (JSON), "
                        "each with name, init and shape.")
    defaults = {key: data[key] for key in DEFAULT_KEYS if key in data}
    planned = [_plan_tensor(i, t, defaults, master, label) for i, t in enumerate(tensors, 1)]
    _check_unique(planned, label)
    batch = BatchPlan(label, master, planned, output, output_dir, format, force)
    _check_output(batch)
    _check_sizes(batch)
    return batch


def _seed_of(data: Mapping[str, Any], label: str) -> Any:
    value = data.get("seed")
    try:
        return seeding.resolve_seed(value) if value is not None else None
    except UsageError as error:
        raise SpecError(f"{label}: {_in_spec_terms(str(error))}") from None


def _text(data: Mapping[str, Any], key: str, label: str) -> str | None:
    value = data.get(key)
    if value is not None and (not isinstance(value, str) or not value):
        raise SpecError(f"{label}: {key} must be a non-empty string (got {value!r}).")
    return value


def _check_keys(table: Mapping[str, Any], known: Sequence[str], label: str, where: str) -> None:
    for key in table:
        if key not in known:
            import difflib

            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise SpecError(f"{label}: unknown key {key!r} in {where}; {hint}known keys: {', '.join(known)}.")


def _plan_tensor(index: int, tensor: Any, defaults: Mapping[str, Any], master: int, label: str) -> Planned:
    where = f"tensor {index}"
    if not isinstance(tensor, Mapping):
        raise SpecError(f"{label}: {where} is a {type(tensor).__name__}, not a table with name, init and shape.")
    name = tensor.get("name")
    if not isinstance(name, str) or not name.strip("/"):
        raise SpecError(f"{label}: {where} needs a name, a non-empty string (got {name!r}).")
    where = f"tensor {index} ({name!r})"
    try:
        init = tensor.get("init")
        if not isinstance(init, str):
            raise SpecError(f"needs init, the initializer's name (got {init!r}); see 'weightgen list'.")
        if "shape" not in tensor:
            raise SpecError("needs a shape, such as [784, 256] (or [] for a scalar).")
        spec = get(init)
        settings = {**defaults, **{k: v for k, v in tensor.items() if k in TENSOR_KEYS}}
        if not spec.uses_fans and "layout" not in tensor:
            settings.pop("layout", None)  # a default layout concerns only initializers with fans
        options = {key: settings[key] for key in REQUEST_KEYS if key in settings}
        for key in ("fan_in", "fan_out"):
            if key in options and (isinstance(options[key], bool) or not isinstance(options[key], (int, float))):
                raise SpecError(f"{key} must be a number (got {options[key]!r}).")
        given_seed = tensor.get("seed")
        if given_seed is not None:
            seed = seeding.resolve_seed(given_seed)
        else:  # within what the tensor's stream takes (an unknown rng is refused just below)
            stream = streams.STREAMS.get(options["rng"]) if isinstance(options.get("rng"), str) else None
            seed = seeding.derive_seed(master, name, stream.seed_limit if stream is not None else None)
        params = {k: v for k, v in tensor.items() if k not in TENSOR_KEYS}
        request, spec = build_request(init, tensor["shape"], seed=seed, name=name, params=params, **options)
        with plugin_failures(spec):
            plan = resolve(request, spec)
        check_values_fit(plan, request)
        compression = settings.get("compression")
        if compression is not None and not isinstance(compression, str):
            raise SpecError(f"compression must be gzip or lzf (got {compression!r}).")
    except WeightgenError as error:
        if not isinstance(error, UsageError):
            raise
        raise SpecError(f"{label}: {where}: {_in_spec_terms(str(error))}") from None
    return Planned(index, request, spec, plan, compression)


def _in_spec_terms(message: str) -> str:
    """A library message as it applies to a spec: ``--fan-in`` is the key ``fan_in`` there."""
    return re.sub(r"--([a-z][a-z0-9-]*)", lambda m: m.group(1).replace("-", "_"), message)


def _check_unique(planned: Sequence[Planned], label: str) -> None:
    seen: dict[str, int] = {}
    for tensor in planned:
        name = tensor.request.name
        if name in seen:
            raise SpecError(f"{label}: tensors {seen[name]} and {tensor.index} are both named {name!r}; "
                            "every tensor needs its own name.")
        seen[name] = tensor.index


def _check_output(batch: BatchPlan) -> None:
    """Refuse up front what writing would refuse (see :func:`weightgen.formats.check_entries`)."""
    if batch.output_dir is not None:
        if batch.format not in (None, "npy"):
            raise UsageError(f"--output-dir writes one .npy per tensor; --format {batch.format} does not apply "
                             "(write one container with -o FILE instead).")
        batch.format = "npy"
        for tensor in batch.tensors:
            with _about(batch, tensor):
                if tensor.compression is not None:
                    raise SpecError("compression does not apply to .npy files (--output-dir)")
                tensor.path = npy_path(batch.output_dir, tensor.request.name)
                formats.check_entry("npy", _bare_entry(tensor))
        _check_distinct_paths(batch)
        for tensor in batch.tensors:
            assert tensor.path is not None
            formats.check_entries("npy", tensor.path, [_bare_entry(tensor)], batch.force)
        return
    if batch.output is None:
        for tensor in batch.tensors:
            with _about(batch, tensor):
                formats.check_compression(tensor.compression)
        return
    if batch.format is None and batch.output == formats.STDOUT:
        batch.format = STDOUT_FORMAT
    batch.format = formats.format_for(batch.output, batch.format)
    assert batch.format is not None
    for tensor in batch.tensors:
        with _about(batch, tensor):
            formats.check_entry(batch.format, _bare_entry(tensor))
    try:
        formats.check_names(batch.format, [t.request.name for t in batch.tensors])
    except UsageError as error:
        raise SpecError(f"{batch.source}: {_in_spec_terms(str(error))}") from None
    formats.check_entries(batch.format, batch.output, [_bare_entry(t) for t in batch.tensors], batch.force)


def _check_sizes(batch: BatchPlan) -> None:
    """Refuse up front a tensor memory cannot hold as it will be made, and an output whose
    disk lacks the room for every tensor (SPEC §2), before the first is generated."""
    for tensor in batch.tensors:
        output = batch.output if batch.output is not None else tensor.path
        streamed = streams_into(output, tensor.request, tensor.plan)
        with _about(batch, tensor):
            check_memory_for(tensor.request, tensor.plan, streamed=streamed, keep=not streamed)
    total = sum(math.prod(t.request.shape) * dtypes.itemsize(t.request.dtype) for t in batch.tensors)
    if batch.output is not None:
        assert batch.format is not None
        formats.check_room(batch.format, batch.output, total)
    elif batch.output_dir is not None:
        formats.check_room("npy", os.path.join(batch.output_dir, ""), total)  # "DIR/": the folder


@contextmanager
def _about(batch: BatchPlan, tensor: Planned) -> Iterator[None]:
    """Errors raised inside name the tensor they concern (usage errors become SpecErrors,
    the others keep their class and exit code)."""
    where = f"{batch.source}: tensor {tensor.index} ({tensor.request.name!r})"
    try:
        yield
    except UsageError as error:
        raise SpecError(f"{where}: {_in_spec_terms(str(error))}") from None
    except WeightgenError as error:
        if not str(error).startswith(where):
            error.args = (f"{where}: {error}",)
        raise


def _bare_entry(tensor: Planned) -> Any:
    request = tensor.request
    return formats.Entry(request.name, request.shape, request.dtype, {}, tensor.compression)


def npy_path(folder: str, name: str) -> str:
    """Where ``--output-dir`` puts a tensor: ``dense_1/kernel`` -> ``FOLDER/dense_1/kernel.npy``."""
    parts = [part for part in name.split("/") if part]
    if not parts or any(part in (".", "..") or "\0" in part for part in parts):
        raise UsageError(f"Invalid tensor name {name!r} for --output-dir: use names separated by '/', "
                         "such as dense_1/kernel (no '.' or '..').")
    return os.path.join(folder, *parts[:-1], parts[-1] + ".npy")


def _check_distinct_paths(batch: BatchPlan) -> None:
    seen: dict[str, Planned] = {}
    for tensor in batch.tensors:
        assert tensor.path is not None
        key = os.path.normcase(tensor.path)
        if key in seen:
            raise SpecError(f"{batch.source}: tensors {seen[key].index} ({seen[key].request.name!r}) and "
                            f"{tensor.index} ({tensor.request.name!r}) would both be {tensor.path}; rename one.")
        seen[key] = tensor


# -- running ------------------------------------------------------------------------


Progress = Callable[[int], None]


def run_batch(batch: BatchPlan, *, threads: int | None = None, progress: Progress | None = None,
              keep_arrays: bool | None = None) -> BatchResult:
    """Generate every tensor of a checked batch and write them.

    Into a container, all tensors go into one rewrite of the file, committed at once (an
    error or Ctrl-C leaves the file as it was). Under ``output_dir``, each ``.npy`` is
    written atomically in turn. ``progress(n)`` is called with the bytes of each finished
    block; if it has a ``describe(text)`` method, that is called with each tensor's name.
    Arrays are kept in the results (``keep_arrays``) by default only when nothing is
    written, so writing a large batch holds one tensor in memory at a time.
    """
    threads = check_threads(threads)
    keep = keep_arrays if keep_arrays is not None else (batch.output is None and batch.output_dir is None)
    started = time.perf_counter()
    results: dict[int, Result] = {}
    describe = getattr(progress, "describe", None)
    count = len(batch.tensors)

    def generate(tensor: Planned, position: int, write: Callable[[Any], None] | None) -> Result:
        """Sample one tensor, streaming its blocks into ``write`` as they are made."""
        if describe is not None:
            describe(f"{tensor.request.name} ({position}/{count})")
        with _about(batch, tensor):
            return sample(tensor.request, tensor.spec, tensor.plan, threads=threads, progress=progress,
                          sink=write, keep=keep)

    def done(tensor: Planned, result: Result, output: str | None) -> None:
        result.output, result.format = output, batch.format if output is not None else None
        result.seconds = time.perf_counter() - tensor_started
        if not keep:
            result.array = None
        results[tensor.index] = result

    if batch.output is not None:
        assert batch.format is not None
        tensors = {t.request.name: t for t in batch.tensors}
        entries = [_entry(batch, t) for t in batch.tensors]
        with formats.open_session(batch.format, batch.output, entries, batch.force) as writer:
            for position, entry in enumerate(writer.order, 1):
                tensor_started = time.perf_counter()
                tensor = tensors[entry.name]
                writer.start(entry)
                result = generate(tensor, position, writer.write)
                done(tensor, result, batch.output)
    else:
        for position, tensor in enumerate(batch.tensors, 1):
            tensor_started = time.perf_counter()
            if tensor.path is None:
                result = generate(tensor, position, None)
            else:
                with _npy_writer(batch, tensor) as writer:
                    result = generate(tensor, position, writer.write)
            done(tensor, result, tensor.path)
    ordered = [results[t.index] for t in batch.tensors]
    return BatchResult(batch.seed, ordered, batch.output, batch.output_dir, batch.format,
                       time.perf_counter() - started)


def _entry(batch: BatchPlan, tensor: Planned) -> Any:
    return entry_for(tensor.request, tensor.spec, tensor.plan, tensor.compression, master_seed=str(batch.seed))


def _npy_writer(batch: BatchPlan, tensor: Planned) -> Any:
    """The writer of a tensor's own ``.npy`` file under ``output_dir`` (its folder made)."""
    assert tensor.path is not None
    try:
        os.makedirs(os.path.dirname(tensor.path) or ".", exist_ok=True)
    except OSError as error:
        raise write_error(tensor.path, error) from None
    return formats.open_writer("npy", tensor.path, _entry(batch, tensor), batch.force)


def generate_batch(
    spec: str | os.PathLike[str] | Mapping[str, Any],
    *,
    seed: Any = None,
    output: str | os.PathLike[str] | None = None,
    output_dir: str | os.PathLike[str] | None = None,
    format: str | None = None,
    force: bool = False,
    threads: int | None = None,
    progress: Progress | None = None,
    keep_arrays: bool | None = None,
) -> BatchResult:
    """Generate every tensor of a batch spec (a TOML/JSON path, ``-``, or a mapping).

    >>> spec = {"seed": 1, "tensor": [{"name": "w", "init": "glorot_uniform", "shape": [4, 3]},
    ...                               {"name": "b", "init": "zeros", "shape": [3]}]}
    >>> done = generate_batch(spec)
    >>> sorted(done.arrays()), done.arrays()["w"].shape
    (['b', 'w'], (4, 3))

    Checks everything first (:func:`plan_batch`), then generates and writes
    (:func:`run_batch`): into one container with ``output``, one ``.npy`` per tensor
    under ``output_dir``, or nowhere (the arrays are then in the result).
    """
    batch = plan_batch(spec, seed=seed, output=output, output_dir=output_dir, format=format, force=force)
    return run_batch(batch, threads=threads, progress=progress, keep_arrays=keep_arrays)
