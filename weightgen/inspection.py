"""``inspect()``: the true statistics of every entry of weight files, and a verdict.

Each entry is read once, chunk by chunk (:mod:`weightgen.formats` readers), and every
number accumulates in float64 as it streams past: moments, the share of zeros and of
non-finite values, an exact histogram (:class:`~weightgen.stats.Histogram`), the values
beyond the expected bounds, a deterministic subsample of at most :data:`SAMPLE_SIZE`
values, and, for deterministic initializers, a value-by-value comparison with the
regenerated tensor. Memory stays bounded whatever the file's size.

The initializer to compare with comes from ``expect`` (with its parameters, checked by
the registry exactly as ``generate`` checks them) or else from the provenance weightgen
stored in the file; it is resolved at the entry's own shape and dtype. Random
initializers are judged by a Kolmogorov–Smirnov test on the subsample plus their
bounds, deterministic ones (a :class:`~weightgen.plan.Fill` source) by equality.
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from weightgen import dtypes
from weightgen.errors import InputError, ParameterError, ShapeError, UsageError, WeightgenError
from weightgen.generation import build_request, check_threads, resolve
from weightgen.plan import Fill, Plan
from weightgen.registry import InitializerSpec, registry

#: A KS p-value below this fails the check. Small, because a model has hundreds of
#: entries and a correct one must not fail by chance; a std 10% off gives p-values below
#: it on every tensor of 10,000 values or more.
ALPHA = 1e-4
#: Values the KS test runs on at most: a stratified, deterministic subsample beyond it.
SAMPLE_SIZE = 1 << 20
#: Most rows of the histogram shown (and given in JSON); between half this and this.
HISTOGRAM_ROWS = 20
#: Deterministic initializers match when every value is within this many units of the
#: dtype's resolution (eps) times the largest expected magnitude (integers: exactly).
EXACT_EPS = 2

Progress = Callable[[int], None]
#: Shapes an expectation is tried at before any file is read (one of them suits any initializer).
SAMPLE_SHAPES = ((4, 4), (4, 4, 3), (3, 3, 4, 4), (3, 3, 3, 4, 4), (4,))


@dataclass(frozen=True)
class Expectation:
    """An initializer to compare entries with: its spec and checked params (fans come from each entry)."""

    spec: InitializerSpec
    params: Mapping[str, Any]
    layout: str | None = None
    fan_in: float | None = None
    fan_out: float | None = None
    #: ``expect`` (asked for) or ``provenance`` (stored in the file).
    source: str = "expect"

    @classmethod
    def named(cls, initializer: str, params: Mapping[str, Any] | None = None, *, layout: str | None = None,
              fan_in: float | None = None, fan_out: float | None = None, source: str = "expect") -> "Expectation":
        """Check everything that does not depend on a shape, with ``generate``'s messages."""
        spec = registry().get(initializer)
        if spec.family == "custom":
            raise ParameterError(f"--expect {initializer}: a custom initializer has no expected distribution "
                                 "to compare with; name a built-in or plugin initializer.")
        request, spec = build_request(spec.name, (), dtype=spec.dtypes[0], seed=0, layout=layout,
                                      fan_in=fan_in, fan_out=fan_out, params=params or {})
        expectation = cls(spec, request.params, layout, fan_in, fan_out, source)
        if source == "expect":
            expectation._check_resolves()
        return expectation

    def _check_resolves(self) -> None:
        """Resolve at a few small shapes, so that a parameter refused only when resolving
        (``--fan-in -3``, ``minval > maxval``) is a usage error now, not a failed check on
        every entry. Only a refusal that reads the same at every shape is the parameter's
        fault; one that names the shape (an axis out of range) is each entry's business."""
        refusals: dict[str, UsageError] = {}
        for shape in SAMPLE_SHAPES:
            try:
                self.plan(shape, self.spec.dtypes[0])
                return
            except ShapeError:
                continue
            except UsageError as error:
                if repr(shape) not in str(error):
                    refusals.setdefault(str(error), error)
        if len(refusals) == 1:
            raise next(iter(refusals.values()))

    @classmethod
    def from_provenance(cls, provenance: Mapping[str, Any]) -> tuple["Expectation | None", str | None]:
        """The initializer a file says made an entry, or None and why it cannot be checked.

        Never runs code a file names: custom initializers (a Python target) are not resolved.
        """
        name = provenance.get("initializer")
        if not isinstance(name, str):
            return None, None
        spec = registry().find(name)
        if spec is None:
            return None, f"its provenance names {name!r}, an initializer this weightgen does not know"
        if spec.family == "custom" or provenance.get("family") == "custom":
            return None, f"its provenance names the custom initializer {name!r}: nothing to compare with"
        params = provenance.get("params")
        try:
            return cls.named(name, params if isinstance(params, Mapping) else {},
                             layout=_text_or_none(provenance.get("layout")),
                             fan_in=_number_or_none(provenance.get("fan_in")),
                             fan_out=_number_or_none(provenance.get("fan_out")), source="provenance"), None
        except WeightgenError as error:
            return None, f"its provenance cannot be checked: {error}"

    def plan(self, shape: tuple[int, ...], dtype_name: str) -> Plan:
        """The initializer resolved at an entry's shape (and dtype, where the initializer allows it)."""
        allowed = self.spec.dtypes
        dtype_name = dtype_name if dtype_name in allowed else ("float64" if "float64" in allowed else allowed[0])
        request, spec = build_request(self.spec.name, shape, dtype=dtype_name, seed=0, layout=self.layout,
                                      fan_in=self.fan_in, fan_out=self.fan_out, params=self.params)
        return resolve(request, spec)


