"""``GET https://api.tallyfy.com/health``: is the API up? (SUP ``tallyfy/api-support`` README:
"For real-time API health checks, use the health endpoint".)

The route sits at the root of ``api.tallyfy.com``, not under ``/organizations`` nor under the
default base URL ``https://go.tallyfy.com/api``, so its URL is derived from the base URL:

- ``https://go.tallyfy.com/api`` or ``https://api.tallyfy.com`` (Tallyfy's production API,
  either root) → ``https://api.tallyfy.com/health``, the documented URL;
- any other base URL (a proxy, staging, the fake) → ``{base_url}/health``: the same API
  behind another root serves its routes under that root;
- ``TallyfyClient.health(url=...)`` overrides both.

The check is one attempt, without the bearer token (the endpoint is on another host than the
default base URL, and the transport never sends the token across hosts), outside the rate
limiter and the retry policy: a health check reports what it sees now.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

import orjson

from ._auth import SendUnmetered
from ._http import failure_error
from ._transport import TransportFailure

__all__ = ["HealthStatus", "check_health", "health_url"]

DOCUMENTED_HEALTH_URL: Final = "https://api.tallyfy.com/health"
_PRODUCTION_HOSTS: Final = frozenset({"go.tallyfy.com", "api.tallyfy.com"})


@dataclass(frozen=True, slots=True)
class HealthStatus:
    """``ok`` when the endpoint answered 2xx; ``body`` is its JSON (or text, at most 1 KiB)."""

    ok: bool
    status: int
    url: str
    body: Any


def health_url(base_url: str) -> str:
    """The health endpoint for a client's (normalized) base URL; see the module docstring."""
    parts = urlsplit(base_url)
    if parts.scheme == "https" and (parts.hostname or "").lower() in _PRODUCTION_HOSTS:
        return DOCUMENTED_HEALTH_URL
    return f"{base_url.rstrip('/')}/health"


async def check_health(send: SendUnmetered, url: str) -> HealthStatus:
    """One unauthenticated ``GET url`` through the client's send path (counted and logged);
    ``TransportError`` when nothing usable came back."""
    try:
        raw = await send("GET", url)
    except TransportFailure as failure:
        raise failure_error(
            failure.kind,
            f"health check failed: {failure.detail}",
            reason="a health check is one attempt",
            unknown=False,
            limit=failure.limit,
            method="GET",
            path=urlsplit(url).path,
            attempts=1,
        ) from None
    body: Any
    try:
        body = orjson.loads(raw.body) if raw.body.strip() else None
    except orjson.JSONDecodeError:
        body = raw.body[:1024].decode("utf-8", "replace")
    return HealthStatus(ok=200 <= raw.status < 300, status=raw.status, url=url, body=body)
