"""The writer interface every format implements, and the life cycle they share.

A writer receives one tensor as successive C-order blocks (so a tensor larger than
memory can stream through it), then :meth:`Writer.commit` makes the result visible in
one rename; :meth:`Writer.abort` (also on any exception) leaves the target as it was.

Each format is one module (``npy``, ``npz``, ``hdf5``, ``safetensors``) that provides:

- ``WRITER``: its :class:`FileWriter` subclass;
- ``COMPRESSIONS``: the ``--compression`` values it takes;
- ``check_dtype(dtype)``: refuse a dtype it cannot store (:class:`DtypeError`);
- ``entry_name(name)``: the entry's name as stored (checked, maybe normalised);
- ``read_entries(path)``: the entries already in a file, name -> provenance or None.
"""

from __future__ import annotations

import json
import os
import sys
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
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
    """Writes one entry; blocks arrive in C order and sum to the entry's size."""

    def __init__(self, target: str, entry: Entry, force: bool = False) -> None:
        self.target = target
        self.entry = entry
        self.force = force

    @abstractmethod
    def write(self, block: Any) -> None:
        """Append the next C-order block of values (already in the entry's dtype)."""

    @abstractmethod
    def commit(self) -> None:
        """Make the written entry visible (atomically for files)."""

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
    """The life cycle every format shares; a format fills in four steps.

    ``_begin(out, existing)`` writes whatever comes before the data (and, for a container,
    copies the entries it keeps from ``existing``, the old file open for reading, or None);
    ``_put(block)`` writes data; ``_end()`` finishes the file; ``_discard()`` drops
    unfinished work without writing anything more. ``out`` is stdout or the temporary
    file that replaces the target on commit. A container (``merges``) holds the target's
    :class:`TargetLock` from start to commit, so concurrent updates never lose one another.
    Every OS error becomes one :class:`OutputError` line naming the target.
    """

    #: Whether the target's other entries are kept (a container) or the file replaced.
    merges: ClassVar[bool] = False
    #: Whether the format can stream to stdout.
    to_stdout: ClassVar[bool] = True

    def __init__(self, target: str, entry: Entry, force: bool = False) -> None:
        super().__init__(target, entry, force)
        self._atomic: AtomicFile | None = None
        self._lock: TargetLock | None = None
        self._existing: IO[bytes] | None = None
        self._finished = False
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

    def write(self, block: Any) -> None:
        self._guard(self._put, block)

    def commit(self) -> None:
        if self._finished:
            return
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

    def refuse_duplicate(self, present: bool) -> None:
        """Refuse an entry that already exists unless ``--force`` (exit 1, file untouched)."""
        if present and not self.force:
            raise duplicate_error(self.target, self.entry.name)

    def corrupt(self, detail: Any) -> OutputError:
        return OutputError(f"cannot read {self.target}: not a valid {self.format_label} file "
                           f"({detail}); move it away or write to another file.")

    @abstractmethod
    def _begin(self, out: IO[bytes], existing: IO[bytes] | None) -> None: ...

    @abstractmethod
    def _put(self, block: Any) -> None: ...

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
    return json.dumps(dict(metadata), separators=(",", ":"), ensure_ascii=False)


def parse_provenance(text: str | bytes | None) -> dict[str, Any] | None:
    """The provenance in ``text``, or None when it holds none of weightgen's."""
    if not text:
        return None
    try:
        value = json.loads(text)
    except (ValueError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) and "initializer" in value else None
