"""The core sampler: thread-count invariance, block independence, casts and bounds."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

import weightgen
from weightgen import seeding
from weightgen.errors import TooLargeError

BIG = (3 * seeding.BLOCK_SIZE + 12345,)


@pytest.mark.parametrize("name", ["glorot_uniform", "he_normal", "random_normal", "orthogonal", "identity"])
def test_values_never_depend_on_the_thread_count(name):
    shape = (1200, 700) if name in ("orthogonal", "identity") else BIG
    runs = [weightgen.generate(name, shape, seed=99, threads=t) for t in (1, 2, 7)]
    first = runs[0].array.tobytes()
    for run in runs[1:]:
        assert run.array.tobytes() == first
        assert run.moments == runs[0].moments


def test_same_seed_same_bytes_different_seed_different_bytes():
    a = weightgen.generate("he_normal", (64, 64), seed=5).array
    b = weightgen.generate("he_normal", (64, 64), seed=5).array
    c = weightgen.generate("he_normal", (64, 64), seed=6).array
    assert a.tobytes() == b.tobytes()
    assert not np.array_equal(a, c)


def test_any_block_can_be_regenerated_alone():
    """Block i depends only on (seed, i): a longer tensor starts with the shorter one's blocks."""
    short = weightgen.generate("random_normal", (2 * seeding.BLOCK_SIZE,), seed=3).array
    long = weightgen.generate("random_normal", (5 * seeding.BLOCK_SIZE + 7,), seed=3).array
    assert np.array_equal(short, long[: short.size])


def test_seeds_of_any_size():
    huge = 2**200 + 12345
    a = weightgen.generate("glorot_uniform", (8, 8), seed=huge)
    b = weightgen.generate("glorot_uniform", (8, 8), seed=str(huge))
    assert a.request.seed == huge and np.array_equal(a.array, b.array)
    assert not np.array_equal(a.array, weightgen.generate("glorot_uniform", (8, 8), seed=huge + 1).array)


def test_drawn_seed_is_reported_and_reproduces():
    first = weightgen.generate("glorot_uniform", (16, 16))
    again = weightgen.generate("glorot_uniform", (16, 16), seed=first.request.seed)
    assert np.array_equal(first.array, again.array)


def test_orthogonal_from_many_python_threads_at_once_is_the_sequential_result():
    """BLAS's thread limit is process-wide: one call must not lift it under another's QR."""
    from concurrent.futures import ThreadPoolExecutor

    reference = {seed: weightgen.generate("orthogonal", (256, 256), seed=seed).array for seed in range(6)}
    with ThreadPoolExecutor(6) as pool:
        made = list(pool.map(lambda seed: (seed, weightgen.generate("orthogonal", (256, 256), seed=seed).array),
                             list(range(6)) * 40))
    assert all(array.tobytes() == reference[seed].tobytes() for seed, array in made)


def test_seeds_as_typed():
    assert weightgen.generate("zeros", (2,), seed="1_000").request.seed == 1000
    assert weightgen.generate("zeros", (2,), seed="+5").request.seed == 5


@pytest.mark.parametrize("seed", [-1, "abc", 1.5, True, "\u00b2", "\u0663", "1__0", "-5"])
def test_bad_seeds(seed):
    with pytest.raises(weightgen.ParameterError, match="--seed"):
        weightgen.generate("zeros", (2,), seed=seed)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_low_precision_is_one_cast_of_float32(dtype):
    """float16/bfloat16 values are the float32 values cast once (then clipped into bounds)."""
    low = weightgen.generate("random_normal", (5000,), seed=1, dtype=dtype).array
    high = weightgen.generate("random_normal", (5000,), seed=1, dtype="float32").array
    assert np.array_equal(low, high.astype(low.dtype))


