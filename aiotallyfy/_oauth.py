"""OAuth 2 grants against Tallyfy's token endpoint (Laravel Passport), as token providers.

- ``PasswordGrant``: user context. Gets an access and a refresh token; renews with the
  refresh token a margin before expiry or on a 401, and falls back to the password grant when
  the refresh token is refused (expired or revoked).
- ``ClientCredentialsGrant``: application context. No refresh token is issued, so it simply
  asks for a new access token before expiry, or on a 401.

Both renew single-flight (see ``RenewingTokenProvider``). The token endpoint takes only
``application/x-www-form-urlencoded`` POSTs; a JSON body gets 400.

Token requests go through the client's own ``aiohttp`` session once the provider is handed to
a ``TallyfyClient`` (so they share its TLS settings, including ``ssl_context``); a provider
used on its own opens a session of its own, verifying TLS, closed by ``aclose()``. The token
URL obeys the same rule as the base URL: plain ``http://`` only to loopback unless
``allow_insecure_http=True``. Redirects from the token endpoint are never followed, since the
request body carries credentials.
"""

from __future__ import annotations

import hashlib
import logging
import math
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlencode, urlsplit

import aiohttp
import orjson

from ._auth import DEFAULT_REFRESH_MARGIN, AuthBinding, IssuedToken, RenewingTokenProvider
from ._clock import Clock
from ._errors import (
    APIStatusError,
    AuthenticationError,
    RateLimitedError,
    ServerError,
    TransportError,
)
from ._retry import parse_retry_after
from ._secrets import Secret, scrub_then_truncate
from ._transport import check_url

__all__ = [
    "DEFAULT_TOKEN_URL",
    "ClientCredentialsGrant",
    "OAuthGrant",
    "PasswordGrant",
]

logger = logging.getLogger("aiotallyfy.auth")

DEFAULT_TOKEN_URL: Final = "https://go.tallyfy.com/api/oauth/token"

DEFAULT_TOKEN_ATTEMPTS: Final = 4
"""Token requests per renewal: the first and 3 retries of a transient failure."""
_TOKEN_BACKOFF: Final = (0.5, 1.0, 2.0)
_TOKEN_RETRY_AFTER_CAP: Final = 10.0

_FORM_HEADERS: Final = {
    "Content-Type": "application/x-www-form-urlencoded",
    "Accept": "application/json",
}


def check_token_url(url: str, *, allow_insecure_http: bool) -> str:
    """Refuse token URLs that would leak credentials: plain http to a non-loopback host
    (unless opted in), userinfo in the URL, or anything but http(s)."""
    check_url(
        url,
        name="token_url",
        allow_insecure_http=allow_insecure_http,
        carries="client secret and password",
        label="token URL ",
    )
    return url


@dataclass(frozen=True, slots=True)
class _Grant:
    access: Secret
    refresh: Secret | None
    expires_in: float | None


