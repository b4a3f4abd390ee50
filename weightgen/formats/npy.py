"""``.npy``: numpy's own format, header first, then the raw C-order data.

bfloat16 is refused: numpy cannot name it in an ``.npy`` header and would silently
store 2-byte void instead. An ``.npy`` file holds one array and no metadata, so
``--name`` and provenance do not apply; the file is replaced as a whole.

Reading parses the header here (a Python literal, as numpy does, with numpy's size
limit) rather than with ``np.load``: a pipe can be read, no pickle is ever touched,
and the values stream in chunks (``.npz`` members reuse the same parser).
"""

from __future__ import annotations

import ast
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO, Any

import numpy as np

from weightgen import dtypes
from weightgen.errors import DtypeError, UsageError
from weightgen.formats.base import (NPY_MAGIC, PICKLED, Entry, FileWriter, Reader, Refused, read_exactly,
                                    read_up_to, read_values)

#: numpy's own limit on a header (``np.load`` refuses larger ones as possibly unsafe to parse).
MAX_HEADER = 10000

COMPRESSIONS: tuple[str, ...] = ()


def check_dtype(dtype: str, format_name: str = ".npy") -> None:
    if dtype == "bfloat16":
        raise DtypeError(
            f"bfloat16 cannot be stored in {format_name}: numpy would silently turn it into "
            "2-byte void; write .safetensors or .h5 instead."
        )


def entry_name(name: str) -> str:
    return name


def check_count(count: int) -> None:
    """An ``.npy`` file holds exactly one array."""
    if count != 1:
        raise UsageError(f".npy holds one array, not {count}; write a container (.npz, .h5, .safetensors) "
                         "or one .npy per tensor (batch --output-dir).")


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

    def __init__(self, target: str, entries: Sequence[Entry], force: bool = False) -> None:
        check_count(len(entries))
        for entry in entries:
            check_dtype(entry.dtype)
        super().__init__(target, entries, force)

    def _begin(self, out: IO[bytes], existing: IO[bytes] | None) -> None:
        self._out = out

    def _start(self, entry: Entry) -> None:
        self._out.write(header(entry))

    def _put(self, block: Any) -> None:
        self._out.write(raw(block))


WRITER = NpyWriter


@dataclass(frozen=True)
class Header:
    """What an ``.npy`` header says."""

    shape: tuple[int, ...]
    dtype: Any
    fortran_order: bool
    #: Bytes from the start of the array to its data.
    size: int

    @property
    def data_bytes(self) -> int:
        return math.prod(self.shape) * self.dtype.itemsize


class NotNpy(ValueError):
    """The bytes do not start with the ``.npy`` magic number."""


def read_header(stream: IO[bytes]) -> Header:
    """Parse an ``.npy`` header from ``stream`` (left at the data); ValueError says what is wrong."""
    magic = read_up_to(stream, 8)
    if not magic.startswith(NPY_MAGIC):
        raise NotNpy("no .npy magic number")
    if len(magic) < 8:
        raise ValueError("truncated header")
    major, minor = magic[6], magic[7]
    if major == 1:
        width = 2
    elif major in (2, 3):
        width = 4
    else:
        raise ValueError(f"unknown .npy format version {major}.{minor}")
    length = int.from_bytes(read_exactly(stream, width, "header"), "little")
    if length > MAX_HEADER:
        raise ValueError(f"header of {length} bytes is implausible (numpy allows {MAX_HEADER})")
    raw = read_exactly(stream, length, "header")
    try:
        fields = ast.literal_eval(raw.decode("utf-8" if major == 3 else "latin-1"))
    except Exception:
        raise ValueError("header is not a Python literal") from None
    if not isinstance(fields, dict) or set(fields) != {"descr", "fortran_order", "shape"}:
        raise ValueError("header lacks descr, fortran_order and shape")
    shape, fortran_order = fields["shape"], fields["fortran_order"]
    if not isinstance(shape, tuple) or not all(type(d) is int and d >= 0 for d in shape):
        raise ValueError(f"bad shape {shape!r} in header")
    if not isinstance(fortran_order, bool):
        raise ValueError("bad fortran_order in header")
    try:
        dtype = np.lib.format.descr_to_dtype(fields["descr"])
    except Exception:
        raise ValueError(f"unknown dtype {fields['descr']!r} in header") from None
    if dtype.hasobject:
        raise Refused(PICKLED)
    return Header(shape, dtype, fortran_order, 8 + width + length)


class NpyReader(Reader):
    """The one unnamed array of an ``.npy`` file or stream."""

    format_label = "npy"

    def _entries(self) -> Any:
        stream = self.source.stream
        header = read_header(stream)
        if self.source.seekable:
            available = stream.seek(0, os.SEEK_END) - header.size
            if available < header.data_bytes:
                raise ValueError(f"truncated: the header promises {header.data_bytes} bytes of data, "
                                 f"the file holds {available}")

        def read(max_bytes: int) -> Any:
            if self.source.seekable:
                stream.seek(header.size)
            return read_values(stream, header.dtype, math.prod(header.shape), max_bytes)

        yield self.stored(None, header.shape, header.dtype, None, read, header.fortran_order)


READER = NpyReader
