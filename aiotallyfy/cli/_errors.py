"""What the CLI can fail with, and the exit code and one-line message for each failure.

Every failure a user can cause or meet (a bad option, a missing token, an HTTP error, a dropped
connection) ends as one line on stderr and an exit code, never a traceback. The codes:

- 0: every organization succeeded;
- 1: some or all organizations failed, or an API/network error stopped a command;
- 2: a usage or configuration error (bad option, missing token, unreadable token file);
- 3: the token was rejected (HTTP 401);
- 130: interrupted (Ctrl-C / SIGINT).
"""

from __future__ import annotations

from typing import Final

from .._errors import TallyfyError

__all__ = [
    "EXIT_AUTH",
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "CommandFailed",
    "UsageError",
    "describe",
]

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_USAGE: Final = 2
EXIT_AUTH: Final = 3
EXIT_INTERRUPTED: Final = 130


class UsageError(Exception):
    """A bad option or configuration: exit 2 with this message (it never holds a secret)."""


class CommandFailed(Exception):
    """A step of a command failed (the message says which and why): exit 1."""


def describe(exc: BaseException) -> str:
    """One line for any error: Tallyfy errors already render status, message and route."""
    if isinstance(exc, TallyfyError):
        text = str(exc)
    else:
        text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return " ".join(text.split())  # one line, whatever the server put in its message
