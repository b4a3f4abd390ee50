"""Writing files so that nothing is ever lost: temporary files, renames and locks.

Every file weightgen writes is built in a temporary file in the target's folder and made
visible by one rename, so a reader sees either the old file or the complete new one.
On Linux the temporary file is created without a name (``O_TMPFILE``) and only linked
into the folder at commit time, so even a crash (``kill -9``, the OOM killer) leaves
nothing behind. Where that is not available, the temporary file is named
``.<target>.<random>.part`` and ``flock``-ed by its writer for its whole life; any later
write to the same target removes such files whose writer is gone.

Updating a container (adding an entry to ``model.h5``) is read-modify-write, so two
processes doing it at once would lose one update: :class:`TargetLock` serialises them.
"""

from __future__ import annotations

import errno
import os
import signal
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

from weightgen.errors import OutputError, write_failure

try:  # POSIX only; elsewhere writes are still atomic, concurrent container updates are not.
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

_PROC_FD = "/proc/self/fd"
#: Bytes written between two requests to start writing the file back to disk (small, so
#: the fsync before the rename finds little left to wait for: 4 MiB made a 256 MiB .npy
#: ~15% faster to write than 32 MiB; 2-8 MiB were alike).
WRITEBACK_BYTES = 4 << 20
#: errno values meaning "this filesystem or kernel has no O_TMPFILE".
_NO_TMPFILE = {errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL, errno.ENOSYS}


def temp_prefix(path: str) -> str:
    """The name prefix of ``path``'s temporary files (``.model.h5.``)."""
    return "." + os.path.basename(path) + "."


def lock_path_for(path: str) -> str:
    return os.path.join(os.path.dirname(os.path.abspath(path)), "." + os.path.basename(path) + ".lock")


def resolve_target(path: str) -> str:
    """``path`` with symlinks followed, so writing through a link updates the file it names."""
    return os.path.realpath(path) if os.path.islink(path) else path


class AtomicFile:
    """A temporary file beside ``path`` that replaces ``path`` only on :meth:`commit`.

    :attr:`file` is open for reading and writing. The result gets the permissions of the
    file it replaces (or of a new file under the umask). Without ``replace``, commit
    refuses to clobber a file that appeared meanwhile. The data are flushed to disk
    (``fsync``) before the rename, so a power cut cannot leave a half-written file under
    the target's name either.
    """

    def __init__(self, path: str, replace: bool) -> None:
        self.path = path
        self.replace = replace
        self.folder = os.path.dirname(os.path.abspath(path))
        self.temp_path: str | None = None
        self._done = False
        self._unsynced = 0
        self._synced = 0
        remove_stale_temporaries(path)
        try:
            fd = self._unnamed() if os.path.isdir(_PROC_FD) else None
            if fd is None:
                fd, self.temp_path = _named_temp(self.folder, temp_prefix(path))
        except OSError as error:
            raise write_failure(path, error) from None
        _lock(fd, blocking=True)
        self.file: IO[bytes] = os.fdopen(fd, "w+b")

    def _unnamed(self) -> int | None:
        try:
            return os.open(self.folder, os.O_TMPFILE | os.O_RDWR | os.O_CLOEXEC, 0o600)
        except AttributeError:  # pragma: no cover - not Linux
            return None
        except OSError as error:
            if error.errno in _NO_TMPFILE:
                return None
            raise

    def wrote(self, nbytes: int) -> None:
        """Count bytes written; every :data:`WRITEBACK_BYTES`, start writing them to disk.

        A large file then goes to disk while the rest is generated, and the ``fsync`` of
        :meth:`commit` has little left to wait for.
        """
        self._unsynced += nbytes
        if self._unsynced >= WRITEBACK_BYTES:
            # From the data counted so far (headers are not counted: they come first, so
            # the range only starts a little early) to the end of the file.
            start_writeback(self.file.fileno(), self._synced)
            self._synced += self._unsynced
            self._unsynced = 0

    def commit(self) -> None:
        """Flush, then rename over the target; on any failure the target is untouched."""
        try:
            self.file.flush()
            fd = self.file.fileno()
            os.fsync(fd)
            os.fchmod(fd, _mode_for(self.path))
            if self.temp_path is None:
                self._link_unnamed(fd)
            elif self.replace:
                os.replace(self.temp_path, self.path)
            else:
                self._link_no_clobber(self.temp_path)
                os.unlink(self.temp_path)
            self.temp_path = None
            self._done = True
            _fsync_folder(self.folder)
        except OutputError:
            self.abort()
            raise
        except OSError as error:
            self.abort()
            raise write_failure(self.path, error) from None
        except BaseException:
            self.abort()
            raise
        finally:
            if self._done:
                self._close()

    def _link_unnamed(self, fd: int) -> None:
        source = f"{_PROC_FD}/{fd}"
        if not self.replace:
            self._link_no_clobber(source)
            return
        # A name beside the target for the instant between link and rename.
        while True:
            self.temp_path = os.path.join(self.folder, temp_prefix(self.path) + os.urandom(4).hex() + ".part")
            try:
                _hard_link(source, self.temp_path)
                break
            except FileExistsError:
                continue
        os.replace(self.temp_path, self.path)

    def _link_no_clobber(self, source: str) -> None:
        try:
            _hard_link(source, self.path)
        except FileExistsError:
            raise OutputError(f"{self.path} already exists; pass --force to replace it.") from None

    def abort(self) -> None:
        """Forget the temporary file; the target stays as it was."""
        if self._done:
            return
        self._done = True
        if self.temp_path is not None:
            try:
                os.unlink(self.temp_path)
            except OSError:
                pass
        self._close()

    def _close(self) -> None:
        try:
            self.file.close()
        except OSError:
            pass