def test_float64_is_sampled_in_float64():
    values = weightgen.generate("random_uniform", (100000,), seed=1, dtype="float64").array
    assert values.dtype == np.float64
    # 53-bit uniforms: far more distinct values than float32 could hold in this range.
    assert np.unique(values).size == values.size
    assert not np.array_equal(values, values.astype(np.float32).astype(np.float64))


def test_statistics_are_float64_accurate_for_float16():
    result = weightgen.generate("ones", (70000,), dtype="float16")
    assert result.moments.mean == 1.0 and result.moments.std == 0.0
    big = weightgen.generate("constant", (200000,), dtype="float16", value=60000.0)
    assert big.moments.mean == pytest.approx(59999.99, rel=1e-6)  # float16(60000) == 60000
    assert np.isfinite(big.moments.std)


def test_statistics_match_numpy():
    """Block statistics add float32 partial sums in float64: float32's precision, 1e-7."""
    result = weightgen.generate("random_normal", BIG, seed=4, stddev=3.0, mean=1.0)
    values = result.array.astype(np.float64)
    assert abs(result.moments.mean - values.mean()) <= 1e-7 * values.std()
    assert result.moments.std == pytest.approx(values.std(), rel=1e-7)
    float64 = weightgen.generate("random_normal", BIG, seed=4, stddev=3.0, mean=1.0, dtype="float64")
    assert float64.moments.mean == pytest.approx(float64.array.mean(), rel=1e-12)
    assert float64.moments.std == pytest.approx(float64.array.std(), rel=1e-12)
    assert (result.moments.min, result.moments.max) == (values.min(), values.max())
    assert result.moments.count == values.size


def test_too_large_is_refused_with_the_bytes_needed():
    with pytest.raises(TooLargeError, match=r"needs 3\.6 TiB"):
        weightgen.generate("zeros", (1000000, 1000000))


def test_progress_reports_every_byte():
    seen = []
    weightgen.generate("glorot_uniform", BIG, seed=1, threads=2, progress=seen.append)
    assert sum(seen) == BIG[0] * 4 and len(seen) == seeding.block_count(BIG[0])


def test_call_sources_get_the_auxiliary_generator_and_report_progress():
    from weightgen.distributions import Summary
    from weightgen.plan import Call, Plan
    from weightgen.sampler import run

    seen = []

    def produce(shape, dtype, rng):
        seen.append((shape, dtype))
        return np.full(shape, rng.random(), dtype=np.float32)

    done = []
    sampled = run(Plan(Call(produce, 9), Summary()), (4, 5), "float32", 123, progress=done.append)
    assert seen == [((4, 5), "float32")] and done == [80]
    assert np.all(sampled.array == np.float32(seeding.auxiliary_generator(123, 9).random()))
    assert sampled.moments.count == 20


def test_transforms_may_ask_for_an_auxiliary_generator():
    from weightgen.distributions import Summary
    from weightgen.plan import Plan, Transform
    from weightgen.sampler import run

    def transform(normals, work, rng):
        return normals + rng.random()

    plain = run(Plan(Transform((3, 3), lambda normals, work: normals), Summary()), (3, 3), "float64", 5)
    shifted = run(Plan(Transform((3, 3), transform, auxiliary=4), Summary()), (3, 3), "float64", 5)
    offset = seeding.auxiliary_generator(5, 4).random()
    assert np.allclose(shifted.array, plain.array + offset)


def plan_of(name, shape, dtype="float32", **params):
    from weightgen.generation import build_request, resolve

    request, spec = build_request(name, shape, dtype=dtype, seed=7, params=params)
    return resolve(request, spec)


STREAMED = [("glorot_uniform", "float32", {}), ("he_normal", "float16", {}), ("random_normal", "float64", {}),
            ("truncated_normal", "bfloat16", {}), ("jax.normal", "complex64", {}), ("identity", "float32", {}),
            ("constant", "int16", {"value": 3})]