def _text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _number_or_none(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


@dataclass
class Check:
    """The verdict on one entry against one initializer."""

    initializer: str
    params: dict[str, Any]
    source: str
    #: ``ks`` (random: KS test and bounds), ``exact`` (deterministic: every value),
    #: ``bounds`` (no CDF to test against), or None when the initializer cannot take the entry.
    method: str | None
    passed: bool
    #: Why it failed, or what limited it.
    reason: str | None = None
    distribution: str | None = None
    expected: dict[str, float | None] | None = None
    ks_statistic: float | None = None
    p_value: float | None = None
    alpha: float | None = None
    #: Values the KS test ran on.
    sample: int | None = None
    #: Values beyond the expected bounds (rounded outward to the entry's dtype).
    outside_bounds: int | None = None
    #: Values that differ from a deterministic initializer's.
    mismatches: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"initializer": self.initializer, "params": _jsonable(self.params), "source": self.source,
                "method": self.method, "distribution": self.distribution, "expected": self.expected,
                "ks_statistic": self.ks_statistic, "p_value": self.p_value, "alpha": self.alpha,
                "sample": self.sample, "outside_bounds": self.outside_bounds, "mismatches": self.mismatches,
                "pass": self.passed, "reason": self.reason}


@dataclass
class EntryReport:
    """What one entry of one file holds, and how it compares with its initializer."""

    file: str
    format: str
    name: str | None
    shape: tuple[int, ...]
    dtype: str
    count: int
    moments: Any = None
    #: ``{"edges": [...], "counts": [...], "expected": [...] or None}``.
    histogram: dict[str, Any] | None = None
    provenance: dict[str, Any] | None = None
    check: Check | None = None
    #: Why the entry was not read (it holds no numbers), or None.
    skipped: str | None = None
    #: Why there is no check although there is provenance, or None.
    note: str | None = None

    @property
    def failed(self) -> bool:
        return self.check is not None and not self.check.passed

    def as_dict(self) -> dict[str, Any]:
        """The ``inspect --json`` record (SPEC §2 keys, and a few more)."""
        moments = self.moments
        values = moments.total if moments is not None else 0
        record: dict[str, Any] = {"file": self.file, "format": self.format, "name": self.name,
                                  "shape": list(self.shape), "dtype": self.dtype, "count": self.count}
        record.update(moments.as_dict() if moments is not None else
                      {"mean": None, "std": None, "min": None, "max": None})
        record["zeros"] = moments.zeros / values if values else None
        record["nonfinite"] = moments.nonfinite / values if values else None
        record["histogram"] = self.histogram
        record["provenance"] = self.provenance
        record["check"] = self.check.as_dict() if self.check is not None else None
        record["skipped"] = self.skipped
        record["note"] = self.note
        return record


