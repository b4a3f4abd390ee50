"""The writer and reader interfaces every format implements, and what they share.

A writer is opened for one or more entries of one target. It receives each tensor as
successive C-order blocks (so a tensor larger than memory can stream through it), then
:meth:`Writer.commit` makes the result visible in one rename, however many entries were
added; :meth:`Writer.abort` (also on any exception) leaves the target as it was. Writing
one tensor is the special case of one entry.

A reader (:class:`Reader`) walks the entries of a file or a one-way stream (stdin) in
file order; each :class:`StoredEntry` tells its name, shape, dtype and provenance, and
gives its values as successive chunks of bounded size, so a file larger than memory can
be inspected. Raw formats are read with ``readinto`` into each chunk rather than through
a memory map: mapped pages count in the process's resident memory as they are touched
(a 6 GiB scan would show 6 GiB), and a pipe cannot be mapped at all. Everything a hostile
or damaged file can make a reader raise becomes one :class:`~weightgen.errors.InputError`
line; no size a file claims is allocated before the bytes are there.

Each format is one module (``npy``, ``npz``, ``hdf5``, ``safetensors``) that provides:

- ``WRITER``: its :class:`FileWriter` subclass;
- ``READER``: its :class:`Reader` subclass;
- ``COMPRESSIONS``: the ``--compression`` values it takes;
- ``check_dtype(dtype)``: refuse a dtype it cannot store (:class:`DtypeError`);
- ``entry_name(name)``: the entry's name as stored (checked, maybe normalised);
- ``check_names(names)`` (optional): refuse stored names that cannot coexist in one file;
- ``read_entries(path)``: the entries already in a file, name -> provenance or None.
"""

from __future__ import annotations

import errno
import os
import stat
import sys
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Any, ClassVar, TypeVar

from weightgen.errors import InputError, OutputError, UsageError, WeightgenError, write_failure
from weightgen.formats.atomic import AtomicFile, TargetLock, resolve_target

#: Format name -> file extensions (the first is the canonical one).
EXTENSIONS: dict[str, tuple[str, ...]] = {
    "npy": (".npy",),
    "npz": (".npz",),
    "hdf5": (".h5", ".hdf5"),
    "safetensors": (".safetensors",),
}
FORMATS = tuple(EXTENSIONS)
STDOUT = "-"


