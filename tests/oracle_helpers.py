"""What the exact-stream oracles (``test_oracle_rng_*.py``) share: how many cases, which seeds."""

from __future__ import annotations

import random

#: Random cases per initializer compared byte for byte with the framework.
CASES_PER_INITIALIZER = 50

#: Seeds at the edges of the 32-bit range the exact streams take.
EDGE_SEEDS = (0, 1, 2**31 - 1, 2**31, 2**32 - 1)


def random_seed(rng: random.Random) -> int:
    """A random 32-bit seed, an edge one one time in ten."""
    if rng.random() < 0.1:
        return rng.choice(EDGE_SEEDS)
    return rng.randrange(2**32)