def inspect(paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]], *, name: str | Sequence[str] | None = None, expect: str | None = None,
            layout: str | None = None, fan_in: float | None = None, fan_out: float | None = None,
            alpha: float = ALPHA, threads: int | None = None, progress: Progress | None = None,
            **params: Any) -> list[EntryReport]:
    """Inspect every entry of one or more files (``"-"`` is stdin).

    >>> reports = inspect("w.npy", expect="glorot_uniform")     # doctest: +SKIP
    >>> reports[0].check.passed, reports[0].moments.std          # doctest: +SKIP

    ``name`` picks entries of containers (an HDF5 path, an npz or safetensors key; several
    as a list); a ``.npy`` holds one unnamed array and is always shown. ``expect`` names
    the initializer to compare with (``layout``, ``fan_in``, ``fan_out`` and ``params`` as
    ``generate`` takes them); without it, entries with weightgen provenance are compared
    with their own initializer. ``alpha`` is the KS level a p-value must reach.
    ``threads`` measure chunks in parallel (default: the CPUs this process may use;
    never changes a number). ``progress(n)`` is called with the bytes of each chunk read.

    Raises :class:`~weightgen.errors.UsageError` for a bad ``expect`` (before reading
    anything) and :class:`~weightgen.errors.InputError` for a file that is missing,
    corrupt, hostile or lacks a named entry. A failed check is not an exception: see
    :attr:`EntryReport.failed`.
    """
    sources = [os.fspath(p) for p in ([paths] if isinstance(paths, (str, os.PathLike)) else paths)]
    expectation = expectation_for(expect, params, layout=layout, fan_in=fan_in, fan_out=fan_out)
    reports: list[EntryReport] = []
    for path in sources:
        reports.extend(iter_inspect(path, name=name, expectation=expectation, alpha=alpha, threads=threads,
                                    progress=progress))
    return reports


def expectation_for(expect: str | None, params: Mapping[str, Any] | None = None, *, layout: str | None = None,
                    fan_in: float | None = None, fan_out: float | None = None) -> Expectation | None:
    """The checked ``expect`` request, or None (then provenance decides, entry by entry)."""
    if expect is None:
        given = [option for option, value in (("--layout", layout), ("--fan-in", fan_in), ("--fan-out", fan_out))
                 if value is not None] + [f"--{key.replace('_', '-')}" for key in (params or {})]
        if given:
            verb = "describes" if len(given) == 1 else "describe"
            raise ParameterError(f"{', '.join(given)} {verb} the initializer of --expect; give --expect NAME.")
        return None
    return Expectation.named(expect, params, layout=layout, fan_in=fan_in, fan_out=fan_out)


def iter_inspect(path: str | os.PathLike[str], *, name: str | Sequence[str] | None = None, expectation: Expectation | None = None,
                 alpha: float = ALPHA, threads: int | None = None, progress: Progress | None = None
                 ) -> Iterator[EntryReport]:
    """The reports of one file's entries, each as soon as it is read (see :func:`inspect`)."""
    from weightgen import formats
    from weightgen.sampler import default_threads

    threads = check_threads(threads) or default_threads()
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not 0 < alpha < 1:
        raise ParameterError(f"Invalid value for --alpha: expected a number between 0 and 1 (got {alpha!r}).")
    alpha = float(alpha)
    wanted = [name] if isinstance(name, str) else list(name or [])
    with formats.open_reader(os.fspath(path)) as reader:
        module = formats.format_module(reader.format_label)
        keys = {module.entry_name(n): n for n in wanted}
        found: set[str] = set()
        names: list[str] = []
        for entry in reader.entries():
            if entry.name is not None:
                names.append(entry.name)
                if keys and entry.name not in keys:
                    continue
                found.add(entry.name)
            yield _inspect_entry(entry, path, reader.format_label, expectation, alpha, progress, threads)
        missing = [given for key, given in keys.items() if key not in found]
        if missing and reader.format_label != "npy":
            shown = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "") if names else "none"
            raise InputError(f"{reader.source.label} has no entry named {missing[0]!r}; its entries: {shown}.")


