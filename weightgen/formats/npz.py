"""``.npz``: a zip archive with one ``.npy`` member per entry, as ``np.savez`` writes it.

A new entry is streamed into its member (header, then the data block by block). Adding
entries to an archive copies every other member's bytes unchanged (local header, data
and all) into the new archive; a replaced entry (``--force``) keeps its place. The provenance of
an entry rides in its member's zip comment, which ``np.load`` ignores. ``--compression
gzip`` deflates the new member, as ``np.savez_compressed`` does.

Reading streams each member out of the archive (inflating it when deflated) in chunks,
so no member is ever loaded whole; a member whose ``.npy`` header disagrees with the
size the archive records for it is a corrupt file.
"""

from __future__ import annotations

import copy
import zipfile
from collections.abc import Sequence
from typing import IO, Any

from weightgen.errors import ParameterError
from weightgen.formats import npy
from weightgen.formats.atomic import copy_range
from weightgen.formats.base import (ClampedFile, Entry, FileWriter, Reader, Refused, StoredEntry, parse_provenance,
                                    provenance_text, read_values)

COMPRESSIONS = ("gzip",)
MEMBER_SUFFIX = ".npy"
#: What ``np.savez`` stamps on every member, so files do not depend on the clock.
DATE_TIME = (1980, 1, 1, 0, 0, 0)
_MAX_COMMENT = 0xFFFF


def check_dtype(dtype: str) -> None:
    npy.check_dtype(dtype, ".npz")


def entry_name(name: str) -> str:
    """The key as given (``dense_1/kernel`` is a member in a folder, as ``np.savez`` makes
    it), refused when unzipping would put the member outside the folder unzipped into."""
    parts = name.replace("\\", "/").split("/")
    if name.startswith(("/", "\\")) or any(part in (".", "..") for part in parts) or ":" in parts[0]:
        raise ParameterError(f"Invalid value for --name: {name!r} would unzip outside the archive's folder; "
                             "use a relative name without '.' or '..' parts, such as dense_1/kernel.")
    return name


def key_of(member: str) -> str:
    """The ``np.load`` key of a member (``.npy`` stripped, as ``NpzFile`` does)."""
    return member[: -len(MEMBER_SUFFIX)] if member.endswith(MEMBER_SUFFIX) else member


def read_entries(path: str) -> dict[str, dict[str, Any] | None]:
    """Entry names (``np.load`` keys) and the provenance in their member comments."""
    with open(path, "rb") as file, zipfile.ZipFile(file) as archive:
        return {key_of(info.filename): parse_provenance(info.comment) for info in archive.infolist()}


class _Sink:
    """The archive's file: forwards to the real output until discarded, then swallows
    everything, so an aborted archive can be closed without writing another byte."""

    def __init__(self, out: IO[bytes], seekable: bool) -> None:
        self._out = out
        self._seekable = seekable
        self._discarded = False

    def write(self, data: Any) -> int:
        return len(data) if self._discarded else self._out.write(data)

    def tell(self) -> int:
        if not self._seekable:
            raise OSError("stream is not seekable")
        return 0 if self._discarded else self._out.tell()

    def seek(self, offset: int, whence: int = 0) -> int:
        if not self._seekable:
            raise OSError("stream is not seekable")
        return 0 if self._discarded else self._out.seek(offset, whence)

    def flush(self) -> None:
        if not self._discarded:
            self._out.flush()

    def discard(self) -> None:
        self._discarded = True


#: One step of an archive's layout: an old member to copy (its info and byte range), or a new entry.
Copy = tuple[zipfile.ZipInfo, int, int]


