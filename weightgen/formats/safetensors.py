"""``.safetensors``: an 8-byte little-endian header length, a JSON header, then the data.

Written by hand rather than with the ``safetensors`` library, which needs every tensor
in memory: the header is known before any data (names, dtypes, shapes, offsets), so a
new tensor streams straight after it. Adding to a file writes a new header and copies
every other tensor's bytes unchanged (several new tensors share one header and one
rewrite). Tensors are laid out as the library lays them out (largest alignment first,
then by name), so each starts aligned to its element size for zero-copy loading.
``__metadata__`` keeps whatever it held, gains each entry's provenance under
``weightgen:<name>`` (a JSON string), and ``format: pt`` when it has no ``format`` yet, as
``safetensors.torch`` writes it (some loaders insist on it).

Reading takes the tensors in the order of their data, so stdin is read straight
through; every tensor's byte span must match its shape and dtype, and spans must not
overlap.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO, Any

from weightgen.errors import DtypeError, OutputError, ParameterError
from weightgen.formats import npy
from weightgen.formats.atomic import copy_range
from weightgen.formats.base import (Entry, FileWriter, Reader, StoredEntry, parse_provenance, provenance_text,
                                    read_exactly, read_values, skip_bytes)

COMPRESSIONS: tuple[str, ...] = ()
METADATA = "__metadata__"
PROVENANCE_PREFIX = "weightgen:"
#: The safetensors library refuses larger headers.
MAX_HEADER = 100_000_000
CODES = {"float16": "F16", "bfloat16": "BF16", "float32": "F32", "float64": "F64",
         "int8": "I8", "int16": "I16", "int32": "I32", "int64": "I64",
         "uint8": "U8", "uint16": "U16", "uint32": "U32", "uint64": "U64", "complex64": "C64"}


def check_dtype(dtype: str) -> None:
    if dtype not in CODES:
        raise DtypeError(f"{dtype} cannot be stored in .safetensors; write .npy, .npz or .h5 instead.")


def entry_name(name: str) -> str:
    if name == METADATA:
        raise ParameterError(f"Invalid value for --name: {METADATA} is reserved in .safetensors; "
                             "choose another name.")
    return name


@dataclass(frozen=True)
class Tensor:
    """One tensor of a file: where its bytes are in the data section."""

    name: str
    dtype: str
    shape: list[int]
    start: int
    end: int

    @property
    def nbytes(self) -> int:
        return self.end - self.start

    @property
    def alignment(self) -> int:
        count = math.prod(self.shape)
        return max(1, self.nbytes // count) if count else 1


@dataclass(frozen=True)
class Header:
    tensors: list[Tensor]
    metadata: dict[str, str] | None
    #: Where the data section starts in the file.
    data_start: int


def parse_header(stream: IO[bytes]) -> Header:
    """The header at the start of ``stream`` (left at the data); ValueError says what is wrong."""
    size = int.from_bytes(read_exactly(stream, 8, "header length"), "little")
    if size > MAX_HEADER:
        raise ValueError(f"header length {size} is implausible")
    text = read_exactly(stream, size, "header")
    try:
        header = json.loads(text)
    except (ValueError, UnicodeDecodeError) as error:
        raise ValueError(f"header is not JSON: {error}") from None
    if not isinstance(header, dict):
        raise ValueError("header is not a JSON object")
    metadata = header.pop(METADATA, None)
    if metadata is not None and not (isinstance(metadata, dict)
                                     and all(isinstance(v, str) for v in metadata.values())):
        raise ValueError("__metadata__ is not a map of strings")
    tensors = []
    for name, info in header.items():
        try:
            start, end = info["data_offsets"]
            tensor = Tensor(name, str(info["dtype"]), [int(d) for d in info["shape"]], int(start), int(end))
        except (TypeError, KeyError, ValueError):
            raise ValueError(f"entry {name!r} is malformed") from None
        if not 0 <= tensor.start <= tensor.end:
            raise ValueError(f"entry {name!r} has bad data offsets")
        tensors.append(tensor)
    return Header(tensors, metadata, 8 + size)


def check_layout(header: Header) -> None:
    """Refuse a header whose tensors overlap, or whose byte ranges do not fit their shape and
    dtype (a dtype weightgen does not know is left alone), before any tensor is used."""
    previous: Tensor | None = None
    for tensor in sorted(header.tensors, key=lambda t: (t.start, t.end)):
        if previous is not None and tensor.start < previous.end:
            raise ValueError(f"tensors {previous.name!r} and {tensor.name!r} overlap")
        previous = tensor
        if any(d < 0 for d in tensor.shape):
            raise ValueError(f"entry {tensor.name!r} has a negative dimension")
        dtype = numpy_dtype(tensor.dtype)
        if dtype is not None and math.prod(tensor.shape) * dtype.itemsize != tensor.nbytes:
            raise ValueError(f"entry {tensor.name!r} spans {tensor.nbytes} bytes, but shape {list(tensor.shape)} "
                             f"of {tensor.dtype} needs {math.prod(tensor.shape) * dtype.itemsize}")


def read_header(file: IO[bytes]) -> Header:
    """The parsed, checked header of a file, whose data must all be there; ValueError says
    what is wrong."""
    file.seek(0)
    header = parse_header(file)
    check_layout(header)
    file.seek(0, 2)
    if header.tensors and file.tell() < header.data_start + max(t.end for t in header.tensors):
        raise ValueError("truncated data")
    return header


def read_entries(path: str) -> dict[str, dict[str, Any] | None]:
    """Tensor names and the provenance stored for each in ``__metadata__``."""
    with open(path, "rb") as file:
        header = read_header(file)
    metadata = header.metadata or {}
    return {t.name: parse_provenance(metadata.get(PROVENANCE_PREFIX + t.name)) for t in header.tensors}


class SafetensorsWriter(FileWriter):
    """Adds (or with ``force`` replaces) tensors of a ``.safetensors`` file, or streams a new one.

    The header, written first, places every tensor; the new ones are then written in
    that layout's order (:attr:`order`), the kept ones copied around them.
    """

    merges = True

    def __init__(self, target: str, entries: Sequence[Entry], force: bool = False) -> None:
        for entry in entries:
            check_dtype(entry.dtype)
            entry_name(entry.name)
        super().__init__(target, entries, force)

    def _begin(self, out: IO[bytes], existing: IO[bytes] | None) -> None:
        from weightgen import dtypes

        names = {entry.name for entry in self.entries}
        kept: list[Tensor] = []
        metadata: dict[str, str] = {}
        if existing is not None:
            try:
                old = read_header(existing)
            except (ValueError, OSError) as error:
                raise self.corrupt(error) from None
            self.refuse_duplicates(t.name for t in old.tensors if t.name in names)
            kept = [t for t in old.tensors if t.name not in names]
            metadata = dict(old.metadata or {})
            self._data_start = old.data_start
        metadata.setdefault("format", "pt")
        new: dict[str, Entry] = {}
        tensors = list(kept)
        for entry in self.entries:
            key = PROVENANCE_PREFIX + entry.name
            metadata.pop(key, None)
            if entry.metadata:
                metadata[key] = provenance_text(entry.metadata)
            tensor = Tensor(entry.name, CODES[entry.dtype], list(entry.shape), 0,
                            math.prod(entry.shape) * dtypes.itemsize(entry.dtype))
            tensors.append(tensor)
            new[entry.name] = entry
        layout = sorted(tensors, key=lambda t: (-t.alignment, t.name))
        header: dict[str, Any] = {METADATA: metadata}
        position = 0
        for tensor in layout:
            header[tensor.name] = {"dtype": tensor.dtype, "shape": tensor.shape,
                                   "data_offsets": [position, position + tensor.nbytes]}
            position += tensor.nbytes
        text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
        text += b" " * (-(8 + len(text)) % 8)  # data starts 8-byte aligned
        out.write(len(text).to_bytes(8, "little") + text)
        self._out = out
        #: Tensors still to write or copy, in file order; new ones are Entry objects.
        self._layout: list[Tensor | Entry] = [new.get(t.name, t) for t in layout]
        self.order = [step for step in self._layout if isinstance(step, Entry)]
        self._sizes = {t.name: t.nbytes for t in layout}

    def _start(self, entry: Entry) -> None:
        self._copy_until(entry)
        self._remaining = self._sizes[entry.name]

    def _copy_until(self, entry: Entry | None) -> None:
        """Copy the kept tensors that come before ``entry`` (before the end when None)."""
        while self._layout and self._layout[0] is not entry:
            tensor = self._layout.pop(0)
            assert isinstance(tensor, Tensor) and self._existing is not None, "entries written out of order"
            copy_range(self._existing, self._data_start + tensor.start, tensor.nbytes, self._out)
        if self._layout:
            self._layout.pop(0)

    def _put(self, block: Any) -> None:
        data = npy.raw(block)
        self._remaining -= data.nbytes
        self._out.write(data)

    def _finish(self, entry: Entry) -> None:
        if self._remaining != 0:
            raise OutputError(f"cannot write {self.target}: {entry.name} got the wrong number of "
                              f"bytes ({self._remaining} missing)")

    def _end(self) -> None:
        self._copy_until(None)


WRITER = SafetensorsWriter

#: Dtype codes of the safetensors format -> numpy dtype names (ml_dtypes for the 8-bit floats).
NUMPY_DTYPES = {"BOOL": "bool", "U8": "uint8", "I8": "int8", "U16": "<u2", "I16": "<i2", "F16": "<f2",
                "BF16": "bfloat16", "U32": "<u4", "I32": "<i4", "F32": "<f4", "U64": "<u8", "I64": "<i8",
                "F64": "<f8", "C64": "<c8", "F8_E4M3": "float8_e4m3fn", "F8_E5M2": "float8_e5m2"}


def numpy_dtype(code: str) -> Any:
    """The numpy dtype of a safetensors dtype code, or None for one weightgen does not know."""
    import numpy as np

    name = NUMPY_DTYPES.get(code)
    if name is None:
        return None
    if name.startswith(("bfloat", "float8")):
        import ml_dtypes

        return np.dtype(getattr(ml_dtypes, name))
    return np.dtype(name)


class SafetensorsReader(Reader):
    """Every tensor, in the order of their data (so a stream is read straight through)."""

    format_label = "safetensors"

    def _entries(self) -> Any:
        stream, seekable = self.source.stream, self.source.seekable
        if seekable:
            header = read_header(stream)
        else:
            header = parse_header(stream)
            check_layout(header)
        provenance = header.metadata or {}
        position = 0
        for tensor in sorted(header.tensors, key=lambda t: (t.start, t.end)):
            dtype = numpy_dtype(tensor.dtype)
            stored = parse_provenance(provenance.get(PROVENANCE_PREFIX + tensor.name))
            shape = tuple(tensor.shape)
            if dtype is None:
                yield StoredEntry(tensor.name, shape, None, stored, skipped=f"dtype {tensor.dtype} is unknown")
                continue
            count = math.prod(shape)

            def read(max_bytes: int, tensor: Tensor = tensor, dtype: Any = dtype, count: int = count) -> Any:
                nonlocal position
                if seekable:
                    stream.seek(header.data_start + tensor.start)
                else:
                    skip_bytes(stream, tensor.start - position, seekable=False)
                    position = tensor.end  # set before reading: a half-read tensor cannot be reread
                return read_values(stream, dtype, count, max_bytes)

            yield self.stored(tensor.name, shape, dtype, stored, read)


READER = SafetensorsReader