@dataclass(frozen=True)
class Entry:
    """One tensor to write: where it goes inside the file, and what it is."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    #: Provenance (initializer, params, seed, versions), for formats that keep metadata.
    metadata: Mapping[str, Any] = field(default_factory=dict)
    #: ``gzip`` or ``lzf`` where the format compresses (HDF5; ``gzip`` also for npz).
    compression: str | None = None


def format_for(path: str | None, explicit: str | None) -> str | None:
    """The format: ``--format`` if given, else from the extension; stdout defaults to npy."""
    if explicit is not None:
        name = explicit.lower()
        if name not in EXTENSIONS:
            raise UsageError(
                f"Invalid value for --format: expected one of {', '.join(FORMATS)} (got {explicit!r})."
            )
        return name
    if path is None:
        return None
    if path == STDOUT:
        return "npy"
    lowered = path.lower()
    for name, extensions in EXTENSIONS.items():
        if lowered.endswith(extensions):
            return name
    raise UsageError(
        f"Cannot tell the format of {path!r} from its extension; use .npy, .npz, .h5, .hdf5 or "
        ".safetensors, or pass --format."
    )


class Writer(ABC):
    """Writes entries into one target, then makes them all visible at once.

    A writer is opened for a fixed list of entries; :attr:`order` is the order the format
    wants them in (a ``.safetensors`` header fixes where each tensor lies, for instance).
    For each entry in that order, :meth:`start` it, then :meth:`write` its C-order blocks;
    :meth:`commit` then makes the whole result visible in one step, and :meth:`abort`
    (also on any exception inside ``with``) leaves the target as it was. A writer for one
    entry (:func:`~weightgen.formats.open_writer`) is this with the entry already started.
    """

    def __init__(self, target: str, entries: Sequence[Entry], force: bool = False) -> None:
        self.target = target
        self.entries: tuple[Entry, ...] = tuple(entries)
        self.force = force
        #: The entries in the order they must be written (a format may reorder them).
        self.order: list[Entry] = list(self.entries)

    @property
    def entry(self) -> Entry:
        """The only entry of a single-entry writer (the first one otherwise)."""
        return self.entries[0]

    @abstractmethod
    def start(self, entry: Entry) -> None:
        """Begin the next entry of :attr:`order` (the previous one must be complete)."""

    @abstractmethod
    def write(self, block: Any) -> None:
        """Append the next C-order block of the current entry (already in its dtype)."""

    @abstractmethod
    def commit(self) -> None:
        """Finish the last entry and make every entry visible (atomically for files)."""

    def abort(self) -> None:
        """Forget everything written; the target stays as it was."""

    def __enter__(self) -> "Writer":
        return self

    def __exit__(self, kind: Any, error: Any, traceback: Any) -> None:
        if kind is None:
            try:
                self.commit()
            except BaseException:
                self.abort()
                raise
        else:
            self.abort()


T = TypeVar("T")


class FileWriter(Writer):
    """The life cycle every format shares; a format fills in a few steps.

    ``_begin(out, existing)`` writes whatever comes before the data (and, for a container,
    plans where the new entries go among those it keeps from ``existing``, the old file open
    for reading, or None; it may reorder :attr:`order`); ``_start(entry)`` and
    ``_finish(entry)`` open and close one entry, ``_put(block)`` writes data of the current
    one; ``_end()`` finishes the file; ``_discard()`` drops unfinished work without writing
    anything more. ``out`` is stdout or the temporary file that replaces the target on
    commit, once, whatever the number of entries. A container (``merges``) holds the
    target's :class:`TargetLock` from start to commit, so concurrent updates never lose
    one another. Every OS error becomes one :class:`OutputError` line naming the target.
    """

    #: Whether the target's other entries are kept (a container) or the file replaced.
    merges: ClassVar[bool] = False
    #: Whether the format can stream to stdout.
    to_stdout: ClassVar[bool] = True

    def __init__(self, target: str, entries: Sequence[Entry], force: bool = False) -> None:
        super().__init__(target, entries, force)
        if not self.entries:
            raise ValueError("a writer needs at least one entry")
        self._atomic: AtomicFile | None = None
        self._lock: TargetLock | None = None
        self._existing: IO[bytes] | None = None
        self._finished = False
        self._current: Entry | None = None
        self._started = 0
        #: The one-way stream written instead of a file (stdout, a device, a FIFO), if any.
        self._stream: IO[bytes] | None = None
        self.streaming = is_stream(target)
        self._guard(self._open)

    def _open(self) -> None:
        if self.streaming:
            if not self.to_stdout:
                raise UsageError(f"{self.format_label} cannot be written to {stream_label(self.target)}; "
                                 "write a regular file with -o FILE.")
            self._stream = stdout_stream() if self.target == STDOUT else open_stream(self.target)
            self._begin(self._stream, None)
            return
        path = resolve_target(self.target)
        if self.merges:
            self._lock = TargetLock(path)
            try:
                self._existing = open(path, "rb")
            except FileNotFoundError:
                self._existing = None
            if self._existing is not None and os.fstat(self._existing.fileno()).st_size == 0:
                self._existing.close()  # an empty file (``touch model.h5``): an empty container
                self._existing = None
            self._atomic = AtomicFile(path, replace=True)
        else:
            refuse_existing(self.target, self.force)
            self._atomic = AtomicFile(path, replace=self.force)
        self._begin(self._atomic.file, self._existing)

    @property
    def format_label(self) -> str:
        return type(self).__module__.rsplit(".", 1)[-1]

    def _guard(self, action: Callable[..., T], *args: Any) -> T:
        """Run one step; on any failure abort (the target stays as it was) and say why in one line."""
        try:
            return action(*args)
        except WeightgenError:
            self.abort()
            raise
        except OSError as error:
            self.abort()
            raise write_error(self.target, error) from None
        except BaseException:
            self.abort()
            raise

    def start(self, entry: Entry) -> None:
        if self._finished or self._started >= len(self.order) or entry != self.order[self._started]:
            self.abort()
            raise ValueError(f"entries must be started once each, in writer.order; got {entry.name!r}")
        self._finish_current()
        entry = self.order[self._started]
        self._started += 1
        self._current = entry
        self._guard(self._start, entry)

    def _finish_current(self) -> None:
        if self._current is not None:
            current, self._current = self._current, None
            self._guard(self._finish, current)

    def write(self, block: Any) -> None:
        if self._current is None:
            self.abort()
            raise ValueError("write() before start(): no entry to write to")
        self._guard(self._put, block)
        if self._atomic is not None:
            self._atomic.wrote(getattr(block, "nbytes", 0))

    def commit(self) -> None:
        if self._finished:
            return
        self._finish_current()
        if self._started != len(self.order):
            missing = ", ".join(repr(e.name) for e in self.order[self._started:])
            self.abort()
            raise ValueError(f"commit() before every entry was written (missing {missing})")
        self._guard(self._end)
        if self._atomic is not None:
            self._guard(self._atomic.commit)
        elif self._stream is not None:
            self._guard(self._stream.flush)
        self._finished = True
        self._release()

    def abort(self) -> None:
        if self._finished:
            return
        self._finished = True
        try:
            self._discard()
        except Exception:
            pass
        if self._atomic is not None:
            self._atomic.abort()
        self._release()

    def _release(self) -> None:
        if self._stream is not None and self.target != STDOUT:
            stream, self._stream = self._stream, None
            try:
                stream.close()
            except OSError:
                pass
        if self._existing is not None:
            self._existing.close()
            self._existing = None
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def refuse_duplicates(self, present: Iterable[str]) -> None:
        """Refuse entries that already exist unless ``--force`` (exit 1, file untouched)."""
        if not self.force:
            for name in present:
                raise duplicate_error(self.target, name)

    def corrupt(self, detail: Any) -> OutputError:
        return OutputError(f"cannot read {self.target}: not a valid {self.format_label} file "
                           f"({detail}); move it away or write to another file.")

    @abstractmethod
    def _begin(self, out: IO[bytes], existing: IO[bytes] | None) -> None: ...

    def _start(self, entry: Entry) -> None:
        """Open one entry (nothing to do for a format whose entries are bare data)."""

    @abstractmethod
    def _put(self, block: Any) -> None: ...

    def _finish(self, entry: Entry) -> None:
        """Close one entry, checking it got all its data where the format needs that."""

    def _end(self) -> None:
        """Finish the file (nothing to do for a format that is done when its data are)."""

    def _discard(self) -> None:
        """Drop unfinished work, writing nothing more."""


def duplicate_error(target: str, name: str) -> OutputError:
    return OutputError(f"{target} already has an entry named {name!r}; pass --force to replace it.")


def refuse_existing(path: str, force: bool) -> None:
    """Refuse to replace an existing file without ``--force`` (exit 1, file untouched)."""
    if not force and os.path.lexists(path):
        raise OutputError(f"{path} already exists; pass --force to replace it.")


def is_stream(target: str) -> bool:
    """Whether ``target`` is written as a one-way stream instead of a file replaced in one
    rename: stdout (``-``), or an existing character device or FIFO (``/dev/null``, a named
    pipe), which a rename would replace rather than write into. Refuses other special files
    (a block device, a socket): nothing sensible writes a tensor there."""
    if target == STDOUT:
        return True
    try:
        mode = os.stat(target).st_mode
    except (OSError, ValueError):
        return False
    if stat.S_ISCHR(mode) or stat.S_ISFIFO(mode):
        return True
    if stat.S_ISBLK(mode) or stat.S_ISSOCK(mode):
        raise OutputError(f"{target} is a {'block device' if stat.S_ISBLK(mode) else 'socket'}; write a "
                          "regular file with -o FILE, or a stream with -o - | ...")
    return False


def is_stdout(target: str | None) -> bool:
    """Whether writing ``target`` writes this process's stdout: ``-``, or a path naming the
    same file (``/dev/stdout``, ``/proc/self/fd/1``), so the summary must go elsewhere."""
    if target is None:
        return False
    if target == STDOUT:
        return True
    try:
        named, stdout = os.stat(target), os.fstat(1)
    except (OSError, ValueError):
        return False
    return (named.st_dev, named.st_ino) == (stdout.st_dev, stdout.st_ino)


def stream_label(target: str) -> str:
    return "stdout (-o -)" if target == STDOUT else f"a stream like {target}"


def open_stream(target: str) -> IO[bytes]:
    """A character device or FIFO opened for writing (refused when it is a terminal)."""
    stream = open(target, "wb")
    if stream.isatty():
        stream.close()
        raise UsageError(f"Refusing to write binary data to the terminal {target}; write a file with -o FILE.")
    return stream


def stdout_stream() -> IO[bytes]:
    """Binary stdout, refused when it is a terminal."""
    stream = sys.stdout.buffer
    if stream.isatty():
        raise UsageError("Refusing to write binary data to a terminal; redirect stdout (-o - | ...) "
                         "or write to a file with -o FILE.")
    return stream


def write_error(target: str, error: OSError) -> OutputError:
    return write_failure("stdout" if target == STDOUT else target, error)


def provenance_text(metadata: Mapping[str, Any]) -> str:
    """Provenance as one line of JSON (safetensors metadata values, npz member comments)."""
    import json  # here, not at the top: writing a bare .npy needs no JSON

    return json.dumps(dict(metadata), separators=(",", ":"), ensure_ascii=False)


def parse_provenance(text: str | bytes | None) -> dict[str, Any] | None:
    """The provenance in ``text``, or None when it holds none of weightgen's."""
    if not text:
        return None
    import json

    try:
        value = json.loads(text)
    except (ValueError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) and "initializer" in value else None