@pytest.mark.parametrize("name,dtype,params", STREAMED, ids=[f"{n}-{d}" for n, d, _ in STREAMED])
@pytest.mark.parametrize("threads", [1, 3])
def test_a_streamed_tensor_is_the_in_memory_tensor(name, dtype, params, threads):
    """Blocks handed to a sink, in order, without keeping the tensor: same values, same statistics."""
    from weightgen.sampler import run

    shape = (1500, 700) if name == "identity" else BIG
    plan = plan_of(name, shape, dtype, **params)
    whole = run(plan, shape, dtype, 7, threads=2)
    blocks = []
    streamed = run(plan, shape, dtype, 7, threads=threads, sink=lambda block: blocks.append(block.copy()),
                   keep=False)
    assert streamed.array is None
    assert [b.size for b in blocks[:-1]] == [seeding.BLOCK_SIZE] * (len(blocks) - 1)
    assert np.concatenate(blocks).tobytes() == whole.array.tobytes()
    assert streamed.moments == whole.moments


LAZY = STREAMED + [("orthogonal", "float32", {}), ("jax.orthogonal", "complex64", {})]


@pytest.mark.parametrize("name,dtype,params", LAZY, ids=[f"{n}-{d}" for n, d, _ in LAZY])
@pytest.mark.parametrize("threads", [1, 3])
def test_statistics_made_later_are_the_statistics_made_on_the_way(name, dtype, params, threads):
    """summarise() of the array run() made gives exactly the moments run() merges itself."""
    from weightgen.sampler import run, summarise

    shape = (300, 200) if "orthogonal" in name else (1500, 700) if name == "identity" else BIG
    plan = plan_of(name, shape, dtype, **params)
    eager = run(plan, shape, dtype, 7, threads=2)
    bare = run(plan, shape, dtype, 7, threads=threads, statistics=False)
    assert bare.moments is None and bare.array.tobytes() == eager.array.tobytes()
    assert summarise(plan, bare.array, threads) == eager.moments
    assert eager.moments.count == bare.array.size * (2 if bare.array.dtype.kind == "c" else 1)


def test_a_tensor_returned_in_memory_is_summarised_only_when_asked(tmp_path):
    kept = weightgen.generate("he_normal", BIG, seed=4)
    assert kept.known_moments is None  # nothing summarised yet
    written = weightgen.generate("he_normal", BIG, seed=4, output=str(tmp_path / "w.npy"), keep_array=True)
    assert written.known_moments is not None  # summarised on the way to the file
    assert kept.summary()["std"] == written.summary()["std"] and kept.moments == written.moments
    assert kept.known_moments is kept.moments  # made once


def test_statistics_cannot_be_skipped_for_a_tensor_that_is_not_kept():
    from weightgen.sampler import run

    with pytest.raises(ValueError, match="keep=True"):
        run(plan_of("zeros", (10,)), (10,), "float32", 7, keep=False, statistics=False)


def test_kept_and_streamed_at_once():
    from weightgen.sampler import run

    plan = plan_of("he_uniform", BIG)
    blocks = []
    both = run(plan, BIG, "float32", 7, threads=2, sink=lambda block: blocks.append(block.copy()))
    assert np.array_equal(np.concatenate(blocks), both.array)


@pytest.mark.parametrize("threads", [1, 2, 4])
def test_streaming_holds_a_bounded_window_of_blocks(threads):
    """Memory is a few blocks per thread whatever the size: the sink only ever sees
    WINDOW_PER_THREAD * threads distinct buffers."""
    from weightgen.sampler import WINDOW_PER_THREAD, run

    shape = (40 * seeding.BLOCK_SIZE,)
    buffers = set()
    run(plan_of("he_normal", shape), shape, "float32", 7, threads=threads,
        sink=lambda block: buffers.add(block.__array_interface__["data"][0]), keep=False)
    assert 1 <= len(buffers) <= WINDOW_PER_THREAD * threads


