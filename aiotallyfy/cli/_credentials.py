"""Where the CLI's credentials come from: the one place to extend (OAuth settings go here).

In order: a personal access token from ``--token-file PATH`` (an explicit choice beats the
ambient environment), the ``TALLYFY_API_TOKEN`` environment variable (whitespace trimmed), then
OAuth settings from the environment (``TALLYFY_CLIENT_ID``, ``TALLYFY_CLIENT_SECRET``, and
``TALLYFY_USERNAME``/``TALLYFY_PASSWORD`` for the password grant, else client credentials;
``TALLYFY_TOKEN_URL`` to override the token endpoint). There is deliberately no option that
takes a secret itself: any local user can read a process's command line. The Redis URL for a
shared rate limiter may hold a password too: ``--redis-url`` (only without a password, see
``_args``), ``--redis-url-file PATH``, or ``TALLYFY_REDIS_URL``.

Error messages name the option, never the path given: a secret typed where the path goes
(``--token-file=PAT-...``) must not be printed back.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from .._auth import StaticToken, TokenProvider
from .._secrets import Secret
from ._errors import UsageError

__all__ = [
    "REDIS_URL_ENV",
    "TOKEN_ENV",
    "provider_from_env",
    "resolve_redis_url",
    "resolve_token",
]

TOKEN_ENV: Final = "TALLYFY_API_TOKEN"
REDIS_URL_ENV: Final = "TALLYFY_REDIS_URL"
_MAX_SECRET_FILE: Final = 64 * 1024


def _read_secret_file(path_text: str, option: str) -> str:
    """One line of text from the file ``option`` names (surrounding whitespace trimmed)."""
    path = Path(path_text).expanduser()
    try:
        with path.open("rb") as fh:
            raw = fh.read(_MAX_SECRET_FILE + 1)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise UsageError(f"cannot read {option}: {reason}") from None
    if len(raw) > _MAX_SECRET_FILE:
        raise UsageError(f"{option}: the file is too large")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{option}: the file is not UTF-8 text") from None
    secret = text.strip()
    if not secret:
        raise UsageError(f"{option}: the file is empty")
    if any(c in secret for c in "\r\n"):
        raise UsageError(f"{option}: the file holds more than one line")
    return secret


def resolve_redis_url(args: argparse.Namespace, environ: Mapping[str, str]) -> str | None:
    """``--redis-url`` (never with a password), else ``--redis-url-file``, else
    ``TALLYFY_REDIS_URL``; ``None`` when none is set (no shared limiter)."""
    url: str | None = getattr(args, "redis_url", None)
    if url:
        return url
    url_file: str | None = getattr(args, "redis_url_file", None)
    if url_file:
        return _read_secret_file(url_file, "--redis-url-file")
    return environ.get(REDIS_URL_ENV, "").strip() or None


def resolve_token(args: argparse.Namespace, environ: Mapping[str, str]) -> TokenProvider:
    """The credentials for this run, or ``UsageError`` (exit 2) when there are none.

    The error messages name where we looked, never what we found.
    """
    token_file: str | None = getattr(args, "token_file", None)
    if token_file:
        token = _read_secret_file(token_file, "--token-file")
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


def provider_from_env(
    environ: Mapping[str, str], *, token_url: str | None = None
) -> TokenProvider | None:
    """An OAuth provider configured from environment variables, or ``None`` if there is none.

    - ``TALLYFY_CLIENT_ID`` and ``TALLYFY_CLIENT_SECRET``: required for OAuth;
    - ``TALLYFY_USERNAME`` and ``TALLYFY_PASSWORD``: present → password grant (user context);
      absent → client credentials (application context);
    - ``TALLYFY_TOKEN_URL``: the token endpoint (``token_url`` wins; default Tallyfy's).

    Secrets come from the environment, never from argv. A half-configured environment raises
    ``ValueError`` naming the missing variable (never a value).
    """
    # Imported here: ``--version`` and ``--help`` need no OAuth (or aiohttp) machinery.
    from .._oauth import DEFAULT_TOKEN_URL, ClientCredentialsGrant, PasswordGrant

    def get(name: str) -> str | None:
        value = environ.get(name, "").strip()
        return value or None

    client_id = get("TALLYFY_CLIENT_ID")
    client_secret = get("TALLYFY_CLIENT_SECRET")
    username = get("TALLYFY_USERNAME")
    password = get("TALLYFY_PASSWORD")
    if client_id is None and client_secret is None:
        if username is not None or password is not None:
            raise ValueError(
                "TALLYFY_USERNAME/TALLYFY_PASSWORD need TALLYFY_CLIENT_ID and "
                "TALLYFY_CLIENT_SECRET (the password grant authenticates the OAuth client too)"
            )
        return None
    if client_id is None:
        raise ValueError("TALLYFY_CLIENT_SECRET is set but TALLYFY_CLIENT_ID is missing")
    if client_secret is None:
        raise ValueError("TALLYFY_CLIENT_ID is set but TALLYFY_CLIENT_SECRET is missing")
    url = token_url or get("TALLYFY_TOKEN_URL") or DEFAULT_TOKEN_URL
    if username is not None or password is not None:
        if username is None:
            raise ValueError("TALLYFY_PASSWORD is set but TALLYFY_USERNAME is missing")
        if password is None:
            raise ValueError("TALLYFY_USERNAME is set but TALLYFY_PASSWORD is missing")
        return PasswordGrant(
            client_id=client_id,
            client_secret=Secret(client_secret),
            username=username,
            password=Secret(password),
            token_url=url,
        )
    return ClientCredentialsGrant(
        client_id=client_id, client_secret=Secret(client_secret), token_url=url
    )