# -- reading ------------------------------------------------------------------------

#: Bytes of values a reader hands over at a time: memory stays bounded whatever the file.
READ_BYTES = 8 << 20

NPY_MAGIC = b"\x93NUMPY"
ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
#: Bytes enough to recognise every format by its first bytes.
SNIFF_BYTES = 16


def sniff(head: bytes) -> str | None:
    """The format whose first bytes ``head`` are, or None.

    ``.safetensors`` has no magic number: its first 8 bytes are the header's length and
    the header, JSON, starts with ``{``. An HDF5 file may also start after a user block
    (see :func:`hdf5_signature`).
    """
    if head.startswith(NPY_MAGIC):
        return "npy"
    if head.startswith(ZIP_MAGICS):
        return "npz"
    if head.startswith(HDF5_MAGIC):
        return "hdf5"
    if len(head) >= 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") >= 2:
        return "safetensors"
    return None


def hdf5_signature(file: IO[bytes]) -> bool:
    """Whether a seekable file holds the HDF5 signature at 0, 512, 1024, 2048, ... bytes."""
    size = file.seek(0, os.SEEK_END)
    offset = 0
    while offset + len(HDF5_MAGIC) <= size:
        file.seek(offset)
        if file.read(len(HDF5_MAGIC)) == HDF5_MAGIC:
            return True
        offset = 512 if offset == 0 else offset * 2
    return False


