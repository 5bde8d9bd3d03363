"""Turn the global options into a ``TallyfyClient``: the one place the CLI constructs it.

A shared rate limiter (e.g. Redis, ``--redis-url``) plugs in here as the client's ``limiter``.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from typing import Any, Final

from .._auth import TokenProvider
from .._client import TallyfyClient
from .._limits import DEFAULT_TOKEN_RATE_LIMITS, RateLimit, RateLimiter
from .._transport import DEFAULT_BASE_URL
from ._credentials import resolve_redis_url, resolve_token
from ._errors import UsageError

__all__ = ["BASE_URL_ENV", "base_url_from", "build_client"]

BASE_URL_ENV: Final = "TALLYFY_BASE_URL"


def base_url_from(args: argparse.Namespace, environ: Mapping[str, str]) -> str:
    """``--base-url``, else ``TALLYFY_BASE_URL``, else Tallyfy's production API."""
    url: str | None = getattr(args, "base_url", None)
    return url or environ.get(BASE_URL_ENV, "").strip() or DEFAULT_BASE_URL


def build_client(
    args: argparse.Namespace,
    environ: Mapping[str, str],
    *,
    auth: TokenProvider | None = None,
    base_url: str | None = None,
) -> TallyfyClient:
    """A client configured by the global options. ``auth``/``base_url`` override the
    resolution from options and environment (the demo passes its fake server's)."""
    provider = auth if auth is not None else resolve_token(args, environ)
    kwargs: dict[str, Any] = {
        "base_url": base_url or base_url_from(args, environ),
        "rate_limits": tuple(args.rate) if args.rate else DEFAULT_TOKEN_RATE_LIMITS,
        "org_rate_limits": tuple(args.org_rate or ()),
        "max_concurrency": args.concurrency,
        "timeout": args.timeout,
    }
    if args.max_retries is not None:
        kwargs["max_retries"] = args.max_retries
    redis_url = resolve_redis_url(args, environ)
    if redis_url:
        # The shared limiter takes the limits; the client refuses both at once.
        kwargs["limiter"] = _redis_limiter(
            redis_url, kwargs.pop("rate_limits"), kwargs.pop("org_rate_limits")
        )
    try:
        return TallyfyClient(provider, **kwargs)
    except ValueError as exc:  # a bad base URL, a refused plain-http host
        # Its message may quote the URL; a value typed by mistake is not repeated (see _args).
        raise UsageError(str(exc).replace(repr(kwargs["base_url"]), "(value not shown)")) from None


def _redis_limiter(
    url: str, rate_limits: Sequence[RateLimit], org_rate_limits: Sequence[RateLimit]
) -> RateLimiter:
    """The shared limiter for ``--redis-url``; the URL may hold a password, so no message
    repeats it."""
    try:
        from .._redis_limiter import RedisRateLimiter
    except ImportError:
        raise UsageError(
            "--redis-url needs the redis extra: pip install 'aiotallyfy[redis]'"
        ) from None
    try:
        return RedisRateLimiter.from_url(url, rate_limits, org_rate_limits)
    except ValueError:
        raise UsageError("--redis-url is not a valid redis:// URL") from None
