"""Golden values: what a seed gives is a contract (``seeding.STREAM_VERSION``).

If one of these fails, a change altered the stream: either revert it, or bump
``STREAM_VERSION`` and repin these values (a breaking change, noted in the README).
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

import weightgen
from weightgen import seeding
from weightgen.seeding import BLOCK_SIZE

# (initializer, shape, dtype, seed, params, {flat index: value}, sha256 prefix of the bytes)
GOLDEN = [
    ("glorot_uniform", (256, 128), "float32", 0, {},
     {0: "-0x1.c0a0980000000p-4", 1: "0x1.6553100000000p-4", 32767: "-0x1.59ab940000000p-4"}, "346e68d40fb71583"),
    ("he_normal", (3, 3, 16, 32), "float32", 7, {},
     {0: "-0x1.6c1c400000000p-3", 1: "-0x1.6ca2560000000p-5", 4607: "-0x1.5c77f20000000p-11"}, "fac62e14a9c22e5b"),
    ("random_normal", (BLOCK_SIZE + 5,), "float64", 42, {"stddev": 1.0},
     {0: "0x1.c467857d554acp+0", 1: "-0x1.201d70f769d40p-7", 262148: "-0x1.dd7d66002fd30p+0",
      262145: "-0x1.d87e4e2a6e083p-1"}, "ebfab62b5baf7b17"),
    ("truncated_normal", (1000,), "float16", 1, {},
     {0: "-0x1.4ec0000000000p-4", 1: "0x1.1e00000000000p-6", 999: "-0x1.91c0000000000p-5"}, "c160b7a27ef3b938"),
    ("random_uniform", (BLOCK_SIZE + 5,), "float32", 2**80 + 3, {"minval": 0.1, "maxval": 0.3},
     {0: "0x1.26f3920000000p-2", 1: "0x1.bcf1840000000p-4", 262148: "0x1.d78cf00000000p-3",
      262145: "0x1.2df5b80000000p-2"}, "b437cc03a719959a"),
    ("variance_scaling", (64, 32), "bfloat16", 5, {"distribution": "untruncated_normal"},
     {0: "-0x1.4400000000000p-8", 1: "0x1.be00000000000p-8", 2047: "-0x1.5800000000000p-4"}, "7cfa0dc2af00bae3"),
    ("torch.kaiming_normal", (64, 256), "float32", 11, {"nonlinearity": "relu"},
     {0: "-0x1.ec756c0000000p-4", 1: "-0x1.ac3cf00000000p-3", 16383: "0x1.1133360000000p-3"}, "57331a9905a244cc"),
    ("torch.trunc_normal", (500,), "float32", 12, {"a": 3.0, "b": 4.0},
     {0: "0x1.a35c560000000p+1", 1: "0x1.8fd6260000000p+1", 499: "0x1.87b4f60000000p+1"}, "9ca034a99d1aa1fc"),
    ("torch.sparse", (20, 10), "float32", 13, {"sparsity": 0.3},
     {0: "0x1.730fa80000000p-8", 1: "0x1.2cfda20000000p-9", 199: "0x0.0p+0"}, "3365022d36ba1266"),
]


def test_stream_version():
    assert seeding.STREAM_VERSION == 1


@pytest.mark.parametrize("name,shape,dtype,seed,params,values,digest", GOLDEN,
                         ids=[case[0] for case in GOLDEN])
def test_golden(name, shape, dtype, seed, params, values, digest):
    array = weightgen.generate(name, shape, dtype=dtype, seed=seed, **params).array
    flat = array.reshape(-1)
    for index, value in values.items():
        assert float(flat[index]).hex() == value, index
    assert hashlib.sha256(array.tobytes()).hexdigest()[:16] == digest


def test_golden_complex():
    flat = weightgen.generate("jax.normal", (16, 16), dtype="complex64", seed=14).array.reshape(-1)
    assert complex(flat[0]) == (0.0038180341944098473 - 0.0005595822585746646j)
    assert complex(flat[255]) == (0.0027906678151339293 - 0.0019713095389306545j)


def test_golden_orthogonal():
    """QR's last bits depend on the LAPACK build, so orthogonal is pinned to 1e-6, not bytes."""
    flat = weightgen.generate("orthogonal", (8, 4), seed=3).array.reshape(-1)
    expected = {0: "0x1.cff0fa0000000p-5", 1: "-0x1.20146a0000000p-1", 31: "-0x1.5abb8a0000000p-2"}
    for index, value in expected.items():
        assert flat[index] == pytest.approx(float.fromhex(value), abs=1e-6)


def test_block_generator_is_sfc64_from_the_seed_sequence():
    """The derivation itself, independent of any kernel."""
    rng = seeding.block_generator(123, 4)
    assert type(rng.bit_generator).__name__ == "SFC64"
    expected = np.random.SFC64(np.random.SeedSequence(123, spawn_key=(0, 4))).random_raw(3)
    assert np.array_equal(rng.bit_generator.random_raw(3), expected)
    assert hex(int(np.random.SFC64(np.random.SeedSequence(123, spawn_key=(0, 4))).random_raw())) == \
        "0x232e581ec6cf9b4f"
