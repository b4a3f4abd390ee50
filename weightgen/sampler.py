"""The one core sampler every initializer goes through.

It cuts the flattened tensor into the blocks of :mod:`weightgen.seeding`, has worker
threads fill them (numpy releases the GIL inside fills and ufuncs), casts each block once
to the target dtype, keeps bounds exact in that dtype, and accumulates statistics per
block, merged in block order. Values and statistics never depend on the thread count.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from weightgen import dtypes, seeding
from weightgen.distributions import Distribution, Normal
from weightgen.errors import TooLargeError
from weightgen.kernels import kernel_for
from weightgen.plan import Call, Draw, Fill, Plan, Transform
from weightgen.stats import Moments


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


def check_fits(shape: Sequence[int], dtype: str, extra_factor: float = 0.0) -> None:
    """Refuse, with the bytes needed, a tensor that cannot fit in memory."""
    count = math.prod(shape)
    needed = count * dtypes.itemsize(dtype) + int(count * extra_factor)
    available = available_memory()
    if available is not None and needed > available:
        raise TooLargeError(
            f"shape {tuple(shape)} as {dtype} needs {format_bytes(needed)} of memory, but only "
            f"{format_bytes(available)} is available; choose a smaller shape or dtype."
        )


def format_bytes(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(count) < 1024 or unit == "PiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class Sampled:
    """A generated tensor and the statistics of its values."""

    array: np.ndarray
    moments: Moments


class _Bounds:
    """Clip a cast block back inside a distribution's bounds, in the target dtype."""

    def __init__(self, distribution: Distribution, target: np.dtype) -> None:
        low, high = distribution.low, distribution.high
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


Progress = Callable[[int], None]


def run(plan: Plan, shape: Sequence[int], dtype: str, seed: int, threads: int | None = None,
        progress: Progress | None = None) -> Sampled:
    """Generate the tensor ``plan`` describes, in memory.

    ``progress(n)`` is called (from worker threads) with the bytes of each finished block.
    """
    shape = tuple(shape)
    threads = threads or default_threads()
    source = plan.source
    if isinstance(source, Transform):
        check_fits(shape, dtype, extra_factor=source.workspace_factor * dtypes.itemsize(dtype))
        return _run_transform(source, shape, dtype, seed, threads, progress)
    check_fits(shape, dtype)
    if isinstance(source, Call):
        array = source.produce(shape, dtype, seeding.auxiliary_generator(seed, source.purpose))
        if progress is not None:
            progress(array.nbytes)
        return Sampled(array, Moments.of(array))
    target = dtypes.numpy_dtype(dtype)
    out = np.empty(math.prod(shape), dtype=target)
    if isinstance(source, Draw) and dtypes.is_complex(dtype):
        block_fn = _complex_blocks(source.distribution, out, seed)
    elif isinstance(source, Draw):
        block_fn = _draw_blocks(source.distribution, out, dtype, seed)
    elif isinstance(source, Fill):
        block_fn = _fill_blocks(source.fill, out)
    else:  # pragma: no cover - Source is closed
        raise TypeError(f"unknown source {source!r}")
    moments = _map_blocks(block_fn, out.size, threads, _in_bytes(progress, out.itemsize))
    return Sampled(out.reshape(shape), moments)


def _draw_blocks(distribution: Distribution, out: np.ndarray, dtype: str, seed: int
                 ) -> Callable[[int, int, int], Moments]:
    kernel = kernel_for(distribution)
    work = dtypes.work_dtype(dtype)
    cast = out.dtype != work
    bounds = _Bounds(distribution, out.dtype) if cast else None
    scratch = threading.local()

    def block(index: int, start: int, stop: int) -> Moments:
        rng = seeding.block_generator(seed, index)
        target = out[start:stop]
        if not cast:
            kernel(rng, target)
        else:
            buffer = getattr(scratch, "buffer", None)
            if buffer is None or buffer.size < stop - start:
                buffer = scratch.buffer = np.empty(seeding.BLOCK_SIZE, dtype=work)
            view = buffer[: stop - start]
            kernel(rng, view)
            target[...] = view.astype(out.dtype)
            bounds.apply(target)
        return Moments.of(target)

    return block


def _complex_blocks(distribution: Distribution, out: np.ndarray, seed: int
                    ) -> Callable[[int, int, int], Moments]:
    """Complex values: each block's (real, imag) float view filled from the block's generator."""
    from weightgen.complex_kernels import kernel_for as complex_kernel_for

    kernel = complex_kernel_for(distribution)
    parts = out.view(out.real.dtype)

    def block(index: int, start: int, stop: int) -> Moments:
        target = parts[2 * start : 2 * stop]
        kernel(seeding.block_generator(seed, index), target)
        return Moments.of(target)

    return block


def _fill_blocks(fill: Callable[[int, Any], None], out: np.ndarray) -> Callable[[int, int, int], Moments]:
    def block(index: int, start: int, stop: int) -> Moments:
        target = out[start:stop]
        fill(start, target)
        return Moments.of(target)

    return block


def _in_bytes(progress: Progress | None, itemsize: int) -> Progress | None:
    return None if progress is None else (lambda count: progress(count * itemsize))


def _run_transform(source: Transform, shape: tuple[int, ...], dtype: str, seed: int,
                   threads: int, progress: Progress | None) -> Sampled:
    work = dtypes.work_dtype(dtype)
    normals = np.empty(math.prod(source.draw_shape), dtype=work)
    _map_blocks(_draw_blocks(Normal(0.0, 1.0), normals, str(work), seed), normals.size, threads,
                _in_bytes(progress, dtypes.itemsize(dtype)))
    args: tuple[Any, ...] = (normals.reshape(source.draw_shape), work)
    if source.auxiliary is not None:
        args += (seeding.auxiliary_generator(seed, source.auxiliary),)
    result = np.asarray(source.transform(*args))
    target = dtypes.numpy_dtype(dtype)
    array = result.astype(target, copy=False).reshape(shape)
    return Sampled(array, Moments.of(array))


def _map_blocks(block: Callable[[int, int, int], Moments], size: int, threads: int,
                progress: Progress | None = None) -> Moments:
    """Run ``block`` over every block (in parallel) and merge the moments in block order."""
    spans = [(i, i * seeding.BLOCK_SIZE, min(size, (i + 1) * seeding.BLOCK_SIZE))
             for i in range(seeding.block_count(size))]

    def one(span: tuple[int, int, int]) -> Moments:
        moments = block(*span)
        if progress is not None:
            progress(span[2] - span[1])
        return moments

    if threads == 1 or len(spans) == 1:
        results = [one(span) for span in spans]
    else:
        from concurrent.futures import ThreadPoolExecutor  # here: it costs start-up time

        pool = ThreadPoolExecutor(max_workers=min(threads, len(spans)), thread_name_prefix="weightgen")
        try:
            results = list(pool.map(one, spans))
        finally:
            # On Ctrl-C do not wait for queued blocks.
            pool.shutdown(wait=True, cancel_futures=True)
    total = Moments()
    for moments in results:
        total = total.merge(moments)
    return total
