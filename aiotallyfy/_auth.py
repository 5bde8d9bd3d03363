"""Where a request's bearer token comes from.

The transport asks a ``TokenProvider`` for the token of each request (per organization, so
one client and one session can serve orgs that need different tokens), and tells it when the
server answered 401 so that a refreshing provider can renew once and have the request retried.

Providers here:

- ``StaticToken``: one personal access token; a 401 is final.
- ``CallableTokenProvider``: your own ``async fn(org_id)``, cached until its expiry or a 401.
- ``PerOrgTokens``: a different token or provider per organization, with a default.
- ``PasswordGrant`` / ``ClientCredentialsGrant`` (in ``_oauth``): OAuth grants that renew.

``_oauth`` builds on this module, never the reverse; reading OAuth settings from the
environment is the CLI's business (``cli._credentials.provider_from_env``).

Every renewing provider is *single flight*: however many requests find the token expired, or
come back 401, at the same moment, one token request is made and the others await it. A 401
for a token older than the current one does not renew again; the request is simply retried
with the newer token.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from ._clock import Clock, LoopClock
from ._errors import AuthenticationError, TallyfyError
from ._secrets import Secret

if TYPE_CHECKING:
    from ._transport import Body, RawResponse

__all__ = [
    "AuthBinding",
    "CallableTokenProvider",
    "IssuedToken",
    "PerOrgTokens",
    "SendUnmetered",
    "StaticToken",
    "SupportsBind",
    "TokenProvider",
    "bind_provider",
]

logger = logging.getLogger("aiotallyfy.auth")

# Renew this long before a token's announced expiry (capped at half its lifetime), so that a
# request sent just before expiry does not arrive just after it.
DEFAULT_REFRESH_MARGIN = 60.0


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


class SendUnmetered(Protocol):
    """One unauthenticated attempt outside the rate-limit budget (``HTTPCore.send_unmetered``):
    a ``RawResponse``, or ``TransportFailure``."""

    async def __call__(
        self,
        method: str,
        url: str,
        *,
        body: Body = None,
        extra_headers: Mapping[str, str] | None = None,
        follow_redirects: bool = True,
        total_timeout: float | None = None,
        attempt: int = 1,
    ) -> RawResponse: ...


@dataclass(frozen=True, slots=True)
class AuthBinding:
    """What a client lends its token provider: its send path (so token requests obey the
    client's TLS settings, pool and body cap, and are counted and logged with its other
    requests) and the client's clock."""

    send: SendUnmetered | None = None
    clock: Clock | None = None


@runtime_checkable
class SupportsBind(Protocol):
    """A provider that wants the client's session and clock (OAuth grants, per-org maps)."""

    def bind(self, binding: AuthBinding) -> None: ...


@runtime_checkable
class SupportsRateLimitIdentity(Protocol):
    """A provider whose tokens change (renewals) while the identity they act for does not.

    Tallyfy counts its limit per user, not per token string, so a renewed token must keep the
    old one's rate-limit budget: the limiter keys the scope by this identity instead of by a
    hash of the token. Return ``None`` to fall back to the token hash.
    """

    def rate_limit_identity(self, org_id: str | None) -> str | None: ...


def rate_limit_identity(provider: TokenProvider, org_id: str | None) -> str | None:
    """The provider's stable identity for ``org_id``, if it has one (never a secret)."""
    if isinstance(provider, SupportsRateLimitIdentity):
        return provider.rate_limit_identity(org_id)
    return None


@runtime_checkable
class SupportsHeldSecrets(Protocol):
    """A provider holding credentials besides the token it hands out (an OAuth client secret,
    a password, a refresh token), so that text coming back from the API can be scrubbed of
    them too."""

    def held_secrets(self, org_id: str | None) -> list[Secret]: ...


def held_secrets(provider: TokenProvider, org_id: str | None) -> list[Secret]:
    """Every credential ``provider`` holds for ``org_id`` beyond the token (none if it says
    nothing)."""
    if isinstance(provider, SupportsHeldSecrets):
        return provider.held_secrets(org_id)
    return []


