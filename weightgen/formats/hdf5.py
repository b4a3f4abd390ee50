"""HDF5 (``.h5``/``.hdf5``): a chunked dataset at the ``--name`` path, provenance as attributes.

Adding to a file copies the old file byte for byte into the temporary file and adds the
dataset there with h5py, so every other object, attribute and link stays as it was.
bfloat16 is stored the way Keras 3 stores it (2-byte opaque elements and a
``dtype="bfloat16"`` attribute), so ``keras`` reads it back as bfloat16.

Two HDF5 hazards shape this module. HDF5 crashes the process (segmentation fault) when
a file is closed after one of its writes failed (a full disk), so HDF5 writes through
:class:`FailSafeFile` (h5py's file-object driver), which records an I/O error instead of
reporting it to HDF5 and drops everything after it; the error is raised once HDF5 is
done. And Python must not raise inside HDF5, so Ctrl-C is held back during each call
into it (:func:`~weightgen.formats.atomic.deferred_interrupts`), one block at a time.

Reading walks every dataset (groups recursively, links not followed out of the file)
and reads each in C-order runs of whole chunks through a generous chunk cache, so each
stored chunk is decompressed once. Datasets that hold no numbers (strings, references,
compound records), or whose values live in other files (external raw storage, virtual
datasets: a hostile file could point them anywhere), are listed as skipped.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import IO, Any

import h5py
import numpy as np

from weightgen import dtypes
from weightgen.errors import OutputError, ParameterError
from weightgen.formats.atomic import copy_range, deferred_interrupts
from weightgen.formats.base import Entry, FileWriter, Reader, StoredEntry

COMPRESSIONS = ("gzip", "lzf")
#: Bytes of one chunk (HDF5 suggests about 1 MiB).
CHUNK_BYTES = 1 << 20
#: HDF5's chunk cache while writing: a few chunks, so a chunk split between two blocks
#: is completed in memory.
CACHE_BYTES = 16 << 20
#: HDF5's chunk cache while reading: a run of whole chunks stays cached until it is read.
READ_CACHE_BYTES = 64 << 20
#: Provenance values stored as JSON text (the others are plain strings and numbers).
JSON_ATTRIBUTES = ("params", "resolved", "shape")


def check_dtype(dtype: str) -> None:
    """HDF5 stores every dtype weightgen makes."""


def entry_name(name: str) -> str:
    """The dataset path: leading, trailing and repeated slashes dropped; no ``.``/``..``."""
    parts = [part for part in name.split("/") if part]
    if not parts or any(part in (".", "..") for part in parts):
        raise ParameterError(f"Invalid value for --name: {name!r} is not an HDF5 path; use names "
                             "separated by '/', such as dense_1/kernel.")
    return "/".join(parts)


def check_names(paths: Sequence[str]) -> None:
    """Refuse dataset paths of one write that cannot coexist: one cannot be a dataset and
    also the group holding another (``dense`` and ``dense/kernel``)."""
    taken = set(paths)
    for path in paths:
        parts = path.split("/")
        for depth in range(1, len(parts)):
            prefix = "/".join(parts[:depth])
            if prefix in taken:
                raise ParameterError(f"{prefix!r} and {path!r} cannot both be HDF5 datasets: {prefix!r} would "
                                     "have to be a group holding the other; rename one.")


def attributes(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """Provenance as HDF5 attributes: strings and numbers as they are, the rest as JSON."""
    out: dict[str, Any] = {}
    for key, value in metadata.items():
        plain = isinstance(value, (str, float)) or (
            isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63)
        out[key] = value if plain and key not in JSON_ATTRIBUTES else json.dumps(value)
    return out


def provenance_from(attrs: Mapping[str, Any]) -> dict[str, Any] | None:
    """The provenance stored on a dataset, or None when weightgen did not write it."""
    if "initializer" not in attrs or "stream_version" not in attrs:
        return None
    out: dict[str, Any] = {}
    for key, value in attrs.items():
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        elif isinstance(value, np.ndarray):
            value = value.tolist()
        elif isinstance(value, np.generic):
            value = value.item()
        if key in JSON_ATTRIBUTES and isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                pass
        out[key] = value
    return out


def read_entries(path: str) -> dict[str, dict[str, Any] | None]:
    """Every dataset's path and provenance."""
    found: dict[str, dict[str, Any] | None] = {}

    def visit(name: str, item: Any) -> None:
        if isinstance(item, h5py.Dataset):
            found[name] = provenance_from(item.attrs)

    # No HDF5 file lock: weightgen replaces files whole, so a reader never sees a half-written
    # one, and HDF5's lock would make concurrent updates fail ("unable to lock file").
    with h5py.File(path, "r", locking=False) as file:
        file.visititems(visit)
    return found