class NpzWriter(FileWriter):
    """Adds (or with ``force`` replaces) entries of an ``.npz`` archive, or streams a new one.

    The new archive lists the old members in their order, a replaced one in its place, then
    the new entries in the order given; members are written in that same order.
    """

    merges = True

    def __init__(self, target: str, entries: Sequence[Entry], force: bool = False) -> None:
        for entry in entries:
            check_dtype(entry.dtype)
        self._member: Any = None
        self._archive: zipfile.ZipFile | None = None
        self._layout: list[Copy | Entry] = []
        super().__init__(target, entries, force)

    def _begin(self, out: IO[bytes], existing: IO[bytes] | None) -> None:
        self._layout = self._plan(existing)
        self.order = [step for step in self._layout if isinstance(step, Entry)]
        self._out = out
        self._sink = _Sink(out, seekable=not self.streaming)
        self._archive = zipfile.ZipFile(self._sink, "w", zipfile.ZIP_STORED, allowZip64=True)  # type: ignore[arg-type]

    def _plan(self, existing: IO[bytes] | None) -> list[Copy | Entry]:
        """Old members (each with its byte range) and new entries, in the new archive's order."""
        new = {entry.name + MEMBER_SUFFIX: entry for entry in self.entries}
        if existing is None:
            return list(self.entries)
        try:
            with zipfile.ZipFile(existing) as archive:
                infos = archive.infolist()
                end_of_members = archive.start_dir
        except (zipfile.BadZipFile, ValueError, EOFError) as error:
            raise self.corrupt(error) from None
        ends = {}
        offsets = sorted({info.header_offset for info in infos})
        for here, following in zip(offsets, [*offsets[1:], end_of_members]):
            ends[here] = following
        self.refuse_duplicates(key_of(info.filename) for info in infos if info.filename in new)
        layout: list[Copy | Entry] = []
        for info in infos:
            replacement = new.pop(info.filename, None)
            layout.append(replacement if replacement is not None
                          else (info, info.header_offset, ends[info.header_offset]))
        return layout + list(new.values())

    def _start(self, entry: Entry) -> None:
        self._copy_until(entry)
        assert self._archive is not None
        info = zipfile.ZipInfo(entry.name + MEMBER_SUFFIX, date_time=DATE_TIME)
        info.compress_type = zipfile.ZIP_DEFLATED if entry.compression == "gzip" else zipfile.ZIP_STORED
        comment = provenance_text(entry.metadata).encode() if entry.metadata else b""
        info.comment = comment if len(comment) <= _MAX_COMMENT else b""
        # force_zip64 as np.savez does: the size is not known to zipfile in advance.
        self._member = self._archive.open(info, "w", force_zip64=True)
        self._member.write(npy.header(entry))

    def _copy_until(self, entry: Entry | None) -> None:
        """Copy the old members that come before ``entry`` (before the end when None)."""
        while self._layout and self._layout[0] is not entry:
            step = self._layout.pop(0)
            assert not isinstance(step, Entry), "entries written out of order"
            self._copy(step)
        if self._layout:
            self._layout.pop(0)

    def _copy(self, member: Copy) -> None:
        """Append an old member's raw bytes and list it in the new central directory."""
        archive = self._archive
        assert archive is not None and self._existing is not None
        info, start, end = member
        self._out.flush()
        offset = self._out.tell()
        copy_range(self._existing, start, end - start, self._out)
        clone = copy.copy(info)
        clone.header_offset = offset
        archive.filelist.append(clone)
        archive.NameToInfo[clone.filename] = clone
        archive.start_dir = self._out.tell()

    def _put(self, block: Any) -> None:
        self._member.write(npy.raw(block))

    def _finish(self, entry: Entry) -> None:
        self._member.close()
        self._member = None

    def _end(self) -> None:
        self._copy_until(None)
        assert self._archive is not None
        self._archive.close()

    def _discard(self) -> None:
        if self._archive is None:
            return
        self._sink.discard()
        try:
            if self._member is not None:
                self._member.close()
        finally:
            self._archive.fp = None  # closed without writing a central directory
            self._archive = None


WRITER = NpzWriter


class NpzReader(Reader):
    """Every member of an archive, named by its ``np.load`` key."""

    format_label = "npz"

    def __init__(self, source: Any) -> None:
        super().__init__(source)
        self._archive: zipfile.ZipFile | None = None

    def _entries(self) -> Any:
        self._archive = zipfile.ZipFile(ClampedFile(self.source.stream))  # type: ignore[arg-type]
        for info in self._archive.infolist():
            if not info.is_dir():
                yield from self._member(self._archive, info)

    def _member(self, archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> Any:
        name, provenance = key_of(info.filename), parse_provenance(info.comment)
        with archive.open(info) as member:
            try:
                header = npy.read_header(member)
            except npy.NotNpy:
                yield StoredEntry(name, (), None, provenance, skipped="not an .npy array (np.load gives raw bytes)")
                return
            except Refused as error:
                raise Refused(f"member {info.filename!r}: {error}") from None
            if header.size + header.data_bytes != info.file_size:
                raise ValueError(f"member {info.filename!r} holds {info.file_size - header.size} bytes of data, "
                                 f"its header promises {header.data_bytes}")
            count = header.data_bytes // header.dtype.itemsize if header.dtype.itemsize else 0
            yield self.stored(name, header.shape, header.dtype, provenance,
                              lambda max_bytes: read_values(member, header.dtype, count, max_bytes),
                              header.fortran_order)

    def close(self) -> None:
        if self._archive is not None:
            self._archive.close()
            self._archive = None


READER = NpzReader
