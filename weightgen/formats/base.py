"""The writer interface every format implements, and the life cycle they share.

A writer is opened for one or more entries of one target. It receives each tensor as
successive C-order blocks (so a tensor larger than memory can stream through it), then
:meth:`Writer.commit` makes the result visible in one rename, however many entries were
added; :meth:`Writer.abort` (also on any exception) leaves the target as it was. Writing
one tensor is the special case of one entry.

Each format is one module (``npy``, ``npz``, ``hdf5``, ``safetensors``) that provides:

- ``WRITER``: its :class:`FileWriter` subclass;
- ``COMPRESSIONS``: the ``--compression`` values it takes;
- ``check_dtype(dtype)``: refuse a dtype it cannot store (:class:`DtypeError`);
- ``entry_name(name)``: the entry's name as stored (checked, maybe normalised);
- ``check_names(names)`` (optional): refuse stored names that cannot coexist in one file;
- ``read_entries(path)``: the entries already in a file, name -> provenance or None.
"""

from __future__ import annotations

import os
import sys
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Any, ClassVar, TypeVar

from weightgen.errors import OutputError, UsageError, WeightgenError
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
        self._guard(self._open)

    def _open(self) -> None:
        if self.target == STDOUT:
            if not self.to_stdout:
                raise UsageError(f"{self.format_label} cannot be written to stdout; write a file with -o FILE.")
            self._begin(stdout_stream(), None)
            return
        path = resolve_target(self.target)
        if self.merges:
            self._lock = TargetLock(path)
            try:
                self._existing = open(path, "rb")
            except FileNotFoundError:
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
        else:
            self._guard(sys.stdout.buffer.flush)
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


def stdout_stream() -> IO[bytes]:
    """Binary stdout, refused when it is a terminal."""
    stream = sys.stdout.buffer
    if stream.isatty():
        raise UsageError("Refusing to write binary data to a terminal; redirect stdout (-o - | ...) "
                         "or write to a file with -o FILE.")
    return stream


def write_error(target: str, error: OSError) -> OutputError:
    where = "stdout" if target == STDOUT else target
    return OutputError(f"cannot write {where}: {error.strerror or error}")


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
