"""Format writers (and, later, readers) behind one interface, one module per format."""

from __future__ import annotations

from weightgen.formats.base import EXTENSIONS, FORMATS, STDOUT, Entry, Writer, format_for

__all__ = ["EXTENSIONS", "FORMATS", "STDOUT", "Entry", "Writer", "format_for", "open_writer"]


def open_writer(format_name: str, target: str, entry: Entry, force: bool = False) -> Writer:
    """A writer for ``entry`` into ``target`` (a path or ``-``) in ``format_name``."""
    if format_name == "npy":
        from weightgen.formats.npy import NpyWriter

        return NpyWriter(target, entry, force)
    from weightgen.errors import UsageError

    raise UsageError(f"Writing {format_name} is not supported yet; use .npy.")


def check_writable(format_name: str, target: str, dtype: str, force: bool) -> None:
    """Refuse up front what a writer would refuse, before any time is spent generating."""
    from weightgen.formats.base import refuse_existing

    if format_name == "npy":
        from weightgen.formats.npy import check_dtype

        check_dtype(dtype)
    if target != STDOUT:
        refuse_existing(target, force)
