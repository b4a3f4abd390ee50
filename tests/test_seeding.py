"""Seeds: drawn seeds, and the name-derived seeds of batch tensors (part of the stream contract)."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from weightgen import seeding
from weightgen.errors import ParameterError

#: (master seed, name) -> derived seed. Changing any of these is a breaking change of the
#: stream contract (bump seeding.STREAM_VERSION).
GOLDEN = {
    (0, "dense/kernel"): 4268707843258129,
    (42, "dense/kernel"): 2823327946560394,
    (42, "dense/bias"): 4905799064863184,
    (2**100, "é"): 999932667820750,
}


@pytest.mark.parametrize(("master", "name"), GOLDEN)
def test_derived_seeds_are_pinned(master, name):
    assert seeding.derive_seed(master, name) == GOLDEN[master, name]


def test_derivation_is_the_documented_one():
    digest = hashlib.sha256("conv1/kernel".encode()).digest()
    words = [int.from_bytes(digest[i:i + 4], "little") for i in range(0, 32, 4)]
    state = np.random.SeedSequence(7, spawn_key=(2, *words)).generate_state(1, np.uint64)
    assert seeding.derive_seed(7, "conv1/kernel") == int(state[0]) >> 11


def test_derived_seeds_depend_on_the_master_and_the_name_only():
    names = [f"layer_{i}/kernel" for i in range(500)]
    seeds = [seeding.derive_seed(3, name) for name in names]
    assert len(set(seeds)) == len(seeds)
    assert all(0 <= s < 2**53 for s in seeds)
    assert seeds == [seeding.derive_seed(3, name) for name in reversed(names)][::-1]
    assert seeding.derive_seed(4, names[0]) != seeds[0]
    assert seeding.derive_seed(3, "Layer_0/kernel") != seeds[0]
    assert seeding.derive_seed("3", names[0]) == seeds[0]  # a seed given as text is the same seed


def test_derived_seeds_differ_from_the_master_seeds_own_stream():
    # The batch key space (2) is apart from the data (0) and auxiliary (1) ones.
    assert seeding.derive_seed(5, "w") != 5


def test_a_stream_with_smaller_seeds_gets_the_derived_seed_modulo_its_limit():
    assert seeding.derive_seed(42, "dense/kernel", 2**32) == GOLDEN[42, "dense/kernel"] % 2**32


def test_a_bad_master_seed_is_refused():
    with pytest.raises(ParameterError, match="non-negative integer"):
        seeding.derive_seed(-1, "w")


def test_drawn_seeds_are_53_bit_and_vary():
    drawn = {seeding.resolve_seed(None) for _ in range(50)}
    assert len(drawn) == 50 and all(0 <= s < 2**53 for s in drawn)
    assert max(drawn) >= 2**50  # 53 random bits, not fewer


def test_seeds_weightgen_picks_survive_a_json_reader_that_uses_doubles():
    for seed in [seeding.resolve_seed(None) for _ in range(20)] + [seeding.derive_seed(1, "w")]:
        assert int(float(seed)) == seed
