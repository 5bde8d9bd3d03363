"""Where the CLI's credentials come from: the one place to extend (OAuth settings go here).

In order: a personal access token from ``--token-file PATH`` (an explicit choice beats the
ambient environment), the ``TALLYFY_API_TOKEN`` environment variable (whitespace trimmed), then
OAuth settings from the environment (``TALLYFY_CLIENT_ID``, ``TALLYFY_CLIENT_SECRET``, and
``TALLYFY_USERNAME``/``TALLYFY_PASSWORD`` for the password grant, else client credentials;
``TALLYFY_TOKEN_URL`` to override the token endpoint). There is deliberately no option that
takes a secret itself: any local user can read a process's command line.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from .._auth import StaticToken, TokenProvider, provider_from_env
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
            try:
                oauth = provider_from_env(environ)
            except ValueError as exc:  # half-configured OAuth: names the variable, not a value
                raise UsageError(str(exc)) from None
            if oauth is not None:
                return oauth
            raise UsageError(
                f"no API token: set {TOKEN_ENV}, pass --token-file PATH, or set "
                "TALLYFY_CLIENT_ID/TALLYFY_CLIENT_SECRET for OAuth "
                "(or try 'aiotallyfy demo', which needs no account)"
            )
        if any(c in token for c in "\r\n"):
            raise UsageError(f"{TOKEN_ENV} holds more than one line")
    return StaticToken(token)
