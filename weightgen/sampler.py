"""The one core sampler every initializer goes through.

It cuts the flattened tensor into the blocks of :mod:`weightgen.seeding` and has worker
threads fill them (numpy releases the GIL inside fills and ufuncs); each block is cast
once to the target dtype, kept exactly inside the distribution's bounds in that dtype,
and summarised (:func:`weightgen.stats.block_moments`) on the worker that made it. The
calling thread takes finished blocks in order: it merges their statistics and hands the
block to a *sink* (a format writer), so writing overlaps generation (and while the next
block is not ready, it makes a later one itself rather than wait), and a bounded
window of blocks in flight bounds the memory. A tensor only kept in memory may skip the
statistics and have :func:`summarise` make the same ones later. Values and statistics
never depend on the thread count or on whether the tensor is kept in memory or streamed.

Elementwise sources (:class:`~weightgen.plan.Draw`, :class:`~weightgen.plan.Fill`)
stream: without ``keep`` the tensor never exists in memory as a whole, so it may be
larger than memory. :class:`~weightgen.plan.Transform` and :class:`~weightgen.plan.Call`
sources need the whole tensor, and are refused up front when it cannot fit.
"""

from __future__ import annotations

import math
import os
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from weightgen import dtypes, seeding
from weightgen.distributions import Distribution, Normal
from weightgen.errors import TooLargeError
from weightgen.kernels import kernel_for
from weightgen.plan import Call, Draw, Fill, Plan, Source, Transform
from weightgen.stats import Moments, block_moments

if TYPE_CHECKING:
    from concurrent.futures import Future

#: Blocks in flight per worker thread when streaming (generated, or waiting to be written).
WINDOW_PER_THREAD = 2


def default_threads() -> int:
    """The CPUs this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation, when the OS says."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # pragma: no cover
        return None


def check_fits(shape: Sequence[int], dtype: str, extra_factor: float = 0.0,
               hint: str = "choose a smaller shape or dtype.") -> None:
    """Refuse, with the bytes needed, a tensor that cannot fit in memory.

    ``extra_factor`` is working memory in bytes per element beyond the tensor itself.
    """
    count = math.prod(shape)
    needed = count * dtypes.itemsize(dtype) + int(count * extra_factor)
    available = available_memory()
    if available is not None and needed > available:
        raise TooLargeError(
            f"shape {tuple(shape)} as {dtype} needs {format_bytes(needed)} of memory, but only "
            f"{format_bytes(available)} is available; {hint}"
        )


def check_memory(plan: Plan, shape: Sequence[int], dtype: str, keep: bool, hint: str | None = None) -> None:
    """Refuse up front what :func:`run` could not hold in memory (with ``keep``: the whole
    tensor; without, only what does not stream); ``hint`` replaces the message's advice."""
    source = plan.source
    if isinstance(source, Transform):
        check_fits(shape, dtype, source.workspace_factor * dtypes.itemsize(dtype))
    elif not streams(source) or keep:
        if hint is None:
            hint = ("choose a smaller shape or dtype, or write it to a file with -o (elementwise "
                    "initializers stream into files of any size)." if streams(source) else
                    "choose a smaller shape or dtype.")
        check_fits(shape, dtype, hint=hint)