def chunk_shape(shape: tuple[int, ...], itemsize: int, target: int = CHUNK_BYTES) -> tuple[int, ...]:
    """About ``target`` bytes per chunk, filled from the last axis: every chunk is then
    one contiguous run of the C-order tensor, and a sequential write touches each once."""
    budget = max(1, target // itemsize)
    chunks = [1] * len(shape)
    for axis in reversed(range(len(shape))):
        chunks[axis] = min(shape[axis], budget)
        if chunks[axis] < shape[axis]:
            break
        budget //= chunks[axis]
    return tuple(chunks)


def flat_pieces(shape: tuple[int, ...], start: int, stop: int) -> Iterator[tuple[slice, ...]]:
    """Rectangular selections covering C-order elements ``[start, stop)``, in order.

    A run of the flattened tensor is at most a partial row, whole rows and a partial row
    at every level of nesting, so a block becomes a handful of HDF5 hyperslab writes.
    """

    def walk(prefix: tuple[slice, ...], dims: tuple[int, ...], lo: int, hi: int) -> Iterator[tuple[slice, ...]]:
        if lo >= hi:
            return
        if len(dims) == 1:
            yield prefix + (slice(lo, hi),)
            return
        inner = math.prod(dims[1:])
        first, last = lo // inner, (hi - 1) // inner
        if first == last:
            yield from walk(prefix + (slice(first, first + 1),), dims[1:], lo - first * inner, hi - first * inner)
            return
        if lo % inner:
            yield from walk(prefix + (slice(first, first + 1),), dims[1:], lo % inner, inner)
            first += 1
        whole_end = hi // inner
        if whole_end > first:
            yield prefix + (slice(first, whole_end),) + tuple(slice(0, d) for d in dims[1:])
        if hi % inner:
            yield from walk(prefix + (slice(whole_end, whole_end + 1),), dims[1:], 0, hi % inner)

    if not shape:
        if start < stop:
            yield ()
        return
    yield from walk((), tuple(shape), start, stop)


class FailSafeFile:
    """The file HDF5 writes through: never reports an error to HDF5.

    The first I/O error is kept in :attr:`error` and every later write is dropped (the
    temporary file is discarded anyway); reads past the end give zeros, as HDF5's own
    POSIX driver does.
    """

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.position = 0
        self.error: OSError | None = None

    def _fail(self, error: OSError) -> None:
        if self.error is None:
            self.error = error

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        if whence == os.SEEK_END:
            try:
                offset += os.fstat(self.fd).st_size
            except OSError as error:
                self._fail(error)
        elif whence == os.SEEK_CUR:
            offset += self.position
        self.position = offset
        return offset

    def tell(self) -> int:
        return self.position

    def read(self, size: int = -1) -> bytes:
        if size < 0:
            size = max(0, self.seek(0, os.SEEK_END) - self.position)
        data = b""
        try:
            while len(data) < size:
                more = os.pread(self.fd, size - len(data), self.position + len(data))
                if not more:
                    break
                data += more
        except OSError as error:
            self._fail(error)
        self.position += size
        return data + bytes(size - len(data))

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        view[:] = self.read(len(view))
        return len(view)

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        done = 0
        if self.error is None:
            try:
                while done < len(view):
                    done += os.pwrite(self.fd, view[done:], self.position + done)
            except OSError as error:
                self._fail(error)
        self.position += len(view)
        return len(view)

    def truncate(self, size: int | None = None) -> int:
        size = self.position if size is None else size
        if self.error is None:
            try:
                os.ftruncate(self.fd, size)
            except OSError as error:
                self._fail(error)
        return size

    def flush(self) -> None:
        """Writes go straight to the file descriptor."""

    def raise_error(self) -> None:
        if self.error is not None:
            raise self.error


class HDF5Writer(FileWriter):
    """Adds (or with ``force`` replaces) datasets of an HDF5 file.

    Every dataset is created when the writer opens (HDF5 allocates chunks only when data
    arrive), so a name that cannot be added is refused before any data are written.
    """

    merges = True
    to_stdout = False

    def __init__(self, target: str, entries: Sequence[Entry], force: bool = False) -> None:
        self._file: h5py.File | None = None
        self._paths = {entry.name: entry_name(entry.name) for entry in entries}
        check_names(list(self._paths.values()))
        super().__init__(target, entries, force)

    def _begin(self, out: IO[bytes], existing: IO[bytes] | None) -> None:
        if existing is not None:
            copy_range(existing, 0, os.fstat(existing.fileno()).st_size, out)
        out.flush()
        self._sink = FailSafeFile(out.fileno())
        # A new file keeps track of its free space, so that the space of a dataset replaced
        # later (--force) is reused instead of lost (HDF5 forgets it otherwise).
        options = {"fs_strategy": "fsm", "fs_persist": True} if existing is None else {}
        with deferred_interrupts():
            try:
                self._file = h5py.File(self._sink, "r+" if existing is not None else "w",
                                       rdcc_nbytes=CACHE_BYTES, rdcc_w0=1.0, **options)
            except OSError as error:
                self._sink.raise_error()
                raise self.corrupt(_first_line(error)) from None
            self._datasets = {entry.name: self._create(self._file, entry) for entry in self.entries}
        self._sink.raise_error()

    def _create(self, file: h5py.File, entry: Entry) -> h5py.Dataset:
        name = self._paths[entry.name]
        parts = name.split("/")
        for depth in range(1, len(parts)):
            prefix = "/".join(parts[:depth])
            if prefix in file and not isinstance(file[prefix], h5py.Group):
                raise OutputError(f"cannot add {name!r} to {self.target}: {prefix!r} is a dataset, not a "
                                  "group; choose another --name.")
        if name in file:
            if not isinstance(file[name], h5py.Dataset):
                raise OutputError(f"cannot add {name!r} to {self.target}: it is a group there; choose "
                                  "another --name.")
            self.refuse_duplicates([name])
            del file[name]
        options: dict[str, Any] = {"track_times": False}
        if entry.shape:
            options["chunks"] = chunk_shape(entry.shape, dtypes.itemsize(entry.dtype))
            if entry.compression is not None:
                options["compression"] = entry.compression
        try:
            dataset = file.create_dataset(name, shape=entry.shape, dtype=dtypes.numpy_dtype(entry.dtype),
                                          **options)
        except (ValueError, TypeError, KeyError) as error:
            raise OutputError(f"cannot add {name!r} to {self.target}: {_first_line(error)}") from None
        return dataset

    def _start(self, entry: Entry) -> None:
        self._dataset = self._datasets[entry.name]
        self._position = 0

    def _put(self, block: Any) -> None:
        flat = np.ascontiguousarray(block).reshape(-1)
        start = self._position
        shape = self._dataset.shape
        with deferred_interrupts():
            for index in flat_pieces(shape, start, start + flat.size):
                piece = tuple(s.stop - s.start for s in index)
                count = math.prod(piece)
                if index:
                    self._dataset[index] = flat[self._position - start:][:count].reshape(piece)
                else:
                    self._dataset[()] = flat[0]
                self._position += count
        self._sink.raise_error()

    def _finish(self, entry: Entry) -> None:
        """Check the count, then add the provenance attributes: after the data, so the chunks
        can take the space a replaced dataset freed (attributes first would fragment it)."""
        if self._position != math.prod(entry.shape):
            raise OutputError(f"cannot write {self.target}: {self._paths[entry.name]} got {self._position} of "
                              f"{math.prod(entry.shape)} values")
        with deferred_interrupts():
            attrs = self._dataset.attrs
            attrs.update(attributes(entry.metadata))
            if entry.dtype == "bfloat16":
                attrs["dtype"] = "bfloat16"  # what Keras looks for to read opaque data as bfloat16
        self._sink.raise_error()

    def _end(self) -> None:
        with deferred_interrupts():
            assert self._file is not None
            self._file.close()
            self._file = None
        self._sink.raise_error()

    def _discard(self) -> None:
        if self._file is None:
            return
        self._sink.error = self._sink.error or OSError("discarded")  # write nothing more
        with deferred_interrupts():
            try:
                self._file.close()
            finally:
                self._file = None


def _first_line(error: BaseException) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


WRITER = HDF5Writer


class HDF5Reader(Reader):
    """Every dataset of the file, in the order HDF5 visits them."""

    format_label = "hdf5"

    def __init__(self, source: Any) -> None:
        super().__init__(source)
        self._file: h5py.File | None = None

    def _entries(self) -> Iterator[StoredEntry]:
        path = self.source.path
        with self._native():
            self._file = h5py.File(path if path is not None else self.source.stream, "r", locking=False,
                                   rdcc_nbytes=READ_CACHE_BYTES)
            names: list[str] = []
            self._file.visititems(lambda name, item: names.append(name) if isinstance(item, h5py.Dataset) else None)
        for name in names:
            with self._native():
                dataset = self._file[name]
            yield self._entry(name, dataset)

    def _native(self) -> Any:
        """Ctrl-C held back while HDF5 calls into Python (a file object, e.g. spooled stdin)."""
        from contextlib import nullcontext

        return deferred_interrupts() if self.source.path is None else nullcontext()

    def _entry(self, name: str, dataset: h5py.Dataset) -> StoredEntry:
        try:
            provenance = provenance_from(dataset.attrs)
        except Exception:  # attributes of a type h5py cannot read: no provenance
            provenance = None
        shape, dtype = dataset.shape, dataset.dtype
        if shape is None:
            return StoredEntry(name, (), None, provenance, skipped="an empty (null) dataspace holds no values")
        if dtype.hasobject:
            return StoredEntry(name, tuple(shape), dtype, provenance,
                               skipped="variable-length strings or references, not numbers")
        if dataset.external or dataset.is_virtual:
            return StoredEntry(name, tuple(shape), dtype, provenance,
                               skipped="its values are stored in other files (external or virtual), "
                                       "which inspect does not open")
        opaque = dtype.kind == "V" and dtype.names is None and dtype.itemsize == 2 and _is_bfloat16(dataset)
        values = dtypes.numpy_dtype("bfloat16") if opaque else dtype
        return self.stored(name, tuple(shape), values, provenance,
                           lambda max_bytes: self._chunks(dataset, values, opaque, max_bytes))

    def _chunks(self, dataset: h5py.Dataset, dtype: Any, opaque: bool, max_bytes: int) -> Iterator[Any]:
        shape = tuple(dataset.shape)
        count = math.prod(shape)
        per = max(1, max_bytes // dtype.itemsize)
        if dataset.chunks and shape:
            run = dataset.chunks[0] * math.prod(shape[1:])  # elements in a row of whole chunks
            if 0 < run <= per:
                per -= per % run
        for start in range(0, count, per):
            for index in flat_pieces(shape, start, min(count, start + per)):
                with self._native():
                    values = np.asarray(dataset[index] if index else dataset[()])
                yield (values.view(dtype) if opaque else values).reshape(-1)

    def close(self) -> None:
        if self._file is not None:
            with self._native():
                self._file.close()
            self._file = None


def _is_bfloat16(dataset: h5py.Dataset) -> bool:
    """Keras's mark of bfloat16 stored as 2-byte opaque data."""
    try:
        mark = dataset.attrs.get("dtype")
    except Exception:
        return False
    if isinstance(mark, bytes):
        mark = mark.decode("ascii", "replace")
    return mark == "bfloat16"


READER = HDF5Reader
