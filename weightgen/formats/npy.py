"""``.npy``: numpy's own format, header first, then the raw C-order data.

bfloat16 is refused: numpy cannot name it in an ``.npy`` header and would silently
store 2-byte void instead.
"""

from __future__ import annotations

from typing import IO, Any

import numpy as np

from weightgen import dtypes
from weightgen.errors import DtypeError, OutputError
from weightgen.formats.base import STDOUT, AtomicFile, Entry, Writer, refuse_existing, stdout_stream, write_error


def check_dtype(dtype: str, format_name: str = ".npy") -> None:
    if dtype == "bfloat16":
        raise DtypeError(
            f"bfloat16 cannot be stored in {format_name}: numpy would silently turn it into "
            "2-byte void; write .safetensors or .h5 instead."
        )


def header(entry: Entry) -> bytes:
    """The ``.npy`` header for ``entry`` (format 1.0, or 2.0 when the header is huge)."""
    import io

    fields = {"descr": np.lib.format.dtype_to_descr(dtypes.numpy_dtype(entry.dtype)),
              "fortran_order": False, "shape": tuple(entry.shape)}
    buffer = io.BytesIO()
    try:
        np.lib.format.write_array_header_1_0(buffer, fields)
    except ValueError:
        buffer = io.BytesIO()
        np.lib.format.write_array_header_2_0(buffer, fields)
    return buffer.getvalue()


class NpyWriter(Writer):
    """Writes one ``.npy`` file (atomically) or streams it to stdout."""

    def __init__(self, target: str, entry: Entry, force: bool = False) -> None:
        check_dtype(entry.dtype)
        super().__init__(target, entry, force)
        self._atomic: AtomicFile | None = None
        if target == STDOUT:
            self._stream: IO[bytes] = stdout_stream()
        else:
            refuse_existing(target, force)
            self._atomic = AtomicFile(target, replace=force)
            self._stream = self._atomic.file
        self._put(header(entry))

    def _put(self, data: Any) -> None:
        try:
            self._stream.write(data)
        except OSError as error:
            self.abort()
            raise write_error(self.target, error) from None

    def write(self, block: Any) -> None:
        self._put(memoryview(np.ascontiguousarray(block)).cast("B"))

    def commit(self) -> None:
        if self._atomic is not None:
            self._atomic.commit()
            return
        try:
            self._stream.flush()
        except OSError as error:
            raise write_error(self.target, error) from None

    def abort(self) -> None:
        if self._atomic is not None:
            self._atomic.abort()
