"""``.npy``: numpy's own format, header first, then the raw C-order data.

bfloat16 is refused: numpy cannot name it in an ``.npy`` header and would silently
store 2-byte void instead. An ``.npy`` file holds one array and no metadata, so
``--name`` and provenance do not apply; the file is replaced as a whole.
"""

from __future__ import annotations

from typing import IO, Any

import numpy as np

from weightgen import dtypes
from weightgen.errors import DtypeError
from weightgen.formats.base import Entry, FileWriter

COMPRESSIONS: tuple[str, ...] = ()


def check_dtype(dtype: str, format_name: str = ".npy") -> None:
    if dtype == "bfloat16":
        raise DtypeError(
            f"bfloat16 cannot be stored in {format_name}: numpy would silently turn it into "
            "2-byte void; write .safetensors or .h5 instead."
        )


def entry_name(name: str) -> str:
    return name


def read_entries(path: str) -> dict[str, dict[str, Any] | None]:
    """An ``.npy`` file has no named entries and no provenance."""
    return {}


def header(entry: Entry) -> bytes:
    """The ``.npy`` header for ``entry`` (format 1.0, or 2.0 when the header is huge)."""
    import io

    fields = {"descr": np.lib.format.dtype_to_descr(dtypes.numpy_dtype(entry.dtype)),
              "fortran_order": False, "shape": tuple(entry.shape)}
    buffer = io.BytesIO()
    try:
        np.lib.format.write_array_header_1_0(buffer, fields)
    except ValueError:
        buffer = io.BytesIO()
        np.lib.format.write_array_header_2_0(buffer, fields)
    return buffer.getvalue()


def raw(block: Any) -> memoryview:
    """A block's bytes, C order, without a copy when it is already contiguous.

    (Viewed as bytes first: the buffer protocol cannot export ml_dtypes' bfloat16.)
    """
    return memoryview(np.ascontiguousarray(block).reshape(-1).view(np.uint8))


class NpyWriter(FileWriter):
    """Writes one ``.npy`` file (atomically) or streams it to stdout."""

    def __init__(self, target: str, entry: Entry, force: bool = False) -> None:
        check_dtype(entry.dtype)
        super().__init__(target, entry, force)

    def _begin(self, out: IO[bytes], existing: IO[bytes] | None) -> None:
        self._out = out
        out.write(header(self.entry))

    def _put(self, block: Any) -> None:
        self._out.write(raw(block))


WRITER = NpyWriter
