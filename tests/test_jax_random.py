"""``jax.random`` in numpy: threefry known answers, and golden values from JAX itself.

The golden digests were computed with JAX 0.10.2 on CPU (``jax.random.key(seed)``, the
default threefry2x32 in the partitionable layout), so these tests pin ``--rng jax``
against JAX even where JAX is not installed; ``test_oracle_rng_jax.py`` compares live.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from weightgen.fans import Fans
from weightgen.streams import jax as jax_stream
from weightgen.streams import jax_random as jr
from weightgen.streams.jax_random import FORMATS


def digest(values: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(values).tobytes()).hexdigest()[:16]


@pytest.mark.parametrize("key, count, expected", [
    # Random123's known-answer tests for threefry2x32 with 20 rounds.
    ((0, 0), (0, 0), (0x6B200159, 0x99BA4EFE)),
    ((0xFFFFFFFF, 0xFFFFFFFF), (0xFFFFFFFF, 0xFFFFFFFF), (0x1CB996FC, 0xBB002BE7)),
    ((0x13198A2E, 0x03707344), (0x243F6A88, 0x85A308D3), (0xC4923A9C, 0x483DF7A0)),
])
def test_threefry_known_answers(key, count, expected):
    high, low = jr.threefry2x32(*key, *count)
    assert (int(high), int(low)) == expected


def test_keys_split_and_bits_match_jax():
    assert jr.key(42).tolist() == [0, 42]
    assert [k.tolist() for k in jr.split(jr.key(42), 3)] == [
        [1832780943, 270669613], [64467757, 2916123636], [2465931498, 255383827]]
    assert jr.random_bits(jr.key(7), 32, 0, 5).tolist() == [
        2895194379, 4185947648, 1300703658, 1906787632, 3139134342]
    assert jr.uniform(jr.key(7), FORMATS["float32"], 0, 4).tolist() == [
        0.6740899085998535, 0.9746168851852417, 0.3028435707092285, 0.4439585208892822]


def test_any_range_of_elements_can_be_drawn_alone():
    whole = jr.normal(jr.key(11), FORMATS["float32"], 0, 5000)
    part = jr.normal(jr.key(11), FORMATS["float32"], 1234, 4321)
    assert part.tobytes() == whole[1234:4321].tobytes()


def test_seeds_beyond_32_bits_are_refused():
    with pytest.raises(ValueError):
        jr.key(2**32)


def variance_scaling(seed, shape, dtype, scale, mode, distribution, fans) -> np.ndarray:
    chunk = jax_stream.variance_scaling(jr.key(seed), dtype, scale, mode, distribution, fans)
    return jax_stream.elementwise(shape, dtype, chunk)


def as_dtype(values: np.ndarray, name: str) -> np.ndarray:
    from weightgen import dtypes

    return values.astype(dtypes.numpy_dtype(name))


@pytest.mark.parametrize("name, make, expected", [
    ("normal float32", lambda: jr.normal(jr.key(0), FORMATS["float32"], 0, 1000), "8fd4d579ee0cce16"),
    ("normal float16", lambda: jr.normal(jr.key(3), FORMATS["float16"], 0, 999), "4a683c452ff76fd1"),
    ("normal bfloat16", lambda: as_dtype(jr.normal(jr.key(3), FORMATS["bfloat16"], 0, 999),
                                         "bfloat16"), "b1ee7fc489593f00"),
    ("normal float64", lambda: jr.normal(jr.key(0), FORMATS["float64"], 0, 1000), "fcd6c7ddd2f266b8"),
    ("truncated_normal(-1, 3)", lambda: jr.truncated_normal(jr.key(5), FORMATS["float32"], 0, 1000,
                                                             -1.0, 3.0), "f8a4bd4dcf2544ed"),
])
def test_samplers_give_jax_bytes(name, make, expected):
    assert digest(make()) == expected, name


@pytest.mark.parametrize("name, make, expected", [
    ("he_normal float32", lambda: variance_scaling(
        1, (64, 32), "float32", 2.0, "fan_in", "truncated_normal", Fans(64, 32)),
     "5eacd03c29da5751"),
    ("glorot_uniform bfloat16", lambda: variance_scaling(
        2, (3, 3, 8, 16), "bfloat16", 1.0, "fan_avg", "uniform", Fans(72, 144)),
     "768d749aee9e24ff"),
    ("lecun_normal float64", lambda: variance_scaling(
        11, (40, 30), "float64", 1.0, "fan_in", "truncated_normal", Fans(40, 30)),
     "e995949300e015b4"),
    ("orthogonal float32", lambda: jax_stream.orthogonal(jr.key(9), (20, 12), "float32", 1.0, -1),
     "90b3e898b7b19082"),
    ("variance_scaling complex64 uniform", lambda: variance_scaling(
        4, (8, 6), "complex64", 1.0, "fan_avg", "uniform", Fans(8, 6)), "b018f7a5681bbe83"),
    ("variance_scaling complex128 truncated", lambda: variance_scaling(
        4, (8, 6), "complex128", 1.0, "fan_in", "truncated_normal", Fans(8, 6)),
     "19896f179c3a7cf7"),
])
def test_initializers_give_jax_bytes(name, make, expected):
    assert digest(make()) == expected, name


def test_elementwise_initializers_are_drawn_in_chunks(monkeypatch):
    chunk = jax_stream.normal(jr.key(8), "float32", 1.0)
    whole = jax_stream.elementwise((300, 7), "float32", chunk)
    monkeypatch.setattr(jax_stream, "CHUNK", 1000)
    done: list[int] = []
    assert jax_stream.elementwise((300, 7), "float32", chunk, done.append).tobytes() == whole.tobytes()
    assert done == [1000, 1000, 100]
