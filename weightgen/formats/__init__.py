"""Format writers and readers behind one interface, one module per format.

Each format's module is imported only when that format is used, so writing ``.npy``
never imports h5py.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from types import ModuleType
from typing import Any

from weightgen.errors import InputError, OutputError, TooLargeError, UsageError, WeightgenError
from weightgen.formats.base import (EXTENSIONS, FORMATS, SNIFF_BYTES, STDOUT, Entry, FileWriter, PrefixedStream,
                                    Reader, Source, StoredEntry, Writer, duplicate_error, format_for,
                                    hdf5_signature, is_stdout, is_stream, read_up_to, refuse_existing, sniff,
                                    stream_label)

__all__ = ["EXTENSIONS", "FORMATS", "STDOUT", "COMPRESSIONS", "Entry", "Writer", "Reader", "StoredEntry", "is_stdout",
           "format_for", "open_writer", "open_session", "open_reader", "check_writable", "check_entry",
           "check_entries", "check_names", "check_room", "read_entries", "read_provenance"]

#: Every ``--compression`` value some format takes.
COMPRESSIONS = ("gzip", "lzf")


def format_module(format_name: str) -> ModuleType:
    """The module that implements ``format_name`` (see :mod:`weightgen.formats.base`)."""
    if format_name not in EXTENSIONS:
        raise UsageError(f"Invalid value for --format: expected one of {', '.join(FORMATS)} (got {format_name!r}).")
    return importlib.import_module(f"weightgen.formats.{format_name}")


def open_session(format_name: str, target: str, entries: Sequence[Entry], force: bool = False) -> Writer:
    """A writer for several entries of ``target`` (a path or ``-``), committed at once.

    Write each entry of ``writer.order`` in turn (``writer.start(entry)``, then its blocks
    with ``writer.write``), then ``writer.commit()`` (or leave the ``with`` block): the file
    is rewritten once, atomically, under the container's lock.
    """
    module = format_module(format_name)
    check_names(format_name, [entry.name for entry in entries])
    writer: type[FileWriter] = module.WRITER
    return writer(target, entries, force)


def open_writer(format_name: str, target: str, entry: Entry, force: bool = False) -> Writer:
    """A writer for one ``entry`` into ``target``: a session of one entry, already started."""
    writer = open_session(format_name, target, [entry], force)
    writer.start(entry)
    return writer


def check_compression(compression: str | None) -> None:
    if compression is not None and compression not in COMPRESSIONS:
        raise UsageError(f"Invalid value for --compression: expected gzip or lzf (got {compression!r}).")


def check_names(format_name: str, names: Sequence[str]) -> list[str]:
    """The names as ``format_name`` stores them; refuses two that would be the same entry,
    or that cannot coexist in one file (an HDF5 dataset cannot also be a group)."""
    module = format_module(format_name)
    stored = [module.entry_name(name) for name in names]
    if len(stored) > 1 and not module.WRITER.merges:
        module.check_count(len(stored))
    seen: dict[str, str] = {}
    for name, key in zip(names, stored):
        if key in seen:
            same = f"{seen[key]!r} and {name!r} are" if seen[key] != name else f"{name!r} is"
            raise UsageError(f"{same} the same {format_name} entry, given twice; every entry needs its own name.")
        seen[key] = name
    if hasattr(module, "check_names"):
        module.check_names(stored)
    return stored


def check_writable(format_name: str, target: str, dtype: str, force: bool, name: str = "weight",
                   compression: str | None = None) -> None:
    """Refuse up front what a writer of one entry would refuse (see :func:`check_entries`)."""
    check_entries(format_name, target, [Entry(name, (), dtype, {}, compression)], force)


def check_entry(format_name: str, entry: Entry) -> None:
    """Refuse an entry whose dtype or compression ``format_name`` cannot store (exit 2)."""
    module = format_module(format_name)
    check_compression(entry.compression)
    module.check_dtype(entry.dtype)
    if entry.compression is not None and entry.compression not in module.COMPRESSIONS:
        takes = f"takes only {' or '.join(module.COMPRESSIONS)}" if module.COMPRESSIONS else "is not compressed"
        instead = "use .npz or .h5 for gzip" if entry.compression == "gzip" else "use .h5 for lzf"
        raise UsageError(f"--compression {entry.compression}: {format_name} {takes}; {instead}, "
                         "or drop --compression.")


def check_entries(format_name: str, target: str, entries: Sequence[Entry], force: bool) -> None:
    """Refuse up front what a writer would refuse, before any time is spent generating.

    Usage errors (exit 2): a dtype or compression the format cannot store, HDF5 on stdout,
    bad or clashing entry names, several entries for ``.npy``. Runtime errors (exit 1): an
    existing file (``.npy``) or entry (a container) without ``force``, or a container that
    cannot be read. Shapes are not looked at.
    """
    module = format_module(format_name)
    for entry in entries:
        check_entry(format_name, entry)
    keys = check_names(format_name, [entry.name for entry in entries])
    if is_stream(target):
        if not module.WRITER.to_stdout:
            raise UsageError(f"{format_name} cannot be written to {stream_label(target)}; write a regular file "
                             "with -o FILE.")
        return
    if not module.WRITER.merges:
        refuse_existing(target, force)
        return
    if not force and os.path.exists(target) and os.path.getsize(target) > 0:  # empty: an empty container
        try:
            present = _read(module, target)
        except InputError as error:
            raise OutputError(f"{error}; move it away or write to another file.") from None
        for entry, key in zip(entries, keys):
            if key in present:
                raise duplicate_error(target, entry.name)


def check_room(format_name: str, target: str, nbytes: int) -> None:
    """Refuse up front a file whose folder lacks the free space it needs (SPEC §2).

    The new file needs the tensor's bytes, plus a copy of the old file for a container
    that grows (it is rebuilt in a temporary file beside it).
    """
    if is_stream(target):
        return
    path = os.path.abspath(target)
    if target.endswith(os.sep):  # "DIR/": the folder itself (batch --output-dir)
        path = os.path.join(path, "")
    needed = nbytes
    if format_module(format_name).WRITER.merges:
        try:
            needed += os.path.getsize(path)
        except OSError:
            pass
    folder = os.path.dirname(path)
    while not os.path.isdir(folder) and os.path.dirname(folder) != folder:
        folder = os.path.dirname(folder)  # a folder still to be made (batch --output-dir) lands here
    try:
        stat = os.statvfs(folder)
    except (OSError, AttributeError):
        return  # the writer reports a missing folder in its own words
    free = stat.f_bavail * stat.f_frsize
    if needed > free:
        from weightgen.sampler import format_bytes

        raise TooLargeError(f"writing {target} needs {format_bytes(needed)} of free space in "
                            f"{folder}, but only {format_bytes(free)} is free; free some "
                            "space or write elsewhere.")


def _read(module: ModuleType, path: str) -> dict[str, Any]:
    """``module.read_entries(path)``, every failure one :class:`InputError` line."""
    try:
        return module.read_entries(path)
    except OSError as error:
        if isinstance(error, WeightgenError):
            raise
        reason = error.strerror or _reason(error)
        if error.strerror is None:  # h5py reports a bad file as OSError without errno
            reason = f"not a valid {_label(module)} file ({reason})"
        raise InputError(f"cannot read {path}: {reason}") from None
    except Exception as error:  # each library has its own idea of "corrupt"
        raise InputError(f"cannot read {path}: not a valid {_label(module)} file ({_reason(error)})") from None


def _label(module: ModuleType) -> str:
    return module.__name__.rsplit(".", 1)[-1]


def _reason(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def read_entries(path: str, format: str | None = None) -> dict[str, dict[str, Any] | None]:
    """The entries of a file weightgen can write: name -> provenance (None where there is none).

    ``.npy`` holds one unnamed array and no metadata, so it gives ``{}``. Raises
    :class:`~weightgen.errors.InputError` for a missing or unreadable file.
    """
    format_name = format_for(path, format)
    assert format_name is not None
    return _read(format_module(format_name), path)


def read_provenance(path: str, name: str | None = None, format: str | None = None) -> dict[str, Any] | None:
    """The provenance stored with one entry (the only one when ``name`` is None), or None."""
    format_name = format_for(path, format)
    assert format_name is not None
    entries = read_entries(path, format_name)
    if name is None:
        return next(iter(entries.values())) if len(entries) == 1 else None
    return entries.get(format_module(format_name).entry_name(name))


#: Formats a reader can take straight from a pipe; the others need a seekable file.
STREAMABLE = ("npy", "safetensors")


@contextmanager
def open_reader(path: str) -> Iterator[Reader]:
    """A reader of ``path`` (or ``-``, stdin), its format recognised by the first bytes.

    A path's extension only names the format in the message when its bytes are not
    recognised. From stdin, ``.npy`` and ``.safetensors`` are read straight from the
    pipe; ``.npz`` and HDF5 need to seek, so stdin is first copied into an anonymous
    temporary file. Raises :class:`InputError` (missing, empty or unrecognised input).
    """
    with ExitStack() as stack:
        if path == STDOUT:
            source, format_name = _stdin_source(stack)
        else:
            source, format_name = _file_source(path, stack)
        reader = stack.enter_context(format_module(format_name).READER(source))
        yield reader


def _file_source(path: str, stack: ExitStack) -> tuple[Source, str]:
    try:
        file = stack.enter_context(open(path, "rb"))
        head = read_up_to(file, SNIFF_BYTES)
        format_name = sniff(head) or ("hdf5" if hdf5_signature(file) else None)
        file.seek(0)
    except OSError as error:
        raise InputError(f"cannot read {path}: {error.strerror or error}") from None
    if format_name is None:
        raise InputError(f"cannot read {path}: {_unrecognised(head, path)}")
    return Source(path, file, seekable=True, path=path), format_name


def _stdin_source(stack: ExitStack) -> tuple[Source, str]:
    stdin = sys.stdin.buffer
    if stdin.isatty():
        raise UsageError("Refusing to read binary data from a terminal; pipe a weight file in "
                         "(... | weightgen inspect -) or name a file.")
    try:
        head = read_up_to(stdin, SNIFF_BYTES)
        format_name = sniff(head)
        if format_name in STREAMABLE:
            return Source("stdin", PrefixedStream(head, stdin), seekable=False), format_name
        import shutil  # here: writing a file needs neither (start-up time)
        import tempfile

        spool = stack.enter_context(tempfile.TemporaryFile(prefix="weightgen-stdin-"))
        spool.write(head)
        shutil.copyfileobj(stdin, spool, 1 << 20)
        format_name = format_name or ("hdf5" if hdf5_signature(spool) else None)
        spool.seek(0)
    except OSError as error:
        raise InputError(f"cannot read stdin: {error.strerror or error}") from None
    if format_name is None:
        raise InputError(f"cannot read stdin: {_unrecognised(head, None)}")
    return Source("stdin", spool, seekable=True), format_name


def _unrecognised(head: bytes, path: str | None) -> str:
    if not head:
        return "it is empty; give an .npy, .npz, HDF5 or .safetensors file"
    try:
        named = format_for(path, None) if path is not None else None
    except UsageError:
        named = None
    if named is not None:
        return f"not a valid {named} file (unrecognised first bytes)"
    return "not an .npy, .npz, HDF5 or .safetensors file (unrecognised first bytes)"