def _inspect_entry(entry: Any, file: str, format_name: str, expectation: Expectation | None, alpha: float,
                   progress: Progress | None, threads: int) -> EntryReport:
    import numpy as np

    dtype_name = _dtype_name(entry.dtype)
    report = EntryReport(file, format_name, entry.name, tuple(entry.shape), dtype_name, entry.count,
                         provenance=entry.provenance, skipped=entry.skipped)
    if entry.skipped is not None:
        return report
    if expectation is None and entry.provenance is not None:
        expectation, report.note = Expectation.from_provenance(entry.provenance)
    target = _Target.of(expectation, entry, dtype_name) if expectation is not None else None
    tally = _Tally(entry, target)
    for part in _in_order(tally.measure, _offsets(entry.chunks(), progress), threads):
        tally.absorb(part)
    with np.errstate(all="ignore"):
        report.moments = tally.moments
        report.histogram = tally.histogram_rows(target)
        if target is not None:
            report.check = target.verdict(tally, alpha)
    return report


def _offsets(chunks: Iterator[Any], progress: Progress | None) -> Iterator[tuple[Any, int, int]]:
    """Each chunk with the flat element and value (complex: part) it starts at."""
    elements = values = 0
    for chunk in chunks:
        yield chunk, elements, values
        elements += chunk.size
        values += chunk.size * (2 if chunk.dtype.kind == "c" else 1)
        if progress is not None:
            progress(chunk.nbytes)


def _in_order(function: Callable[..., Any], items: Iterator[tuple[Any, ...]], threads: int) -> Iterator[Any]:
    """``function(*item)`` for each item on ``threads`` workers, results in order.

    At most two items per worker are in flight, so memory stays bounded however long
    ``items`` is (it is read on this thread).
    """
    if threads <= 1:
        for item in items:
            yield function(*item)
        return
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="weightgen-inspect")
    try:
        pending: deque[Any] = deque()
        for item in items:
            pending.append(pool.submit(function, *item))
            if len(pending) >= 2 * threads:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _dtype_name(dtype: Any) -> str:
    """``float32``, ``bfloat16``, ...; the numpy spelling (``<U2``) for what holds no numbers."""
    if dtype is None:
        return "unknown"
    return dtype.name if dtype.kind in "biufc" or dtype.type.__module__.startswith("ml_dtypes") else str(dtype)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


# -- the one pass over an entry's values -----------------------------------------------


@dataclass
class _Target:
    """What an entry is compared with: the resolved plan and the bounds its dtype allows."""

    expectation: Expectation
    plan: Plan | None
    #: Why the initializer cannot be resolved at this entry (then the check fails).
    problem: str | None = None
    low: float | None = None
    high: float | None = None
    #: Expected values in storage order, for a Fortran-order entry compared exactly.
    fortran_expected: Any = None

    @classmethod
    def of(cls, expectation: Expectation, entry: Any, dtype_name: str) -> "_Target":
        from weightgen.stats import real_dtype

        if entry.count == 0:
            return cls(expectation, None)
        try:
            plan = expectation.plan(tuple(entry.shape), dtype_name)
        except WeightgenError as error:
            return cls(expectation, None, str(error))
        except Exception as error:  # a plugin's own failure
            return cls(expectation, None, f"{type(error).__name__}: {error}")
        target = cls(expectation, plan)
        distribution = plan.expected
        values = real_dtype(entry.dtype)
        if distribution.low is not None:
            target.low = _outward(distribution.low, values, upward=False)
        if distribution.high is not None:
            target.high = _outward(distribution.high, values, upward=True)
        if target.exact and entry.fortran_order:
            try:
                target.fortran_expected = _fortran_expected(plan, entry)
            except WeightgenError as error:
                return cls(expectation, None, f"cannot regenerate this Fortran-order tensor to compare: {error}")
        return target

    @property
    def exact(self) -> bool:
        return self.plan is not None and isinstance(self.plan.source, Fill)

    @property
    def testable(self) -> bool:
        """Whether the expected distribution has a CDF to run a KS test against."""
        from weightgen.distributions import Distribution

        return self.plan is not None and type(self.plan.expected).cdf is not Distribution.cdf

    def verdict(self, tally: "_Tally", alpha: float) -> Check:
        expectation = self.expectation
        check = Check(expectation.spec.name, dict(expectation.params), expectation.source, None, False)
        if self.plan is None:
            check.passed = self.problem is None
            check.reason = self.problem or "no values to compare"
            return check
        distribution = self.plan.expected
        check.distribution = distribution.describe()
        check.expected = distribution.expected()
        problems: list[str] = []
        moments = tally.moments
        if self.exact:
            check.method = "exact"
            check.mismatches = tally.mismatches
            if tally.mismatches:
                problems.append(f"{tally.mismatches} of {tally.entry.count} values differ from what "
                                f"{expectation.spec.name} gives")
        else:
            check.method = "ks" if self.testable else "bounds"
            check.outside_bounds = tally.outside
            if moments.nonfinite:
                problems.append(f"{moments.nonfinite} values are not finite")
            if tally.outside:
                problems.append(f"{tally.outside} values lie beyond {_interval(self.low, self.high)}")
            if self.testable:
                from weightgen.stats import ks_test

                sample = tally.sample()
                check.sample = int(sample.size)
                check.alpha = alpha
                if sample.size:
                    check.ks_statistic, check.p_value = ks_test(sample, distribution, tally.value_dtype)
                    if not check.p_value >= alpha:
                        problems.append(f"KS p={check.p_value:.3g} < {alpha:g}")
            else:
                check.reason = f"{distribution.describe()}: no CDF to test; bounds only"
        check.passed = not problems
        if problems:
            check.reason = "; ".join(problems)
        return check


