"""Exception types and the process exit codes they map to.

The library raises these; only the CLI turns them into a message and an exit code,
so Python callers can catch them like any other exception.
"""

from __future__ import annotations

import enum
import errno


class ExitCode(enum.IntEnum):
    """Exit codes of the ``weightgen`` command (SPEC §2)."""

    OK = 0
    #: Runtime failures: I/O, refusing to overwrite, corrupt input, failed checks.
    RUNTIME = 1
    #: Usage errors: bad shape, unknown initializer, bad parameter, dtype or shape not allowed.
    USAGE = 2
    #: Interrupted by Ctrl-C (128 + SIGINT).
    INTERRUPTED = 130
    #: Stopped by SIGTERM (128 + SIGTERM), e.g. by ``timeout`` or ``kill``.
    TERMINATED = 143


class WeightgenError(Exception):
    """Base class: a message fit to show a user on one line, and an exit code."""

    exit_code: ExitCode = ExitCode.RUNTIME


class UsageError(WeightgenError, ValueError):
    """The request itself is wrong; nothing was generated or written."""

    exit_code = ExitCode.USAGE


class UnknownInitializerError(UsageError, KeyError):
    """No initializer of that name; the message suggests the closest ones."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class ParameterError(UsageError):
    """An initializer parameter (or common option) has a bad value."""


class ShapeError(UsageError):
    """The shape is malformed, or the initializer cannot take it."""


class DtypeError(UsageError):
    """The dtype is unknown, or not allowed for the initializer or format."""


class SpecError(UsageError):
    """A batch spec is malformed, or one of its tensors is wrong (the message names it)."""


class OutputError(WeightgenError, OSError):
    """Writing failed or was refused; the target was left as it was."""


class InputError(WeightgenError):
    """A file to read is missing, truncated, corrupt or not of a known format."""


class TooLargeError(WeightgenError, MemoryError):
    """The tensor does not fit in memory (and cannot be streamed)."""


class CheckFailedError(WeightgenError):
    """``inspect``: an entry does not follow the initializer it was compared with (exit 1)."""

class InitializerError(WeightgenError):
    """An initializer's own code failed or returned a wrong tensor (custom initializers).

    A runtime error (exit 1): the request was valid, the code it named misbehaved.
    """


def one_line(text: object) -> str:
    """``text`` with its line breaks (and the blanks around them) made single spaces: an
    error from someone else's code may span lines, a weightgen error never does."""
    return " ".join(part.strip() for part in str(text).splitlines() if part.strip())


#: How to mend a failed write, by errno.
_WRITE_MENDS = {
    errno.ENOENT: "create the folder first, or write elsewhere",
    errno.ENOTDIR: "a part of the path is a file, not a folder; write elsewhere",
    errno.EACCES: "write into a folder you may write to, or change its permissions",
    errno.EPERM: "write into a folder you may write to, or change its permissions",
    errno.EROFS: "the file system is read-only; write elsewhere",
    errno.ENOSPC: "free some space, or write elsewhere",
    errno.EDQUOT: "the disk quota is used up; free some space, or write elsewhere",
    errno.EISDIR: "that is a folder; name a file in it",
}


def write_failure(where: str, error: OSError) -> OutputError:
    """``cannot write WHERE: what the OS said; how to mend it`` (where there is a way)."""
    mend = _WRITE_MENDS.get(error.errno) if error.errno is not None else None
    return OutputError(f"cannot write {where}: {error.strerror or error}" + (f"; {mend}." if mend else ""))