class OAuthGrant(RenewingTokenProvider):
    """Shared by the grants: the client credentials, the token URL and the HTTP exchange."""

    grant_type: str = ""

    def __init__(
        self,
        *,
        client_id: str | int,
        client_secret: str | Secret,
        token_url: str = DEFAULT_TOKEN_URL,
        scope: str | None = None,
        refresh_margin: float = DEFAULT_REFRESH_MARGIN,
        timeout: float = 30.0,
        ssl_context: ssl.SSLContext | None = None,
        allow_insecure_http: bool = False,
        clock: Clock | None = None,
        max_attempts: int = DEFAULT_TOKEN_ATTEMPTS,
    ) -> None:
        super().__init__(refresh_margin=refresh_margin, clock=clock)
        if max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        self.max_attempts = max_attempts
        self.client_id = str(client_id).strip()
        if not self.client_id:
            raise ValueError("client_id is empty")
        self._client_secret = Secret(client_secret)
        if not self._client_secret.reveal():
            raise ValueError("client_secret is empty")
        self.token_url = check_token_url(token_url, allow_insecure_http=allow_insecure_http)
        self.scope = scope
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._ssl: ssl.SSLContext | bool = True if ssl_context is None else ssl_context
        self._bound_session: Callable[[], aiohttp.ClientSession] | None = None
        self._own_session: aiohttp.ClientSession | None = None

    def bind(self, binding: AuthBinding) -> None:
        super().bind(binding)
        if self._bound_session is None and binding.session is not None:
            self._bound_session = binding.session

    async def aclose(self) -> None:
        await super().aclose()
        session, self._own_session = self._own_session, None
        if session is not None:
            await session.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(client_id={self.client_id!r}, token_url={self.token_url!r})"

    def rate_limit_identity(self, org_id: str | None) -> str | None:
        """Every token this grant issues acts for the same principal: one budget for all."""
        principal = "\x00".join((self.token_url, self.client_id, self._principal()))
        return "oauth_" + hashlib.sha256(principal.encode()).hexdigest()[:16]

    def _principal(self) -> str:
        """Who the tokens act for, beyond the OAuth client (a user for the password grant)."""
        return self.grant_type

    # -- the exchange ------------------------------------------------------------------
    def _session(self) -> aiohttp.ClientSession:
        if self._bound_session is not None:
            try:
                return self._bound_session()
            except RuntimeError:
                pass  # that client is closed or lives in another event loop: use our own
        if self._own_session is None or self._own_session.closed:
            self._own_session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=self._ssl),
                timeout=self._timeout,
                cookie_jar=aiohttp.DummyCookieJar(),
                trust_env=False,
            )
        return self._own_session

    def _secrets(self) -> list[Secret]:
        """Everything to scrub from text coming back from the endpoint."""
        return [self._client_secret]

    def held_secrets(self, org_id: str | None) -> list[Secret]:
        """The same list, for errors of API calls made with this grant's tokens."""
        return self._secrets()

    async def _request(self, grant: str, fields: Mapping[str, str | Secret]) -> _Grant:
        """One token grant, retried on transient failures: a 5xx or 429, a connection that
        failed or was reset, a timeout (up to ``max_attempts`` requests, 0.5/1/2 s apart on
        the client's clock, or the server's ``Retry-After`` up to 10 s). Re-sending a token
        request is safe: the worst case is a token issued and never used, or a rotated
        refresh token, which the password grant then replaces with a fresh sign-in.

        What is still failing after the retries is raised as what it is: ``ServerError``
        or ``RateLimitedError`` for a status, ``TransportError`` for the network, never an
        ``AuthenticationError``, which is kept for the endpoint refusing the credentials.
        """
        attempt = 0
        while True:
            attempt += 1
            try:
                return await self._request_once(grant, fields)
            except (ServerError, RateLimitedError, TransportError) as exc:
                exc.attempts = attempt
                if attempt >= self.max_attempts:
                    raise
                delay = _TOKEN_BACKOFF[min(attempt, len(_TOKEN_BACKOFF)) - 1]
                retry_after = getattr(exc, "retry_after", None)
                if retry_after is not None:
                    delay = max(delay, min(retry_after, _TOKEN_RETRY_AFTER_CAP))
                logger.debug(
                    "token request failed (%s); retrying in %.1f s (attempt %d of %d)",
                    type(exc).__name__,
                    delay,
                    attempt + 1,
                    self.max_attempts,
                )
                await self.clock.sleep(delay)

    async def _request_once(self, grant: str, fields: Mapping[str, str | Secret]) -> _Grant:
        form: dict[str, str | Secret] = {
            "grant_type": grant,
            "client_id": self.client_id,
            "client_secret": self._client_secret,
            **fields,
        }
        if self.scope is not None:
            form.setdefault("scope", self.scope)
        body = urlencode(
            {k: v.reveal() if isinstance(v, Secret) else v for k, v in form.items()}
        ).encode()
        logger.debug("requesting a token: grant=%s url=%s", grant, self.token_url)
        host = urlsplit(self.token_url).hostname
        try:
            async with self._session().post(
                self.token_url,
                data=body,
                headers=_FORM_HEADERS,
                allow_redirects=False,
                timeout=self._timeout,
            ) as resp:
                payload = await resp.read()
                status = resp.status
                request_id = resp.headers.get("X-Request-Id")
                retry_after = parse_retry_after(resp.headers.get("Retry-After"))
        except aiohttp.ClientConnectorCertificateError:
            raise TransportError(
                f"TLS certificate verification failed for the token endpoint {host}", sent=False
            ) from None
        except aiohttp.ClientConnectorError as exc:
            raise TransportError(
                f"could not connect to the token endpoint {host}: {type(exc).__name__}",
                sent=False,
            ) from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise TransportError(
                f"token request to {host} failed: {type(exc).__name__}", sent=True
            ) from None
        if status != 200:
            raise self._error(grant, status, payload, request_id, retry_after)
        result = self._parse(grant, payload, status, request_id)
        logger.debug("token issued: grant=%s expires_in=%s", grant, result.expires_in)
        return result

    def _parse(self, grant: str, payload: bytes, status: int, request_id: str | None) -> _Grant:
        def bad(why: str) -> AuthenticationError:
            return AuthenticationError(
                f"token endpoint answered {grant} with {why}",
                status=status,
                request_id=request_id,
                method="POST",
                path=urlsplit(self.token_url).path,
            )

        try:
            data: Any = orjson.loads(payload)
        except orjson.JSONDecodeError:
            raise bad("a body that is not JSON") from None
        if not isinstance(data, dict):
            raise bad("a body that is not a JSON object")
        access = data.get("access_token")
        if not isinstance(access, str) or not access.strip():
            raise bad("no access_token")
        token_type = data.get("token_type", "Bearer")
        if not isinstance(token_type, str) or token_type.lower() != "bearer":
            raise bad(f"an unsupported token_type {str(token_type)[:20]!r}")
        refresh = data.get("refresh_token")
        return _Grant(
            access=Secret(access),
            refresh=Secret(refresh) if isinstance(refresh, str) and refresh else None,
            expires_in=_seconds(data.get("expires_in")),
        )

    def _error(
        self,
        grant: str,
        status: int,
        payload: bytes,
        request_id: str | None,
        retry_after: float | None = None,
    ) -> APIStatusError:
        """The OAuth ``error`` and ``message`` (or ``error_description``), scrubbed of every
        credential we hold, in case a server ever echoes one back. A 5xx is a
        ``ServerError`` and a 429 a ``RateLimitedError`` (the endpoint failed, not the
        credentials); anything else an ``AuthenticationError``."""
        code: str | None = None
        message = ""
        try:
            data: Any = orjson.loads(payload) if payload else None
        except orjson.JSONDecodeError:
            data = None
        if isinstance(data, dict):
            raw_code = data.get("error")
            code = raw_code if isinstance(raw_code, str) else None
            for key in ("message", "error_description", "hint"):
                value = data.get(key)
                if isinstance(value, str) and value.strip():
                    message = value.strip()
                    break
            if not message and code:
                message = code
        if 300 <= status < 400:
            message = "the token endpoint redirected; a request carrying credentials is not re-sent"
        elif not message:
            message = "the token endpoint refused the request"
        message = scrub_then_truncate(message, self._secrets(), 500)
        if code is not None:
            code = scrub_then_truncate(code, self._secrets(), 100)
        kind: type[APIStatusError] = AuthenticationError
        if status >= 500:
            kind = ServerError
        elif status == 429:
            kind = RateLimitedError
        return kind(
            f"{grant} grant failed: {message}",
            status=status,
            code=code,
            request_id=request_id,
            method="POST",
            path=urlsplit(self.token_url).path,
            retry_after=retry_after,
        )