def format_bytes(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(count) < 1024 or unit == "PiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    raise AssertionError("unreachable")


def streams(source: Source) -> bool:
    """Whether a source is generated block by block (so it can be larger than memory)."""
    return isinstance(source, (Draw, Fill))


@dataclass(frozen=True)
class Sampled:
    """A generated tensor (None when it was streamed and not kept) and its statistics
    (None when they were not asked for)."""

    array: np.ndarray | None
    moments: Moments | None


#: ``progress(n)``: ``n`` more bytes of the tensor are done.
Progress = Callable[[int], None]
#: ``sink(block)``: the next C-order block of the tensor, in the target dtype.
Sink = Callable[[np.ndarray], None]
#: ``fill(index, out)``: generate block ``index`` into ``out``.
BlockFill = Callable[[int, np.ndarray], None]
#: ``summarise(block)``: the statistics of one finished block.
BlockStatistics = Callable[[np.ndarray], Moments]


def run(plan: Plan, shape: Sequence[int], dtype: str, seed: int, threads: int | None = None,
        progress: Progress | None = None, *, sink: Sink | None = None, keep: bool = True,
        statistics: bool = True) -> Sampled:
    """Generate the tensor ``plan`` describes.

    ``sink``, if given, receives the tensor's successive C-order blocks on the calling
    thread, in order, while later blocks are being generated; that thread counts as one of
    ``threads``, so ``threads - 1`` workers (at least one) generate; with two threads or
    more it also makes blocks whenever the next one to write is not ready. With
    ``keep=False`` an elementwise tensor is never held whole (memory: a few blocks per
    thread) and ``Sampled.array`` is None. ``progress(n)`` is called on the calling thread
    with the bytes of each finished block. With ``statistics=False`` (only with ``keep``)
    nothing is summarised and ``Sampled.moments`` is None: :func:`summarise` gives the
    same statistics later, from the array.
    """
    if not (statistics or keep):
        raise ValueError("statistics=False needs keep=True: the array is what summarise() reads")
    shape = tuple(shape)
    threads = threads or default_threads()
    source = plan.source
    check_memory(plan, shape, dtype, keep)
    if not streams(source):
        array = _whole(source, shape, dtype, seed, threads, progress)
        if sink is not None:
            hand_over(sink, array)
        return Sampled(array if keep else None, Moments.of(array) if statistics else None)
    size = math.prod(shape)
    target = dtypes.numpy_dtype(dtype)
    out = np.empty(size, dtype=target) if keep else None
    workers = threads if sink is None else max(1, threads - 1)  # the calling thread writes
    moments = _drive(_block_fill(plan, dtype, seed), size, target, workers, out, sink, progress,
                     _block_statistics(plan) if statistics else None, helps=sink is not None and threads > 1)
    return Sampled(None if out is None else out.reshape(shape), moments)


def hand_over(sink: Sink, array: np.ndarray) -> None:
    """Give a finished tensor to ``sink`` as :func:`run` streams one: C-order blocks."""
    flat = array.reshape(-1)
    for start in range(0, flat.size, seeding.BLOCK_SIZE):
        sink(flat[start : start + seeding.BLOCK_SIZE])


def summarise(plan: Plan, array: np.ndarray, threads: int | None = None) -> Moments:
    """The statistics :func:`run` would have given for ``array``, the tensor it made for
    ``plan``: the same blocks, summarised the same way (on ``threads`` workers), so the
    same numbers."""
    if not streams(plan.source):
        return Moments.of(array)
    flat = array.reshape(-1)
    moments = _drive(_filled, flat.size, flat.dtype, threads or default_threads(), flat, None, None,
                     _block_statistics(plan))
    assert moments is not None
    return moments


def _filled(index: int, out: np.ndarray) -> None:
    """The fill of a block that already holds its values."""


def flat_slice(plan: Plan, shape: Sequence[int], dtype: str, seed: int, start: int, stop: int) -> np.ndarray:
    """Elements ``start:stop`` of the flattened tensor, generating only the blocks that hold
    them (SPEC §4: any slice can be regenerated alone). Elementwise sources only."""
    source = plan.source
    if not streams(source):
        raise TypeError(f"{type(source).__name__} sources are made whole; slice the whole tensor")
    size = math.prod(shape)
    start, stop = max(0, start), min(size, stop)
    fill = _block_fill(plan, dtype, seed)
    first = start // seeding.BLOCK_SIZE
    out = np.empty(max(0, stop - start), dtype=dtypes.numpy_dtype(dtype))
    for index in range(first, seeding.block_count(size)):
        lo = index * seeding.BLOCK_SIZE
        if lo >= stop:
            break
        block = np.empty(min(size, lo + seeding.BLOCK_SIZE) - lo, dtype=out.dtype)
        fill(index, block)
        begin, end = max(start, lo), min(stop, lo + block.size)
        out[begin - start : end - start] = block[begin - lo : end - lo]
    return out


def _block_fill(plan: Plan, dtype: str, seed: int) -> BlockFill:
    source = plan.source
    if isinstance(source, Draw):
        return draw_fill(source.distribution, dtype, seed)
    assert isinstance(source, Fill)
    return _index_fill(source.fill)


def _block_statistics(plan: Plan) -> BlockStatistics:
    """How a block of an elementwise source is summarised: about the distribution's mean
    (a cheap guess; see ``block_moments``) for draws, about zero for fills."""
    source = plan.source
    shift = _mean_guess(source.distribution) if isinstance(source, Draw) else None
    return lambda block: block_moments(block, shift)


def _drive(fill: BlockFill, size: int, target: np.dtype, threads: int, out: np.ndarray | None,
           sink: Sink | None, progress: Progress | None,
           statistics: BlockStatistics | None = None, helps: bool = False) -> Moments | None:
    """Fill every block (on ``threads`` workers, which also summarise it with
    ``statistics``) and consume them in order on this thread; the merged statistics, or
    None without ``statistics``.

    With ``helps``, this thread is one more worker whenever the next block to consume is
    not ready: it makes a later block that no worker has started. Writing costs less than
    generating, so a writer that only waited would idle while the workers lag (helping
    made a streamed 256 MiB .npy on two threads ~10% faster).

    Blocks go into ``out`` when given, else into a small pool of reused buffers; with a
    sink or without ``out``, at most ``WINDOW_PER_THREAD`` blocks per thread that makes
    them are in flight (made, or waiting to be consumed), whatever the tensor's size.
    """
    count = seeding.block_count(size)
    total = Moments()

    def span(index: int) -> tuple[int, int]:
        return index * seeding.BLOCK_SIZE, min(size, (index + 1) * seeding.BLOCK_SIZE)

    def make(index: int, block: np.ndarray) -> Moments | None:
        fill(index, block)
        return None if statistics is None else statistics(block)

    def consume(block: np.ndarray, moments: Moments | None) -> None:
        nonlocal total
        if moments is not None:
            total = total.merge(moments)
        if sink is not None:
            sink(block)
        if progress is not None:
            progress(block.nbytes)

    if count == 1 or (threads == 1 and sink is None):  # nothing to overlap: no threads
        buffer = None if out is not None else np.empty(min(size, seeding.BLOCK_SIZE), dtype=target)
        for index in range(count):
            start, stop = span(index)
            block = out[start:stop] if out is not None else buffer[: stop - start]
            consume(block, make(index, block))
        return total if statistics is not None else None

    from concurrent.futures import Future, ThreadPoolExecutor  # here: it costs start-up time

    # Buffers bound what streams; blocks of a kept tensor need none (so none wait for one).
    window = WINDOW_PER_THREAD * (threads + helps) if out is None or sink is not None else count
    free: list[np.ndarray] = []
    pending: deque[tuple[int, np.ndarray, Future[Moments | None]]] = deque()
    pool = ThreadPoolExecutor(max_workers=min(threads, count), thread_name_prefix="weightgen")
    submitted = 0

    def submit() -> None:
        nonlocal submitted
        start, stop = span(submitted)
        if out is not None:
            block = out[start:stop]
        else:
            buffer = free.pop() if free else np.empty(seeding.BLOCK_SIZE, dtype=target)
            block = buffer[: stop - start]
        pending.append((submitted, block, pool.submit(make, submitted, block)))
        submitted += 1

    def help_out() -> bool:
        """Make, on this thread, the oldest block no worker has started; False if none."""
        for position in range(len(pending)):
            index, block, future = pending[position]
            if future.cancel():
                made: Future[Moments | None] = Future()
                made.set_result(make(index, block))
                pending[position] = (index, block, made)
                return True
        return False

    try:
        while submitted < count and len(pending) < window:
            submit()
        while pending:
            while helps and not pending[0][2].done() and help_out():
                pass
            _, block, future = pending.popleft()
            consume(block, future.result())
            if out is None:
                free.append(block.base if block.base is not None else block)
            if submitted < count:
                submit()
    finally:
        for _, _, future in pending:
            future.cancel()
        # On Ctrl-C or a failed write, wait only for the blocks already running.
        pool.shutdown(wait=True, cancel_futures=True)
    return total if statistics is not None else None


def draw_fill(distribution: Distribution, dtype: str, seed: int) -> BlockFill:
    """Draws from ``distribution`` (real or complex) into blocks of the target dtype."""
    target = dtypes.numpy_dtype(dtype)
    if dtypes.is_complex(dtype):
        from weightgen.complex_kernels import kernel_for as complex_kernel_for

        complex_kernel = complex_kernel_for(distribution)

        def complex_block(index: int, out: np.ndarray) -> None:
            complex_kernel(seeding.block_generator(seed, index), out.view(out.real.dtype))

        return complex_block

    kernel = kernel_for(distribution)
    work = dtypes.work_dtype(dtype)
    if target == work:
        def block(index: int, out: np.ndarray) -> None:
            kernel(seeding.block_generator(seed, index), out)

        return block

    bounds = _Bounds(distribution, target)
    scratch = threading.local()

    def cast_block(index: int, out: np.ndarray) -> None:
        buffer = getattr(scratch, "buffer", None)
        if buffer is None:
            buffer = scratch.buffer = np.empty(seeding.BLOCK_SIZE, dtype=work)
        view = buffer[: out.size]
        kernel(seeding.block_generator(seed, index), view)
        np.copyto(out, view, casting="unsafe")
        bounds.apply(out)

    return cast_block


def _mean_guess(distribution: Distribution) -> float | None:
    """A cheap guess of a block's mean, to sum its statistics about (see ``block_moments``).

    A truncated normal's exact mean needs quadrature, whose LAPACK call wakes BLAS's
    threads, which then spin beside the workers: its parent's mean will do.
    """
    guess = getattr(distribution, "mean_", None)
    return guess if guess is not None else distribution.mean


def _index_fill(fill: Callable[[int, Any], None]) -> BlockFill:
    """A deterministic function of the flat index, block by block."""

    def block(index: int, out: np.ndarray) -> None:
        fill(index * seeding.BLOCK_SIZE, out)

    return block


class _Bounds:
    """Clip a cast block back inside a distribution's bounds, in the target dtype."""

    def __init__(self, distribution: Distribution, target: np.dtype) -> None:
        low, high = distribution.low, distribution.high
        if low is not None and low == high:  # one point (std 0): its nearest value, left as cast
            self.low = self.high = None
            return
        self.low = None if low is None else dtypes.inward(low, target, upward=True)
        if high is None:
            self.high = None
        elif distribution.high_open and high > (low if low is not None else -math.inf):
            self.high = dtypes.below(high, target)
        else:
            self.high = dtypes.inward(high, target, upward=False)

    def apply(self, block: np.ndarray) -> None:
        if self.low is not None or self.high is not None:
            np.clip(block, self.low, self.high, out=block)


def _whole(source: Source, shape: tuple[int, ...], dtype: str, seed: int, threads: int,
           progress: Progress | None) -> np.ndarray:
    """Sources that need the whole tensor in memory: a transform of drawn normals, or a call."""
    if isinstance(source, Call):
        array = source.produce(shape, dtype, seeding.auxiliary_generator(seed, source.purpose))
        if progress is not None:
            progress(array.nbytes)
        return array
    if not isinstance(source, Transform):  # pragma: no cover - Source is closed
        raise TypeError(f"unknown source {source!r}")
    work = dtypes.work_dtype(dtype)
    normals = np.empty(math.prod(source.draw_shape), dtype=work)
    itemsize = dtypes.itemsize(dtype)
    _drive(draw_fill(Normal(0.0, 1.0), str(work), seed), normals.size, work, threads, normals,
           None, None if progress is None else (lambda count: progress(count // work.itemsize * itemsize)))
    args: tuple[Any, ...] = (normals.reshape(source.draw_shape), work)
    if source.auxiliary is not None:
        args += (seeding.auxiliary_generator(seed, source.auxiliary),)
    options = {"threads": threads} if source.threaded else {}
    with _single_threaded_blas():
        result = np.asarray(source.transform(*args, **options))
    return result.astype(dtypes.numpy_dtype(dtype), copy=False).reshape(shape)


_BLAS_LOCK = threading.Lock()
#: Transforms running now (in any thread), and the limiter that holds BLAS to one thread.
_blas_holders = 0
_blas_limiter: Any = None


@contextmanager
def _single_threaded_blas() -> Iterator[None]:
    """Hold BLAS to one thread while a transform runs.

    Multi-threaded BLAS and LAPACK do not promise the same bits for every thread count;
    a threaded transform parallelises over fixed pieces itself (``Transform.threaded``).
    The limit is process-wide, so it is counted: taken by the first transform running and
    given back by the last, never lifted under another thread's transform.
    """
    global _blas_holders, _blas_limiter
    import scipy.linalg.lapack  # noqa: F401 - load scipy's BLAS too: only loaded ones are limited
    from threadpoolctl import threadpool_limits

    with _BLAS_LOCK:
        if _blas_holders == 0:
            _blas_limiter = threadpool_limits(limits=1, user_api="blas")
            _blas_limiter.__enter__()
        _blas_holders += 1
    try:
        yield
    finally:
        with _BLAS_LOCK:
            _blas_holders -= 1
            if _blas_holders == 0:  # __exit__, not restore_original_limits(): after that alone,
                _blas_limiter.__exit__(None, None, None)  # other threads could not limit BLAS again
                _blas_limiter = None
