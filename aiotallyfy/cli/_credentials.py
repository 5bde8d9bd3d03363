"""Where the CLI's credentials come from: the one place to extend (OAuth settings go here).

Today: a personal access token from ``--token-file PATH`` (preferred when given: an explicit
choice beats the ambient environment) or the ``TALLYFY_API_TOKEN`` environment variable, with
surrounding whitespace trimmed. There is deliberately no option that takes the token itself:
any local user can read a process's command line.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from .._auth import StaticToken, TokenProvider
from ._errors import UsageError

__all__ = ["TOKEN_ENV", "resolve_token"]

TOKEN_ENV: Final = "TALLYFY_API_TOKEN"
_MAX_TOKEN_FILE: Final = 64 * 1024


def _read_token_file(path_text: str) -> str:
    path = Path(path_text).expanduser()
    try:
        with path.open("rb") as fh:
            raw = fh.read(_MAX_TOKEN_FILE + 1)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise UsageError(f"cannot read --token-file {path_text!r}: {reason}") from None
    if len(raw) > _MAX_TOKEN_FILE:
        raise UsageError(f"--token-file {path_text!r} is too large to be a token")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"--token-file {path_text!r} is not UTF-8 text") from None
    token = text.strip()
    if not token:
        raise UsageError(f"--token-file {path_text!r} is empty")
    if any(c in token for c in "\r\n"):
        raise UsageError(f"--token-file {path_text!r} holds more than one line")
    return token


def resolve_token(args: argparse.Namespace, environ: Mapping[str, str]) -> TokenProvider:
    """The credentials for this run, or ``UsageError`` (exit 2) when there are none.

    The error messages name where we looked, never what we found.
    """
    token_file: str | None = getattr(args, "token_file", None)
    if token_file:
        token = _read_token_file(token_file)
    else:
        token = environ.get(TOKEN_ENV, "").strip()
        if not token:
            raise UsageError(
                f"no API token: set {TOKEN_ENV} or pass --token-file PATH "
                "(or try 'aiotallyfy demo', which needs no account)"
            )
        if any(c in token for c in "\r\n"):
            raise UsageError(f"{TOKEN_ENV} holds more than one line")
    return StaticToken(token)
