"""Where a request's bearer token comes from.

The transport asks a ``TokenProvider`` for the token of each request (per organization, so
one client and one session can serve orgs that need different tokens), and tells it when the
server answered 401 so that a refreshing provider can renew once and have the request retried.
"""

from __future__ import annotations

from typing import Protocol

from ._secrets import Secret

__all__ = ["StaticToken", "TokenProvider"]


class TokenProvider(Protocol):
    """The seam for credentials: static tokens, OAuth grants, per-org maps, callables."""

    async def get_token(self, org_id: str | None) -> Secret:
        """The token to send for a request to ``org_id`` (``None``: not org-scoped)."""
        ...

    async def on_unauthorized(self, org_id: str | None, token: Secret) -> bool:
        """The server rejected ``token`` with 401. Return True if a new token is now available
        and the request should be retried once; False to raise ``AuthenticationError``."""
        ...

    async def aclose(self) -> None: ...


class StaticToken:
    """One personal access token for every request. A 401 is final: it cannot renew."""

    __slots__ = ("_token",)

    def __init__(self, token: str | Secret) -> None:
        secret = Secret(token)
        if not secret.reveal().strip():
            raise ValueError("the token is empty")
        if any(c in secret.reveal() for c in "\r\n"):
            raise ValueError("the token contains a line break")
        self._token = Secret(secret.reveal().strip())

    async def get_token(self, org_id: str | None) -> Secret:
        return self._token

    async def on_unauthorized(self, org_id: str | None, token: Secret) -> bool:
        return False

    async def aclose(self) -> None:
        return None

    def __repr__(self) -> str:
        return "StaticToken(Secret('**********'))"
