"""OAuth 2 grants against Tallyfy's token endpoint (Laravel Passport), as token providers.

- ``PasswordGrant``: user context. Gets an access and a refresh token; renews with the
  refresh token a margin before expiry or on a 401, and falls back to the password grant when
  the refresh token is refused (expired or revoked).
- ``ClientCredentialsGrant``: application context. No refresh token is issued, so it simply
  asks for a new access token before expiry, or on a 401.

Both renew single-flight (see ``RenewingTokenProvider``). The token endpoint takes only
``application/x-www-form-urlencoded`` POSTs; a JSON body gets 400.

Token requests go through the client's own transport once the provider is handed to a
``TallyfyClient`` (``HTTPCore.send_unmetered``: its TLS settings, including ``ssl_context``,
its pool, its ``max_response_bytes``, its counters and its log); a provider used on its own
opens a transport of its own, verifying TLS, closed by ``aclose()``. Either way the failure
classification is the transport's (``TransportFailure``) and the error for it is the one API
calls get (``_http.failure_error``). The token URL obeys the same rule as the base URL: plain
``http://`` only to loopback unless ``allow_insecure_http=True``. Redirects from the token
endpoint are never followed, since the request body carries credentials: a 3xx is a
``RedirectError``.
"""

from __future__ import annotations

import hashlib
import logging
import math
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlencode, urlsplit

import orjson

from ._auth import (
    DEFAULT_REFRESH_MARGIN,
    AuthBinding,
    IssuedToken,
    RenewingTokenProvider,
    SendUnmetered,
)
from ._checks import positive_seconds
from ._clock import Clock
from ._errors import (
    APIStatusError,
    AuthenticationError,
    RateLimitedError,
    RedirectError,
    ServerError,
    TallyfyError,
)
from ._http import failure_error
from ._retry import FailureKind, parse_retry_after
from ._secrets import Secret, scrub_then_truncate
from ._transport import AiohttpTransport, RawResponse, Timeouts, TransportFailure, check_url
from ._version import __version__

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
        self._timeout = positive_seconds("timeout", timeout)
        self._ssl_context = ssl_context
        self._bound_send: SendUnmetered | None = None
        self._own_transport: AiohttpTransport | None = None

    def bind(self, binding: AuthBinding) -> None:
        super().bind(binding)
        if self._bound_send is None and binding.send is not None:
            self._bound_send = binding.send

    async def aclose(self) -> None:
        await super().aclose()
        transport, self._own_transport = self._own_transport, None
        if transport is not None:
            await transport.aclose()

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
    async def _send(self, body: bytes, attempt: int) -> RawResponse:
        """One token request through the client's send path, or our own transport when the
        client is closed or lives in another event loop (or there is none)."""
        if self._bound_send is not None:
            try:
                return await self._bound_send(
                    "POST",
                    self.token_url,
                    body=body,
                    extra_headers=_FORM_HEADERS,
                    follow_redirects=False,
                    total_timeout=self._timeout,
                    attempt=attempt,
                )
            except RuntimeError:
                pass  # that client is closed or bound to another loop: nothing was sent
        if self._own_transport is None:
            self._own_transport = AiohttpTransport(
                base_url=self.token_url,
                max_connections=4,
                timeouts=Timeouts(total=self._timeout, connect=None, read=None),
                ssl_context=self._ssl_context,
                user_agent=f"aiotallyfy/{__version__}",
            )
        return await self._own_transport.send(
            "POST",
            self.token_url,
            token=None,
            body=body,
            extra_headers=_FORM_HEADERS,
            follow_redirects=False,
        )

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
        refresh token, which the password grant then replaces with a fresh sign-in. A TLS
        failure (configuration) and an answer over ``max_response_bytes`` are not retried.

        What is still failing after the retries is raised as what it is: ``ServerError``
        or ``RateLimitedError`` for a status, ``TransportError`` for the network,
        ``RedirectError`` for a 3xx, never an ``AuthenticationError``, which is kept for the
        endpoint refusing the credentials. Each carries method, path and attempts.
        """
        body = self._form(grant, fields)
        logger.debug("requesting a token: grant=%s url=%s", grant, self.token_url)
        attempt = 0
        while True:
            attempt += 1
            retry_after: float | None = None
            try:
                raw = await self._send(body, attempt)
            except TransportFailure as failure:
                retryable = failure.kind not in (FailureKind.TLS, FailureKind.TOO_LARGE)
                last = attempt >= self.max_attempts or not retryable
                error: TallyfyError = failure_error(
                    failure.kind,
                    f"token request failed: {failure.detail}",
                    reason="not retried" if not retryable else f"{attempt} attempts",
                    unknown=False,
                    limit=failure.limit,
                    method="POST",
                    path=self._path,
                    attempts=attempt,
                )
            else:
                if raw.status == 200:
                    result = self._parse(grant, raw)
                    logger.debug("token issued: grant=%s expires_in=%s", grant, result.expires_in)
                    return result
                retry_after = parse_retry_after(raw.header("Retry-After"))
                error = self._error(grant, raw, retry_after, attempt)
                retryable = isinstance(error, (ServerError, RateLimitedError))
                last = attempt >= self.max_attempts or not retryable
            if last:
                raise error
            delay = _TOKEN_BACKOFF[min(attempt, len(_TOKEN_BACKOFF)) - 1]
            if retry_after is not None:
                delay = max(delay, min(retry_after, _TOKEN_RETRY_AFTER_CAP))
            logger.debug(
                "token request failed (%s); retrying in %.1f s (attempt %d of %d)",
                type(error).__name__,
                delay,
                attempt + 1,
                self.max_attempts,
            )
            await self.clock.sleep(delay)

    @property
    def _path(self) -> str:
        return urlsplit(self.token_url).path

    def _form(self, grant: str, fields: Mapping[str, str | Secret]) -> bytes:
        form: dict[str, str | Secret] = {
            "grant_type": grant,
            "client_id": self.client_id,
            "client_secret": self._client_secret,
            **fields,
        }
        if self.scope is not None:
            form.setdefault("scope", self.scope)
        return urlencode(
            {k: v.reveal() if isinstance(v, Secret) else v for k, v in form.items()}
        ).encode()

    def _parse(self, grant: str, raw: RawResponse) -> _Grant:
        def bad(why: str) -> AuthenticationError:
            return AuthenticationError(
                f"token endpoint answered {grant} with {why}",
                status=raw.status,
                request_id=raw.header("X-Request-Id"),
                method="POST",
                path=self._path,
                attempts=1,
            )

        try:
            data: Any = orjson.loads(raw.body)
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
        self, grant: str, raw: RawResponse, retry_after: float | None, attempts: int
    ) -> APIStatusError:
        """The OAuth ``error`` and ``message`` (or ``error_description``), scrubbed of every
        credential we hold, in case a server ever echoes one back. A 5xx is a
        ``ServerError``, a 429 a ``RateLimitedError`` (the endpoint failed, not the
        credentials), a 3xx a ``RedirectError`` (not followed: the body holds credentials);
        anything else an ``AuthenticationError``."""
        status, payload = raw.status, raw.body
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
        elif 300 <= status < 400:
            kind = RedirectError
        return kind(
            f"{grant} grant failed: {message}",
            status=status,
            code=code,
            request_id=raw.header("X-Request-Id"),
            method="POST",
            path=self._path,
            attempts=attempts,
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