_SYNC_FILE_RANGE: Any = None


def start_writeback(fd: int, offset: int = 0) -> None:
    """Ask the kernel to start writing a file's dirty pages from ``offset`` to its end to
    disk, without waiting (a range, not the whole file: cheaper on a large file).

    Linux's ``sync_file_range(SYNC_FILE_RANGE_WRITE)`` (through libc: Python has no
    binding); a hint only, so nothing happens where it is missing or fails.
    """
    global _SYNC_FILE_RANGE
    if _SYNC_FILE_RANGE is None:
        _SYNC_FILE_RANGE = False
        try:
            import ctypes

            function = ctypes.CDLL(None, use_errno=True).sync_file_range
            function.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
            function.restype = ctypes.c_int
            _SYNC_FILE_RANGE = function
        except (OSError, AttributeError):  # not Linux, or no such libc function
            pass
    if _SYNC_FILE_RANGE:
        _SYNC_FILE_RANGE(fd, offset, 0, 2)  # length 0: to the end; 2 = SYNC_FILE_RANGE_WRITE


def _hard_link(source: str, destination: str) -> None:
    """``linkat(..., AT_SYMLINK_FOLLOW)``, which links the file behind ``/proc/self/fd/N``.

    ``os.link`` uses plain ``link()`` (which would link the magic symlink itself) unless a
    directory descriptor is given, so one is.
    """
    folder = os.open(os.path.dirname(os.path.abspath(destination)), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.link(source, os.path.basename(destination), dst_dir_fd=folder, follow_symlinks=True)
    finally:
        os.close(folder)


def _named_temp(folder: str, prefix: str) -> tuple[int, str]:
    import tempfile

    return tempfile.mkstemp(dir=folder, prefix=prefix, suffix=".part")


def remove_stale_temporaries(path: str) -> None:
    """Remove ``path``'s named temporary files whose writer is gone (crashed).

    A live writer holds an exclusive ``flock`` on its temporary file, so a file that can
    be locked here has no writer any more.
    """
    if fcntl is None:  # pragma: no cover
        return
    folder = os.path.dirname(os.path.abspath(path))
    prefix = temp_prefix(path)
    try:
        names = [n for n in os.listdir(folder) if n.startswith(prefix) and n.endswith(".part")]
    except OSError:
        return
    for name in names:
        candidate = os.path.join(folder, name)
        try:
            fd = os.open(candidate, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
        except OSError:
            continue
        try:
            if _lock(fd, blocking=False) and _same_file(fd, candidate):
                os.unlink(candidate)
        except OSError:
            pass
        finally:
            os.close(fd)


class TargetLock:
    """An exclusive lock on updating ``path``, held across processes until :meth:`release`.

    The lock is an ``flock`` on ``.<name>.lock`` beside the target (not on the target
    itself: the target is replaced by each update, and HDF5 takes its own locks on it).
    The lock file is removed on release; a waiter that wakes up to a removed or replaced
    lock file starts over, so two holders can never coexist. A crash can leave an empty
    lock file, which the next update removes.
    """

    def __init__(self, path: str) -> None:
        self.path = lock_path_for(path)
        self._fd: int | None = None
        if fcntl is None:  # pragma: no cover
            return
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o666)
            except OSError as error:
                raise write_failure(path, error) from None
            try:
                _lock(fd, blocking=True)
                if _same_file(fd, self.path):
                    self._fd = fd
                    return
            except BaseException:
                os.close(fd)
                raise
            os.close(fd)

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            os.unlink(self.path)
        except OSError:
            pass
        os.close(fd)


def _lock(fd: int, blocking: bool) -> bool:
    if fcntl is None:  # pragma: no cover
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
    except BlockingIOError:
        return False
    return True


def _same_file(fd: int, path: str) -> bool:
    try:
        named = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (named.st_dev, named.st_ino) == (held.st_dev, held.st_ino)


def _mode_for(path: str) -> int:
    """The replaced file's permissions, else what a new file gets under the umask."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        mask = os.umask(0)
        os.umask(mask)
        return 0o666 & ~mask


def _fsync_folder(folder: str) -> None:
    """Make the rename itself durable (best effort: not every system allows it)."""
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def copy_range(source: IO[bytes], start: int, length: int, destination: IO[bytes]) -> None:
    """Copy ``length`` raw bytes of ``source`` from ``start`` to ``destination``'s position.

    Uses ``copy_file_range`` (in-kernel, and a reflink on filesystems that share blocks)
    where possible, else plain reads and writes.
    """
    destination.flush()
    if length <= 0:
        return
    src, dst = source.fileno(), destination.fileno()
    position = start
    end = start + length
    if hasattr(os, "copy_file_range"):
        try:
            while position < end:
                copied = os.copy_file_range(src, dst, end - position, position)
                if copied == 0:
                    break
                position += copied
        except OSError as error:
            if error.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
                raise
        if position == end:
            destination.seek(0, os.SEEK_CUR)  # resynchronise the buffered file with the fd
            return
    source.seek(position)
    while position < end:
        chunk = source.read(min(1 << 22, end - position))
        if not chunk:
            raise OSError(errno.EIO, f"unexpected end of file at byte {position}")
        destination.write(chunk)
        position += len(chunk)
    if position < end:  # pragma: no cover
        raise OSError(errno.EIO, "short copy")


@contextmanager
def deferred_interrupts() -> Iterator[None]:
    """Hold Ctrl-C (and SIGTERM) back while native code that cannot be interrupted runs.

    HDF5 crashes the process if it is closed after one of its I/O calls failed, so
    Python must not raise inside a call into it; the signal is re-delivered on exit.
    Only the main thread receives signals, so elsewhere this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []
    handled = (signal.SIGINT, signal.SIGTERM)
    previous: dict[int, Any] = {}

    def defer(signum: int, frame: Any) -> None:
        pending.append(signum)

    for signum in handled:
        previous[signum] = signal.signal(signum, defer)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if pending:
            signal.raise_signal(pending[0])