def bind_provider(provider: TokenProvider, binding: AuthBinding) -> None:
    """Hand ``binding`` to ``provider`` if it takes one; plain providers need nothing."""
    if isinstance(provider, SupportsBind):
        provider.bind(binding)


def _clean_token(value: str | Secret) -> Secret:
    text = Secret(value).reveal().strip()
    if not text:
        raise ValueError("the token is empty")
    if any(c in text for c in "\r\n"):
        raise ValueError("the token contains a line break")
    return Secret(text)


class StaticToken:
    """One personal access token for every request. A 401 is final: it cannot renew."""

    __slots__ = ("_token",)

    def __init__(self, token: str | Secret) -> None:
        self._token = _clean_token(token)

    async def get_token(self, org_id: str | None) -> Secret:
        return self._token

    async def on_unauthorized(self, org_id: str | None, token: Secret) -> bool:
        return False

    async def aclose(self) -> None:
        return None

    def __repr__(self) -> str:
        return "StaticToken(Secret('**********'))"


def fixed_token(provider: TokenProvider) -> Secret | None:
    """The token ``provider`` always hands out, when that is known without asking (a plain
    ``StaticToken``, not a subclass that may override ``get_token``): the request loop then
    skips one coroutine per attempt. ``None``: ask ``get_token``."""
    if type(provider) is StaticToken:
        return provider._token
    return None


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A token and, if known, how many seconds it stays valid (``None``: until a 401)."""

    token: Secret
    expires_in: float | None = None

    def __init__(self, token: str | Secret, expires_in: float | None = None) -> None:
        object.__setattr__(self, "token", _clean_token(token))
        if expires_in is not None and expires_in < 0:
            raise ValueError("expires_in must be >= 0")
        object.__setattr__(self, "expires_in", expires_in)


@dataclass(frozen=True, slots=True)
class _Held:
    token: Secret
    renew_at: float | None  # clock time from which to renew proactively; None: only on 401
    expires_at: float | None = None  # clock time the token stops working; None: unknown

    def valid_at(self, now: float) -> bool:
        return self.expires_at is not None and now < self.expires_at


# After a proactive renewal failed, try again after a quarter of the token's remaining life
# (at least this long, at most until it expires): a failing token endpoint is then asked a
# few times before expiry, not on every call.
_RENEW_RETRY_MIN = 1.0


class _Slot:
    """One cache key's current token and its at-most-one renewal in flight."""

    __slots__ = ("current", "inflight")

    def __init__(self) -> None:
        self.current: _Held | None = None
        self.inflight: asyncio.Task[_Held] | None = None