def _interval(low: float | None, high: float | None) -> str:
    return f"[{-math.inf if low is None else low:.6g}, {math.inf if high is None else high:.6g}]"


def _outward(value: float, dtype: Any, upward: bool) -> float:
    """``value`` rounded away from the inside of an interval to ``dtype``'s grid (as float64)."""
    if dtype.kind in "iub":
        return float(math.ceil(value) if upward else math.floor(value))
    if dtype.itemsize == 8:
        return float(value)
    try:
        return float(dtypes.inward(value, dtype, upward=upward))
    except (KeyError, OverflowError, ValueError):  # 8-bit floats: no bit stepping here
        return float(value)


def _tolerance(distribution: Any, dtype: Any) -> float:
    """How far a value of a deterministic tensor may be from the expected one (rounding only)."""
    import numpy as np

    if dtype.kind in "iub":
        return 0.0
    scale = max(abs(distribution.low or 0.0), abs(distribution.high or 0.0))
    try:
        eps = float(np.finfo(dtype).eps)
    except (TypeError, ValueError):
        import ml_dtypes

        eps = float(ml_dtypes.finfo(dtype).eps)
    return EXACT_EPS * eps * scale


def _fortran_expected(plan: Plan, entry: Any) -> Any:
    """The whole expected tensor in Fortran order (in memory: exact checks of F-order files only)."""
    import numpy as np

    from weightgen import sampler

    sampler.check_fits(entry.shape, "float64", extra_factor=entry.dtype.itemsize)
    expected = np.empty(entry.count, dtype=entry.dtype)
    assert isinstance(plan.source, Fill)
    plan.source.fill(0, expected)
    return expected.reshape(entry.shape).ravel(order="F")


@dataclass
class _Part:
    """What one chunk adds to a tally (measured on a worker thread)."""

    moments: Any
    histogram: Any
    outside: int = 0
    mismatches: int = 0
    picked: Any = None


