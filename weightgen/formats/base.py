"""The writer interface every format implements, and the atomic-write helper they share.

A writer receives one tensor as successive C-order blocks (so a tensor larger than
memory can stream through it), then :meth:`Writer.commit` makes the result visible in
one rename; :meth:`Writer.abort` (also on any exception) leaves the target as it was.
"""

from __future__ import annotations

import os
import stat
import sys
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import IO, Any

from weightgen.errors import OutputError, UsageError

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
            self.commit()
        else:
            self.abort()


def refuse_existing(path: str, force: bool) -> None:
    """Refuse to replace an existing file without ``--force`` (exit 1, file untouched)."""
    if not force and os.path.lexists(path):
        raise OutputError(f"{path} already exists; pass --force to replace it.")


class AtomicFile:
    """A temporary file beside ``path`` that replaces ``path`` only on :meth:`commit`.

    The temporary file lives in the target's folder (so the final rename is atomic), gets
    the permissions a normal new file would get (or the replaced file's), and is removed
    on :meth:`abort`. Without ``replace``, commit refuses to clobber a file that appeared
    meanwhile.
    """

    def __init__(self, path: str, replace: bool) -> None:
        self.path = path
        self.replace = replace
        folder = os.path.dirname(os.path.abspath(path))
        try:
            handle, self.temp_path = tempfile.mkstemp(
                dir=folder, prefix="." + os.path.basename(path) + ".", suffix=".part")
        except OSError as error:
            raise OutputError(f"cannot write {path}: {error.strerror or error}") from None
        self.file: IO[bytes] = os.fdopen(handle, "wb")
        self._done = False

    def commit(self) -> None:
        try:
            self.file.close()
            os.chmod(self.temp_path, _mode_for(self.path))
            if self.replace:
                os.replace(self.temp_path, self.path)
            else:
                try:
                    os.link(self.temp_path, self.path)
                except FileExistsError:
                    raise OutputError(f"{self.path} already exists; pass --force to replace it.") from None
                os.unlink(self.temp_path)
        except OutputError:
            self.abort()
            raise
        except OSError as error:
            self.abort()
            raise OutputError(f"cannot write {self.path}: {error.strerror or error}") from None
        self._done = True

    def abort(self) -> None:
        if self._done:
            return
        self._done = True
        try:
            self.file.close()
        except OSError:
            pass
        try:
            os.unlink(self.temp_path)
        except FileNotFoundError:
            pass


def _mode_for(path: str) -> int:
    """The replaced file's permissions, else what a new file gets under the umask."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        mask = os.umask(0)
        os.umask(mask)
        return 0o666 & ~mask


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
