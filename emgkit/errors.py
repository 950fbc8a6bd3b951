"""emgkit's exception hierarchy.

Every error a user can cause by what they pass in (a file, a parameter) is an
:class:`EmgkitError`, so the CLI can print one line and exit non-zero. Each
also subclasses the builtin that fits, so ``except ValueError`` keeps working.
"""
from __future__ import annotations

import os


class EmgkitError(Exception):
    """Base class of every error emgkit raises on purpose."""


class ParameterError(EmgkitError, ValueError):
    """A parameter value is invalid (names the parameter, the value and the allowed range)."""


class FileFormatError(EmgkitError, ValueError):
    """A file exists but its content is not what its format requires."""


class UnsupportedFormatError(EmgkitError, ValueError):
    """No reader handles this file (lists the supported formats)."""


class EmgkitFileNotFoundError(EmgkitError, FileNotFoundError):
    """The file (or a file it refers to) does not exist."""


class TruncatedFileError(FileFormatError):
    """The data file holds fewer bytes than its header promises."""


class ResultFileError(EmgkitError, OSError):
    """A results file cannot be written or read back."""


def file_error(path, problem: str, fix: str | None = None, cls=FileFormatError) -> EmgkitError:
    """Build a one-line error naming the file, what is wrong, and the fix when there is one."""
    msg = f"{os.fspath(path)}: {problem}"
    if fix:
        msg += f" ({fix})"
    return cls(msg)


def check_option(name: str, value, allowed) -> None:
    """Raise ParameterError unless ``value`` is one of ``allowed``."""
    if value not in allowed:
        raise ParameterError(
            f"{name} must be one of {', '.join(map(repr, allowed))}; got {value!r}"
        )