@dataclass(frozen=True)
class Source:
    """What a reader reads: a seekable file, or a one-way stream (a pipe on stdin)."""

    #: How messages name it: the path, or ``stdin``.
    label: str
    stream: IO[bytes]
    seekable: bool
    #: The path of a real file (h5py opens it natively), or None.
    path: str | None = None


class Refused(ValueError):
    """A well-formed file holding something weightgen will not read (e.g. pickled objects)."""


PICKLED = ("it holds Python objects, which only unpickling could read; weightgen never unpickles "
           "(allow_pickle=False)")


@dataclass
class StoredEntry:
    """One tensor of a file being read: what it is, and its values in bounded memory."""

    #: The entry's name in its container; None for the one unnamed array of a ``.npy``.
    name: str | None
    shape: tuple[int, ...]
    #: A numpy dtype (bfloat16 and the float8 types from ml_dtypes).
    dtype: Any
    provenance: dict[str, Any] | None = None
    #: The values are stored in Fortran order (``.npy``/``.npz`` only); chunks come in that order.
    fortran_order: bool = False
    #: Why the entry holds no numbers to inspect (text, records, raw bytes), or None.
    skipped: str | None = None
    read: Callable[[int], Any] | None = field(default=None, repr=False)

    @property
    def count(self) -> int:
        import math

        return math.prod(self.shape)

    def chunks(self, max_bytes: int = READ_BYTES) -> Any:
        """The values as successive 1-D arrays of at most ``max_bytes``, in storage order.

        Storage order is C order unless :attr:`fortran_order`. Valid until the reader
        moves to the next entry.
        """
        if self.read is None:
            return iter(())
        return self.read(max_bytes)