class RenewingTokenProvider:
    """Base of providers that fetch tokens and renew them: caching, proactive renewal a margin
    before expiry, renewal on 401, and single flight. Subclasses implement ``_fetch``.

    Tokens are cached per ``_key(org_id)``: OAuth grants use one key for every org (one token
    for the user or app); ``CallableTokenProvider`` keys by org id.
    """

    def __init__(self, *, refresh_margin: float, clock: Clock | None) -> None:
        if refresh_margin < 0:
            raise ValueError("refresh_margin must be >= 0")
        self.refresh_margin = refresh_margin
        self._clock: Clock | None = clock
        self._slots: dict[str | None, _Slot] = {}
        self._closed = False

    # -- what subclasses provide -------------------------------------------------------
    def _key(self, org_id: str | None) -> str | None:
        return None

    async def _fetch(self, org_id: str | None, stale: Secret | None) -> IssuedToken:
        """Get a new token; ``stale`` is the one being replaced (``None`` at first)."""
        raise NotImplementedError

    # -- the TokenProvider interface ---------------------------------------------------
    def bind(self, binding: AuthBinding) -> None:
        if self._clock is None and binding.clock is not None:
            self._clock = binding.clock

    @property
    def clock(self) -> Clock:
        if self._clock is None:
            self._clock = LoopClock()
        return self._clock

    async def get_token(self, org_id: str | None) -> Secret:
        slot = self._slot(org_id)
        held = slot.current
        if held is not None and not self._due(held):
            return held.token
        return (await self._renew(slot, org_id, seen=held)).token

    async def on_unauthorized(self, org_id: str | None, token: Secret) -> bool:
        slot = self._slot(org_id)
        if slot.inflight is not None:
            # A renewal is already under way: wait for it and retry with its token.
            renewed = await asyncio.shield(slot.inflight)
            if renewed.token != token:
                return True
            # It failed and kept the current token, which the server has just refused: a
            # renewal of our own, whose failure is raised as what it is.
        held = slot.current
        if held is not None and held.token != token:
            return True  # renewed since this request took its token: retry, do not renew
        logger.debug("token rejected with 401; renewing")
        new = await self._renew(slot, org_id, seen=held, keep_current=False)
        return new.token != token

    async def aclose(self) -> None:
        self._closed = True
        tasks = [s.inflight for s in self._slots.values() if s.inflight is not None]
        for task in tasks:
            task.cancel()
        # Closing: a cancelled or failed renewal no longer matters to anyone.
        await asyncio.gather(*tasks, return_exceptions=True)
        self._slots.clear()

    # -- machinery ---------------------------------------------------------------------
    def _slot(self, org_id: str | None) -> _Slot:
        if self._closed:
            raise RuntimeError("this token provider is closed")
        key = self._key(org_id)
        slot = self._slots.get(key)
        if slot is None:
            slot = self._slots[key] = _Slot()
        return slot

    def _due(self, held: _Held) -> bool:
        return held.renew_at is not None and self.clock.now() >= held.renew_at

    async def _renew(
        self, slot: _Slot, org_id: str | None, *, seen: _Held | None, keep_current: bool = True
    ) -> _Held:
        """Join the renewal in flight, or start one unless someone already replaced ``seen``.

        No ``await`` separates the checks from creating the task, so two callers can never
        both start one. ``keep_current``: if the renewal fails while the current token is
        still valid, go on with it (a proactive renewal); False after a 401, when the server
        has refused it.
        """
        if slot.inflight is None:
            current = slot.current
            if current is not None and current is not seen and not self._due(current):
                return current
            slot.inflight = asyncio.get_running_loop().create_task(
                self._run(slot, org_id, seen, keep_current=keep_current)
            )
        # shield: a caller being cancelled must not cancel the renewal others are awaiting.
        return await asyncio.shield(slot.inflight)

    async def _run(
        self, slot: _Slot, org_id: str | None, seen: _Held | None, *, keep_current: bool
    ) -> _Held:
        try:
            started = self.clock.now()
            try:
                issued = await self._fetch(org_id, seen.token if seen is not None else None)
            except AuthenticationError:
                raise  # the credentials were refused: nothing to fall back on
            except Exception as exc:
                now = self.clock.now()
                if not (keep_current and seen is not None and seen.valid_at(now)):
                    raise
                # A proactive renewal failed (the token endpoint is down or unreachable):
                # the current token works until it expires, so keep serving it and try
                # again later, rather than failing every call that is waiting.
                assert seen.expires_at is not None
                remaining = seen.expires_at - now
                retry_at = now + min(max(_RENEW_RETRY_MIN, remaining / 4), remaining)
                # Only our own errors' text is logged: they never hold a secret, while an
                # exception from a user's token callable might.
                detail = f": {exc}" if isinstance(exc, TallyfyError) else ""
                logger.warning(
                    "token renewal failed (%s%s); using the current token, valid for %.0f s "
                    "more, and trying again in %.0f s",
                    type(exc).__name__,
                    detail,
                    remaining,
                    retry_at - now,
                )
                held = _Held(seen.token, retry_at, seen.expires_at)
                slot.current = held
                return held
            renew_at: float | None = None
            expires_at: float | None = None
            if issued.expires_in is not None:
                margin = min(self.refresh_margin, issued.expires_in / 2)
                # Timed from before the request: our idea of expiry is never later than the
                # server's.
                expires_at = started + issued.expires_in
                renew_at = expires_at - margin
            held = _Held(issued.token, renew_at, expires_at)
            slot.current = held
            return held
        finally:
            slot.inflight = None


