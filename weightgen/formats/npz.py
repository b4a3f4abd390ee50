"""``.npz``: a zip archive with one ``.npy`` member per entry, as ``np.savez`` writes it.

A new entry is streamed into its member (header, then the data block by block). Adding
to an archive copies every other member's bytes unchanged (local header, data and all)
into the new archive; a replaced entry (``--force``) keeps its place. The provenance of
an entry rides in its member's zip comment, which ``np.load`` ignores. ``--compression
gzip`` deflates the new member, as ``np.savez_compressed`` does.

Reading streams each member out of the archive (inflating it when deflated) in chunks,
so no member is ever loaded whole; a member whose ``.npy`` header disagrees with the
size the archive records for it is a corrupt file.
"""

from __future__ import annotations

import copy
import zipfile
from typing import IO, Any

from weightgen.formats import npy
from weightgen.formats.atomic import copy_range
from weightgen.formats.base import (STDOUT, ClampedFile, Entry, FileWriter, Reader, StoredEntry, parse_provenance,
                                    provenance_text, read_values)

COMPRESSIONS = ("gzip",)
MEMBER_SUFFIX = ".npy"
#: What ``np.savez`` stamps on every member, so files do not depend on the clock.
DATE_TIME = (1980, 1, 1, 0, 0, 0)
_MAX_COMMENT = 0xFFFF


def check_dtype(dtype: str) -> None:
    npy.check_dtype(dtype, ".npz")


def entry_name(name: str) -> str:
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


class NpzWriter(FileWriter):
    """Adds (or with ``force`` replaces) one entry of an ``.npz`` archive, or streams one."""

    merges = True

    def __init__(self, target: str, entry: Entry, force: bool = False) -> None:
        check_dtype(entry.dtype)
        self._member: Any = None
        self._archive: zipfile.ZipFile | None = None
        self._after: list[tuple[zipfile.ZipInfo, int, int]] = []
        super().__init__(target, entry, force)

    def _begin(self, out: IO[bytes], existing: IO[bytes] | None) -> None:
        member = self.entry.name + MEMBER_SUFFIX
        before, self._after = self._plan(existing, member)
        self._out = out
        self._sink = _Sink(out, seekable=self.target != STDOUT)
        self._archive = zipfile.ZipFile(self._sink, "w", zipfile.ZIP_STORED, allowZip64=True)  # type: ignore[arg-type]
        self._copy(existing, before)
        info = zipfile.ZipInfo(member, date_time=DATE_TIME)
        info.compress_type = zipfile.ZIP_DEFLATED if self.entry.compression == "gzip" else zipfile.ZIP_STORED
        comment = provenance_text(self.entry.metadata).encode() if self.entry.metadata else b""
        info.comment = comment if len(comment) <= _MAX_COMMENT else b""
        # force_zip64 as np.savez does: the size is not known to zipfile in advance.
        self._member = self._archive.open(info, "w", force_zip64=True)
        self._member.write(npy.header(self.entry))

    def _plan(self, existing: IO[bytes] | None, member: str
              ) -> tuple[list[tuple[zipfile.ZipInfo, int, int]], list[tuple[zipfile.ZipInfo, int, int]]]:
        """The members to copy before and after the new one, each with its byte range."""
        if existing is None:
            return [], []
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
        ranges = [(info, info.header_offset, ends[info.header_offset]) for info in infos]
        replaced = [i for i, (info, _, _) in enumerate(ranges) if info.filename == member]
        self.refuse_duplicate(bool(replaced))
        if not replaced:
            return ranges, []
        kept = [r for r in ranges if r[0].filename != member]
        position = replaced[0]
        return kept[:position], kept[position:]

    def _copy(self, existing: IO[bytes] | None, members: list[tuple[zipfile.ZipInfo, int, int]]) -> None:
        """Append members' raw bytes and list them in the new central directory."""
        archive = self._archive
        assert archive is not None
        for info, start, end in members:
            assert existing is not None
            self._out.flush()
            offset = self._out.tell()
            copy_range(existing, start, end - start, self._out)
            clone = copy.copy(info)
            clone.header_offset = offset
            archive.filelist.append(clone)
            archive.NameToInfo[clone.filename] = clone
            archive.start_dir = self._out.tell()

    def _put(self, block: Any) -> None:
        self._member.write(npy.raw(block))

    def _end(self) -> None:
        self._member.close()
        self._copy(self._existing, self._after)
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