class Reader(ABC):
    """Reads the entries of one file or stream, in file order.

    A format implements :meth:`_entries`; every exception it raises (while walking the
    entries or reading values) reaches the caller as one :class:`InputError` line.
    """

    format_label: ClassVar[str]

    def __init__(self, source: Source) -> None:
        self.source = source

    def entries(self) -> Any:
        """Each entry once; an entry's chunks can be read until the next one is asked for."""
        return self.guarded(self._entries())

    @abstractmethod
    def _entries(self) -> Any: ...

    def close(self) -> None:
        """Release what the reader opened (not the source's stream)."""

    def __enter__(self) -> "Reader":
        return self

    def __exit__(self, *_: Any) -> None:
        self.close()

    def guarded(self, iterator: Any) -> Any:
        """``iterator``, with whatever it raises turned into one :class:`InputError` line."""
        try:
            yield from iterator
        except WeightgenError:
            raise
        except Refused as error:
            raise self.error(str(error)) from None
        except OSError as error:
            if error.errno is not None and error.strerror and error.errno != errno.EINVAL:  # a real I/O error
                raise self.error(error.strerror) from None
            raise self.error(f"not a valid {self.format_label} file ({first_line(error)})") from None
        except MemoryError:
            raise self.error(f"not a valid {self.format_label} file (it claims more than memory holds)") from None
        except Exception as error:  # each library has its own idea of "corrupt"
            raise self.error(f"not a valid {self.format_label} file ({first_line(error)})") from None

    def error(self, reason: str) -> InputError:
        return InputError(f"cannot read {self.source.label}: {reason}")

    def stored(self, name: str | None, shape: tuple[int, ...], dtype: Any, provenance: dict[str, Any] | None,
               read: Callable[[int], Any], fortran_order: bool = False) -> StoredEntry:
        """An entry whose values ``read(max_bytes)`` gives, or a skipped one if they are not numbers."""
        reason = non_numeric(dtype)
        if reason is not None:
            return StoredEntry(name, shape, dtype, provenance, skipped=reason)

        def chunks(max_bytes: int) -> Any:
            yield from read(max_bytes)  # even the first step of reading is guarded

        return StoredEntry(name, shape, dtype, provenance, fortran_order,
                           read=lambda max_bytes: self.guarded(chunks(max_bytes)))


def first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def non_numeric(dtype: Any) -> str | None:
    """Why values of ``dtype`` are not numbers to inspect, or None when they are.

    Raises :class:`Refused` for Python objects: reading them means unpickling.
    """
    if dtype.hasobject:
        raise Refused(PICKLED)
    if dtype.kind in "biufc" and dtype.names is None and dtype.subdtype is None:
        return None
    if dtype.kind == "V" and dtype.type.__module__.startswith("ml_dtypes"):  # bfloat16, float8
        return None
    if dtype.kind in "SU":
        return f"{dtype} is text, not numbers"
    if dtype.kind in "Mm":
        return f"{dtype} is dates or durations, not numbers"
    if dtype.kind == "V" and dtype.names is None and dtype.subdtype is None:
        hint = " (numpy stores bfloat16 so: keep bfloat16 in .safetensors or .h5)" if dtype.itemsize == 2 else ""
        return f"{dtype.itemsize}-byte void is raw bytes, not numbers{hint}"
    return f"{dtype} is a record or nested type, not plain numbers"