class CallableTokenProvider(RenewingTokenProvider):
    """Tokens from your own coroutine: ``fn(org_id)`` returns a token (``str``/``Secret``) or
    an ``IssuedToken`` with its lifetime.

    The result is cached per org until ``refresh_margin`` before its expiry (forever without
    one) or until the server answers 401; then ``fn`` is called again, once however many
    requests are waiting. If ``fn`` hands back the token that was just rejected, the request
    fails with ``AuthenticationError`` instead of retrying it.
    """

    def __init__(
        self,
        fn: Callable[[str | None], Awaitable[str | Secret | IssuedToken]],
        *,
        per_org: bool = True,
        refresh_margin: float = DEFAULT_REFRESH_MARGIN,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(refresh_margin=refresh_margin, clock=clock)
        self._fn = fn
        self._per_org = per_org

    def _key(self, org_id: str | None) -> str | None:
        return org_id if self._per_org else None

    async def _fetch(self, org_id: str | None, stale: Secret | None) -> IssuedToken:
        result = await self._fn(org_id)
        if isinstance(result, IssuedToken):
            return result
        if isinstance(result, (str, Secret)):
            return IssuedToken(result)
        raise TypeError("the token callable must return a str, Secret or IssuedToken")

    def __repr__(self) -> str:
        name = getattr(self._fn, "__qualname__", type(self._fn).__name__)
        return f"CallableTokenProvider({name}, per_org={self._per_org})"


class PerOrgTokens:
    """A token or provider per organization id, and a ``default`` for everything else
    (requests that are not org-scoped, such as ``/me``, and orgs not in the map).

    One client and one session then serve many orgs, each request carrying its org's token;
    each token also gets its own rate-limit scope. A request for an org with no token and no
    default raises ``AuthenticationError`` before anything is sent.
    """

    def __init__(
        self,
        tokens: Mapping[str, str | Secret | TokenProvider],
        *,
        default: str | Secret | TokenProvider | None = None,
    ) -> None:
        self._providers: dict[str, TokenProvider] = {
            str(org): _as_provider(value) for org, value in tokens.items()
        }
        self._default: TokenProvider | None = _as_provider(default) if default is not None else None

    def provider_for(self, org_id: str | None) -> TokenProvider:
        provider = self._providers.get(org_id) if org_id is not None else None
        if provider is None:
            provider = self._default
        if provider is None:
            what = f"organization {org_id!r}" if org_id is not None else "requests without an org"
            raise AuthenticationError(
                f"no token configured for {what} (and no default)", status=0, org_id=org_id
            )
        return provider

    async def get_token(self, org_id: str | None) -> Secret:
        return await self.provider_for(org_id).get_token(org_id)

    async def on_unauthorized(self, org_id: str | None, token: Secret) -> bool:
        return await self.provider_for(org_id).on_unauthorized(org_id, token)

    def rate_limit_identity(self, org_id: str | None) -> str | None:
        return rate_limit_identity(self.provider_for(org_id), org_id)

    def held_secrets(self, org_id: str | None) -> list[Secret]:
        return held_secrets(self.provider_for(org_id), org_id)

    def bind(self, binding: AuthBinding) -> None:
        for provider in self._distinct():
            bind_provider(provider, binding)

    async def aclose(self) -> None:
        for provider in self._distinct():
            await provider.aclose()

    def _distinct(self) -> list[TokenProvider]:
        seen: dict[int, TokenProvider] = {}
        for provider in (*self._providers.values(), self._default):
            if provider is not None:
                seen.setdefault(id(provider), provider)
        return list(seen.values())

    def __repr__(self) -> str:
        inner = ", ".join(f"{org!r}: {p!r}" for org, p in self._providers.items())
        return f"PerOrgTokens({{{inner}}}, default={self._default!r})"


def _as_provider(value: str | Secret | TokenProvider) -> TokenProvider:
    if isinstance(value, (str, Secret)):
        return StaticToken(value)
    return value