class _Tally:
    """Everything accumulated over one entry's values, chunk by chunk, in float64.

    :meth:`measure` looks at one chunk and changes nothing (so chunks can be measured
    in parallel); :meth:`absorb` merges the parts in file order, so the numbers never
    depend on the thread count.
    """

    def __init__(self, entry: Any, target: _Target | None) -> None:
        from weightgen.stats import Histogram, Moments, real_dtype, stratified_positions

        self.entry = entry
        self.target = target
        self.value_dtype = real_dtype(entry.dtype)
        self.moments = Moments()
        self.histogram = Histogram()
        self.outside = 0
        self.mismatches = 0
        self.exact = target is not None and target.exact
        self.low = target.low if target is not None else None
        self.high = target.high if target is not None else None
        per_element = 2 if entry.dtype.kind == "c" else 1
        testing = target is not None and not self.exact and target.testable
        self._positions = stratified_positions(entry.count * per_element, SAMPLE_SIZE) if testing else None
        self._picked: list[Any] = []
        self._tolerance = _tolerance(target.plan.expected, self.value_dtype) if self.exact else 0.0

    def measure(self, chunk: Any, elements: int, values_before: int) -> _Part:
        """The part of a chunk that starts at flat element ``elements`` (value ``values_before``)."""
        import numpy as np

        with np.errstate(all="ignore"):  # whatever the values, they are counted, never warned about
            return self._measure(chunk, elements, values_before)

    def _measure(self, chunk: Any, elements: int, values_before: int) -> _Part:
        import numpy as np

        from weightgen.stats import Histogram, Moments, float64_pieces

        values = chunk.view(self.value_dtype) if chunk.dtype.kind == "c" else chunk
        part = _Part(Moments(), Histogram())
        if self.exact:
            part.mismatches = self._compare(chunk, elements)
        if self._positions is not None:
            part.picked = self._pick(values, values_before)
        for x in float64_pieces(values):
            piece, finite = Moments.of_piece(x)
            part.moments = part.moments.merge(piece)
            if piece.count:
                part.histogram.add(finite, piece.min, piece.max)
                if self.low is not None and piece.min < self.low:
                    part.outside += int(np.count_nonzero(finite < self.low))
                if self.high is not None and piece.max > self.high:
                    part.outside += int(np.count_nonzero(finite > self.high))
        return part

    def absorb(self, part: _Part) -> None:
        self.moments = self.moments.merge(part.moments)
        self.histogram.merge(part.histogram)
        self.outside += part.outside
        self.mismatches += part.mismatches
        if part.picked is not None and part.picked.size:
            self._picked.append(part.picked)

    def _pick(self, values: Any, before: int) -> Any:
        import numpy as np

        positions = self._positions
        start, stop = np.searchsorted(positions, [before, before + values.size])
        return values[positions[start:stop] - before].astype(np.float64)

    def _compare(self, chunk: Any, elements: int) -> int:
        import numpy as np

        target = self.target
        assert target is not None and target.plan is not None
        if target.fortran_expected is not None:
            expected = target.fortran_expected[elements:elements + chunk.size]
        else:
            expected = np.empty(chunk.size, dtype=chunk.dtype)
            target.plan.source.fill(elements, expected)  # type: ignore[union-attr]
        if self._tolerance == 0.0:
            same = chunk == expected
        else:
            wide = np.complex128 if chunk.dtype.kind == "c" else np.float64
            same = np.abs(chunk.astype(wide) - expected.astype(wide)) <= self._tolerance
        return int(same.size - np.count_nonzero(same))

    def sample(self) -> Any:
        """The subsample's finite values (float64)."""
        import numpy as np

        if not self._picked:
            return np.empty(0)
        sample = np.concatenate(self._picked)
        return sample[np.isfinite(sample)]

    def histogram_rows(self, target: _Target | None) -> dict[str, Any] | None:
        """At most :data:`HISTOGRAM_ROWS` bins over the data, with the expected count of each.

        The range reaches beyond the data towards where the expected distribution puts at
        least one value (its bounds, or four standard deviations), so a tensor narrower
        than it should be shows the empty room.
        """
        import numpy as np

        moments = self.moments
        if not moments.count:
            return None
        low, high = moments.min, moments.max
        distribution = target.plan.expected if target is not None and target.plan is not None else None
        testable = distribution is not None and target is not None and target.testable
        if testable:
            mean, std = distribution.mean, distribution.std
            reach_low = distribution.low if distribution.low is not None else (
                mean - 4 * std if mean is not None and std is not None else None)
            reach_high = distribution.high if distribution.high is not None else (
                mean + 4 * std if mean is not None and std is not None else None)
            below, above = (float(v) for v in distribution.cdf(np.array([low, high])))
            if reach_low is not None and reach_low < low and below * moments.count >= 1:
                low = reach_low
            if reach_high is not None and reach_high > high and (1 - above) * moments.count >= 1:
                high = reach_high
        edges, counts = self.histogram.bins(low, high, HISTOGRAM_ROWS)
        expected = None
        if testable:
            cdf = np.asarray(distribution.cdf(np.asarray(edges, dtype=np.float64)), dtype=np.float64)
            expected = [float(v) for v in np.diff(cdf) * moments.count]
        return {"edges": edges, "counts": counts, "expected": expected}