def read_up_to(stream: IO[bytes], size: int) -> bytes:
    """``size`` bytes, or fewer where the stream ends."""
    data = b""
    while len(data) < size:
        more = stream.read(min(size - len(data), READ_BYTES))
        if not more:
            break
        data += more
    return data


def read_exactly(stream: IO[bytes], size: int, what: str) -> bytes:
    """``size`` bytes (a short read is a truncated file: ValueError naming ``what``)."""
    data = read_up_to(stream, size)
    if len(data) < size:
        raise ValueError(f"truncated {what}")
    return data


def readinto_fully(stream: IO[bytes], buffer: Any) -> int:
    """Fill ``buffer`` from ``stream``; the bytes read (fewer only at the end of the stream)."""
    view = memoryview(buffer).cast("B")
    done = 0
    while done < len(view):
        count = stream.readinto(view[done:])  # type: ignore[attr-defined]
        if not count:
            break
        done += count
    return done


def skip_bytes(stream: IO[bytes], size: int, seekable: bool) -> None:
    """Move ``size`` bytes forward (reading them from a stream that cannot seek)."""
    if seekable:
        stream.seek(size, os.SEEK_CUR)
        return
    while size > 0:
        more = stream.read(min(size, READ_BYTES))
        if not more:
            raise ValueError("truncated data")
        size -= len(more)


def read_values(stream: IO[bytes], dtype: Any, count: int, max_bytes: int) -> Any:
    """``count`` values of ``dtype`` from ``stream``, as arrays of at most ``max_bytes``.

    Each chunk is allocated only as its bytes arrive, so a size the file merely claims
    costs nothing; a stream that ends early is a truncated file.
    """
    import numpy as np

    itemsize = dtype.itemsize
    per = max(1, max_bytes // itemsize)
    remaining = count
    while remaining > 0:
        n = min(per, remaining)
        buffer = np.empty(n * itemsize, dtype=np.uint8)
        got = readinto_fully(stream, buffer)
        if got < buffer.size:
            missing = (remaining - n) * itemsize + buffer.size - got
            raise ValueError(f"truncated: {missing} bytes of data missing")
        yield buffer.view(dtype)
        remaining -= n


class PrefixedStream:
    """A one-way stream that first gives back the bytes already read from it (to sniff)."""

    def __init__(self, head: bytes, stream: IO[bytes]) -> None:
        self._head = head
        self._stream = stream

    def read(self, size: int = -1) -> bytes:
        if self._head:
            if size < 0:
                data, self._head = self._head + self._stream.read(), b""
                return data
            data, self._head = self._head[:size], self._head[size:]
            return data
        return self._stream.read(size)

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if self._head:
            count = min(len(view), len(self._head))
            view[:count] = self._head[:count]
            self._head = self._head[count:]
            return count
        return self._stream.readinto(view)  # type: ignore[attr-defined]

    def seekable(self) -> bool:
        return False


class ClampedFile:
    """A seekable file whose reads never ask for more than is left in it.

    A damaged zip directory can claim gigabytes; ``zipfile`` would ask ``read()`` for all
    of them and Python allocates the whole request before reading.
    """

    def __init__(self, file: IO[bytes]) -> None:
        self._file = file
        self._size = file.seek(0, os.SEEK_END)
        file.seek(0)

    def read(self, size: int | None = -1) -> bytes:
        left = max(0, self._size - self._file.tell())
        return self._file.read(left if size is None or size < 0 else min(size, left))

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return self._file.seek(offset, whence)

    def tell(self) -> int:
        return self._file.tell()

    def seekable(self) -> bool:
        return True

    def close(self) -> None:
        """The file belongs to whoever opened it."""
