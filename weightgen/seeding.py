"""Seeds and the generators derived from them: the stream contract (SPEC §4).

The flattened C-order tensor is cut into blocks of :data:`BLOCK_SIZE` elements. Block
``i`` draws from its own generator, ``SFC64(SeedSequence(seed, spawn_key=(0, i)))``, so
blocks can be generated in any order, on any thread, and any slice regenerated alone.
The bit generator is named explicitly (numpy promises streams per bit generator only),
and golden values in the tests pin what a seed gives. Changing any of this — block size,
bit generator, key layout, or a sampling algorithm — changes what a seed gives and
must bump :data:`STREAM_VERSION`.
"""

from __future__ import annotations

import os
from typing import Any

from weightgen.errors import ParameterError

#: Version of what a seed gives; stored with every tensor.
STREAM_VERSION = 1

#: Elements per block of the flattened tensor.
BLOCK_SIZE = 1 << 18

#: Bits of the seeds weightgen picks itself (drawn, or derived for batch tensors): below
#: 2**53, so they survive JSON tools that read numbers as doubles (jq, JavaScript).
SEED_BITS = 53

#: Key spaces under one seed.
_DATA = 0
_AUXILIARY = 1
_BATCH = 2

#: Purposes of auxiliary generators (part of the stream contract: never renumber).
PURPOSE_SPARSE_ZEROS = 1  # torch.sparse: which rows of each column are zero
PURPOSE_CUSTOM = 2  # the generator handed to a custom initializer


def resolve_seed(seed: Any, limit: int | None = None) -> int:
    """Check a user seed (any size of non-negative integer), or draw one from the OS.

    A drawn seed has :data:`SEED_BITS` bits, or is below ``limit`` when one is given
    (framework-exact streams take 32-bit seeds); checking a given seed against it is the
    stream's job.
    """
    if seed is None:
        if limit is not None:
            import secrets

            return secrets.randbelow(limit)
        # os.urandom, not secrets: the same entropy, without importing random and hashlib
        return int.from_bytes(os.urandom(8), "little") >> (64 - SEED_BITS)
    if isinstance(seed, bool):
        raise ParameterError(f"Invalid value for --seed: expected a non-negative integer (got {seed!r}).")
    if isinstance(seed, str):
        from weightgen.shapes import parse_natural

        number = parse_natural(seed)
        if number is None:
            raise ParameterError(
                f"Invalid value for --seed: expected a non-negative integer, e.g. --seed 42 (got {seed!r})."
            )
        seed = number
    if not isinstance(seed, int) and hasattr(seed, "__index__"):
        seed = seed.__index__()
    if not isinstance(seed, int) or seed < 0:
        raise ParameterError(
            f"Invalid value for --seed: expected a non-negative integer, e.g. --seed 42 (got {seed!r})."
        )
    return seed


def block_count(size: int) -> int:
    return max(1, -(-size // BLOCK_SIZE))


def block_generator(seed: int, block: int) -> Any:
    """The generator of flat block ``block`` under ``seed``."""
    import numpy as np

    sequence = np.random.SeedSequence(seed, spawn_key=(_DATA, block))
    return np.random.Generator(np.random.SFC64(sequence))


def auxiliary_generator(seed: int, purpose: int) -> Any:
    """A generator for draws that are not elements (e.g. sparse's zero positions)."""
    import numpy as np

    sequence = np.random.SeedSequence(seed, spawn_key=(_AUXILIARY, purpose))
    return np.random.Generator(np.random.SFC64(sequence))


def derive_seed(master: int, name: str, limit: int | None = None) -> int:
    """A batch tensor's seed, from the batch's master seed and the tensor's name only.

    ``SeedSequence(master, spawn_key=(2, w0, ..., w7))``, where ``w0..w7`` are the eight
    little-endian 32-bit words of SHA-256 of the name in UTF-8; the seed is the top
    :data:`SEED_BITS` (53) bits of the first 64-bit word of that sequence's state (like a
    drawn seed, exact in any JSON reader), taken modulo ``limit`` for a stream that needs
    smaller seeds (``--rng keras``/``jax``: 2**32). Nothing else enters, so adding,
    removing or reordering the other tensors of a batch never changes a tensor's values,
    and the seed reported for a tensor regenerates it alone (``weightgen INIT --seed
    SEED``). Part of the stream contract: changing it bumps :data:`STREAM_VERSION`.
    """
    import hashlib

    import numpy as np

    master = resolve_seed(master)
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    words = tuple(int.from_bytes(digest[i : i + 4], "little") for i in range(0, 32, 4))
    state = np.random.SeedSequence(master, spawn_key=(_BATCH, *words)).generate_state(1, np.uint64)
    seed = int(state[0]) >> (64 - SEED_BITS)
    return seed % limit if limit is not None else seed
