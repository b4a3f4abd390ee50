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

import hashlib
import secrets
from typing import Any

from weightgen.errors import ParameterError

#: Version of what a seed gives; stored with every tensor.
STREAM_VERSION = 1

#: Elements per block of the flattened tensor.
BLOCK_SIZE = 1 << 18

#: Key spaces under one seed.
_DATA = 0
_AUXILIARY = 1

#: Purposes of auxiliary generators (part of the stream contract: never renumber).
PURPOSE_SPARSE_ZEROS = 1  # torch.sparse: which rows of each column are zero
PURPOSE_CUSTOM = 2  # the generator handed to a custom initializer


def resolve_seed(seed: Any) -> int:
    """Check a user seed (any size of non-negative integer), or draw one from the OS."""
    if seed is None:
        return secrets.randbits(63)
    if isinstance(seed, bool):
        raise ParameterError(f"Invalid value for --seed: expected a non-negative integer (got {seed!r}).")
    if isinstance(seed, str):
        text = seed.strip().replace("_", "")
        if not text.isdigit():
            raise ParameterError(
                f"Invalid value for --seed: expected a non-negative integer, e.g. --seed 42 (got {seed!r})."
            )
        seed = int(text)
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


def derive_seed(master: int, name: str) -> int:
    """A tensor's seed from a master seed and its name (batch files): order-independent."""
    import numpy as np

    digest = hashlib.sha256(name.encode("utf-8")).digest()
    words = tuple(int.from_bytes(digest[i : i + 4], "little") for i in range(0, 32, 4))
    state = np.random.SeedSequence(master, spawn_key=(2, *words)).generate_state(2, np.uint64)
    return (int(state[0]) << 64 | int(state[1])) >> 1
