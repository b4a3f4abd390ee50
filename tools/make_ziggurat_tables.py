"""Build the ziggurat tables weightgen ships for its hot intervals.

    python tools/make_ziggurat_tables.py

Writes ``weightgen/ziggurat_tables.npz``: for each interval of
``weightgen.kernels.SHIPPED_INTERVALS`` (the plain normal and the ±2σ truncated normal),
the arrays ``kernels.build_table`` computes from scratch, under ``<interval name>/<field>``. The
tables are part of the stream contract: if this script writes different numbers, what a
seed gives has changed (bump ``seeding.STREAM_VERSION``).
"""

from __future__ import annotations

import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from weightgen import kernels  # noqa: E402


def build() -> dict[str, np.ndarray]:
    arrays = {}
    for name, (a, b) in kernels.SHIPPED_INTERVALS.items():
        for key, value in kernels.table_arrays(kernels.build_table(a, b, kernels.build_layers)).items():
            arrays[f"{name}/{key}"] = value
    return arrays


def main() -> None:
    path = os.path.join(os.path.dirname(kernels.__file__), kernels.TABLES_FILE)
    np.savez(path, **build())
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