class PasswordGrant(OAuthGrant):
    """User context from an email and password (Tallyfy's ``password`` grant).

    ::

        auth = PasswordGrant(client_id="15", client_secret=..., username=email, password=...)
        async with TallyfyClient(auth) as client: ...

    The access token is renewed with the refresh token ``refresh_margin`` seconds before it
    expires, or when the API answers 401 (then the request is retried once). If the refresh
    token is refused, it logs in again with the password.
    """

    grant_type = "password"

    def __init__(
        self,
        *,
        client_id: str | int,
        client_secret: str | Secret,
        username: str,
        password: str | Secret,
        token_url: str = DEFAULT_TOKEN_URL,
        scope: str | None = None,
        refresh_margin: float = DEFAULT_REFRESH_MARGIN,
        timeout: float = 30.0,
        ssl_context: ssl.SSLContext | None = None,
        allow_insecure_http: bool = False,
        clock: Clock | None = None,
        max_attempts: int = DEFAULT_TOKEN_ATTEMPTS,
    ) -> None:
        super().__init__(
            client_id=client_id,
            client_secret=client_secret,
            token_url=token_url,
            scope=scope,
            refresh_margin=refresh_margin,
            timeout=timeout,
            ssl_context=ssl_context,
            allow_insecure_http=allow_insecure_http,
            clock=clock,
            max_attempts=max_attempts,
        )
        if not username.strip():
            raise ValueError("username is empty")
        self._username = username.strip()
        self._password = Secret(password)
        if not self._password.reveal():
            raise ValueError("password is empty")
        self._refresh_token: Secret | None = None

    def _principal(self) -> str:
        return f"password:{self._username.lower()}"

    def _secrets(self) -> list[Secret]:
        found = [self._client_secret, self._password]
        if self._refresh_token is not None:
            found.append(self._refresh_token)
        return found

    async def _fetch(self, org_id: str | None, stale: Secret | None) -> IssuedToken:
        refresh = self._refresh_token
        if refresh is not None:
            try:
                grant = await self._request("refresh_token", {"refresh_token": refresh})
            except AuthenticationError as exc:
                if exc.status not in (400, 401):
                    raise
                logger.debug("refresh token refused (%s); signing in again", exc.code or exc.status)
                self._refresh_token = None
            else:
                if grant.refresh is not None:
                    self._refresh_token = grant.refresh
                return IssuedToken(grant.access, grant.expires_in)
        grant = await self._request(
            "password", {"username": self._username, "password": self._password}
        )
        self._refresh_token = grant.refresh
        return IssuedToken(grant.access, grant.expires_in)


class ClientCredentialsGrant(OAuthGrant):
    """Application context (Tallyfy's ``client_credentials`` grant; ``client_id`` is numeric).

    No refresh token exists for this grant: a new access token is requested
    ``refresh_margin`` seconds before the current one expires, or on a 401.
    """

    grant_type = "client_credentials"

    async def _fetch(self, org_id: str | None, stale: Secret | None) -> IssuedToken:
        grant = await self._request("client_credentials", {})
        return IssuedToken(grant.access, grant.expires_in)


def _seconds(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) and number >= 0 else None