def threads_making_blocks(threads: int, sink, delay: float = 0.0, blocks: int = 24) -> list[int]:
    """Stream a he_uniform tensor of ``blocks`` blocks into ``sink``; the ident of the
    thread that made each block (each made ``delay`` seconds slower)."""
    from weightgen.sampler import run

    shape = (blocks * seeding.BLOCK_SIZE,)
    makers = []
    real = seeding.block_generator

    def spy(seed, index):
        makers.append(threading.get_ident())
        time.sleep(delay)
        return real(seed, index)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(seeding, "block_generator", spy)
        run(plan_of("he_uniform", shape), shape, "float32", 7, threads=threads, sink=sink, keep=False)
    return makers


@pytest.mark.parametrize("threads, workers", [(4, 3), (3, 2), (2, 1), (1, 1)])
def test_the_thread_that_writes_counts_as_one_of_the_threads(threads, workers):
    """--threads bounds the busy threads: while the calling thread writes, one worker fewer
    (at least one) generates."""
    makers = set(threads_making_blocks(threads, lambda block: time.sleep(0.002)))  # every worker gets work
    assert 1 <= len(makers - {threading.get_ident()}) <= workers
    assert len(makers) <= threads


@pytest.mark.parametrize("threads", [2, 3])
def test_the_thread_that_writes_makes_blocks_while_the_next_one_is_not_ready(threads):
    """A writer faster than the workers makes blocks itself instead of waiting, and the
    blocks still reach the sink in order, equal to the tensor made without a sink."""
    from weightgen.sampler import run

    blocks = []
    makers = threads_making_blocks(threads, lambda block: blocks.append(block.copy()), delay=0.005)
    assert threading.get_ident() in makers
    assert len(set(makers)) <= threads
    shape = (24 * seeding.BLOCK_SIZE,)
    assert np.array_equal(np.concatenate(blocks), run(plan_of("he_uniform", shape), shape, "float32", 7).array)


def test_one_thread_never_makes_blocks_on_the_thread_that_writes():
    """--threads 1 keeps one worker generating while the calling thread only writes."""
    makers = set(threads_making_blocks(1, lambda block: None, blocks=8))
    assert threading.get_ident() not in makers and len(makers) == 1


def test_a_failing_sink_stops_the_generation():
    from weightgen import sampler

    shape = (60 * seeding.BLOCK_SIZE,)
    plan = plan_of("glorot_uniform", shape)
    made = []
    fill = sampler.draw_fill(plan.source.distribution, "float32", 7)

    def counting(index, out):
        made.append(index)
        return fill(index, out)

    def sink(block):
        if len(made) > 3:
            raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        sampler._drive(counting, shape[0], np.dtype(np.float32), 2, None, sink, None)
    assert len(made) <= 4 + sampler.WINDOW_PER_THREAD * 2


def test_transforms_hand_their_result_to_the_sink_too():
    from weightgen.sampler import run

    shape = (700, 600)
    plan = plan_of("orthogonal", shape)
    blocks = []
    streamed = run(plan, shape, "float32", 7, sink=lambda block: blocks.append(block.copy()), keep=False)
    assert streamed.array is None
    assert np.array_equal(np.concatenate(blocks), run(plan, shape, "float32", 7).array.reshape(-1))


@pytest.mark.parametrize("name,dtype,params", STREAMED, ids=[f"{n}-{d}" for n, d, _ in STREAMED])
def test_any_slice_is_regenerated_alone(name, dtype, params):
    from weightgen.sampler import flat_slice, run

    shape = (1500, 700) if name == "identity" else BIG
    plan = plan_of(name, shape, dtype, **params)
    whole = run(plan, shape, dtype, 7).array.reshape(-1)
    for start, stop in [(0, 10), (seeding.BLOCK_SIZE - 3, 2 * seeding.BLOCK_SIZE + 4), (whole.size - 5, whole.size + 9),
                        (12345, 12345)]:
        assert flat_slice(plan, shape, dtype, 7, start, stop).tobytes() == whole[start:stop].tobytes()
