"""OAuth for the fake: ``/oauth/token`` (both roots) with Tallyfy's three grants, and access
tokens that expire on the event loop's clock (so on virtual time in tests).

Usage::

    async with FakeTallyfy() as fake:
        oauth = enable_oauth(
            fake, client_id="15", client_secret="s3cret", users={"a@b.co": "pw"},
            access_lifetime=3600,
        )
        auth = PasswordGrant(client_id="15", client_secret="s3cret", username="a@b.co",
                             password="pw", token_url=oauth.token_url)
        ...
        assert oauth.count("refresh_token") == 1

Behaviour (after Laravel Passport / league/oauth2-server; see the API digest §2.2):

* only ``application/x-www-form-urlencoded`` bodies; anything else (a JSON body) is 400
  ``unsupported_grant_type``, as Passport cannot read ``grant_type`` from it;
* every grant authenticates the client: ``client_id`` must be numeric and match, and
  ``client_secret`` must match, else 401 ``{"error": "invalid_client", ...}``;
* ``password``: ``username``/``password`` from ``users``, else 400 ``invalid_grant``; issues an
  access token (``access_lifetime``) and a refresh token;
* ``refresh_token``: a known refresh token, else 400 ``invalid_grant``; rotates it (the old
  refresh token and the access token issued with it are revoked) and issues a new pair;
* ``client_credentials``: an access token (``client_credentials_lifetime``), no refresh token;
* an access token past its lifetime (loop time) is answered 401 ``Unauthenticated.`` like any
  unknown token. Tokens not issued here (``fake.token``) never expire.

The endpoint is served without bearer auth, rate limiting or faults; use :meth:`fail_next`
to make it fail.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import parse_qsl

from aiohttp import web

from ._envelope import FakeHTTPError, json_response
from ._router import RouteContext, Router

if TYPE_CHECKING:
    from ._server import FakeTallyfy

__all__ = ["FakeOAuth", "IssuedAccessToken", "enable_oauth"]

TOKEN_PATH: Final = "/oauth/token"
_FORM: Final = "application/x-www-form-urlencoded"


def _oauth_error(status: int, error: str, message: str, hint: str | None = None) -> FakeHTTPError:
    body: dict[str, Any] = {"error": error, "error_description": message, "message": message}
    if hint is not None:
        body["hint"] = hint
    return FakeHTTPError(status, body)


def _invalid_client() -> FakeHTTPError:
    return _oauth_error(401, "invalid_client", "Client authentication failed")


def _missing(name: str) -> FakeHTTPError:
    return _oauth_error(
        400,
        "invalid_request",
        "The request is missing a required parameter, includes an invalid parameter value, "
        "includes a parameter more than once, or is otherwise malformed.",
        f"Check the `{name}` parameter",
    )


@dataclass(frozen=True, slots=True)
class IssuedAccessToken:
    """One access token the fake issued: its grant, user (None for client credentials) and
    the loop time it expires at."""

    token: str
    grant: str
    username: str | None
    expires_at: float


class _ExpiringTokens(set[str]):
    """``fake.tokens`` with expiry: membership also asks the OAuth state whether an issued
    token is still alive, on the running loop's clock. Plain added tokens never expire."""

    def __init__(self, tokens: Iterable[str], oauth: FakeOAuth) -> None:
        super().__init__(tokens)
        self._oauth = oauth

    def __contains__(self, item: object) -> bool:
        if not super().__contains__(item):
            return False
        return not isinstance(item, str) or self._oauth.is_alive(item)


class FakeOAuth:
    """The fake's OAuth state: clients, users, issued tokens, and per-grant request counts."""

    def __init__(
        self,
        fake: FakeTallyfy,
        *,
        client_id: str = "15",
        client_secret: str = "fake-client-secret",
        users: Mapping[str, str] | None = None,
        access_lifetime: float = 3600.0,
        client_credentials_lifetime: float = 604800.0,
    ) -> None:
        if access_lifetime <= 0 or client_credentials_lifetime <= 0:
            raise ValueError("token lifetimes must be > 0")
        self.fake = fake
        self.client_id = client_id
        self.client_secret = client_secret
        self.users: dict[str, str] = dict(users or {})
        self.access_lifetime = access_lifetime
        self.client_credentials_lifetime = client_credentials_lifetime
        self.grant_counts: Counter[str] = Counter()
        """Token requests per ``grant_type`` (failed ones included; ``""`` when missing)."""
        self.issued: list[IssuedAccessToken] = []
        self.refresh_tokens: dict[str, str] = {}
        """Live refresh token → username."""
        self.issued_refresh_tokens: list[str] = []
        self._access: dict[str, IssuedAccessToken] = {}
        self._access_of_refresh: dict[str, str] = {}
        self._failures: list[tuple[int, Any]] = []
        self._rng = fake.data.rng("oauth")

    # -- for tests -----------------------------------------------------------------------
    @property
    def token_url(self) -> str:
        """``{fake.base_url}/oauth/token`` (also served at ``{fake.root_url}/oauth/token``)."""
        return f"{self.fake.base_url}{TOKEN_PATH}"

    def count(self, grant: str | None = None) -> int:
        """Token requests seen for ``grant`` (all grants when ``None``)."""
        return self.grant_counts[grant] if grant is not None else sum(self.grant_counts.values())

    def is_alive(self, token: str) -> bool:
        """False for an issued access token past its expiry; True for every other token."""
        issued = self._access.get(token)
        if issued is None:
            return True
        try:
            now = asyncio.get_running_loop().time()
        except RuntimeError:
            return True
        return now < issued.expires_at

    def expire(self, token: str | None = None) -> None:
        """Make one issued access token (or all) expire now, whatever the client believes."""
        now = asyncio.get_running_loop().time()
        for value, issued in list(self._access.items()):
            if token is None or value == token:
                self._access[value] = IssuedAccessToken(
                    issued.token, issued.grant, issued.username, min(issued.expires_at, now)
                )

    def revoke_refresh_tokens(self) -> None:
        """Forget every refresh token (as if they expired): the next refresh is refused."""
        self.refresh_tokens.clear()

    def fail_next(self, status: int, body: Any, *, times: int = 1) -> None:
        """Answer the next ``times`` token requests with ``status`` and JSON ``body``."""
        self._failures.extend([(status, body)] * times)

    # -- the endpoint --------------------------------------------------------------------
    async def handle(self, ctx: RouteContext) -> web.Response:
        if ctx.request.content_type != _FORM:
            self.grant_counts[""] += 1
            raise _oauth_error(
                400,
                "unsupported_grant_type",
                "The authorization grant type is not supported by the authorization server.",
                "Check that all required parameters have been provided",
            )
        form = dict(parse_qsl(ctx.body.decode("utf-8", "replace"), keep_blank_values=True))
        grant = form.get("grant_type", "")
        self.grant_counts[grant] += 1
        if self._failures:
            status, body = self._failures.pop(0)
            raise FakeHTTPError(status, body)
        if not grant:
            raise _missing("grant_type")
        if grant not in ("password", "refresh_token", "client_credentials"):
            raise _oauth_error(
                400,
                "unsupported_grant_type",
                "The authorization grant type is not supported by the authorization server.",
            )
        client_id = form.get("client_id", "")
        if not client_id:
            raise _missing("client_id")
        if (
            not client_id.isdigit()
            or client_id != self.client_id
            or form.get("client_secret") != self.client_secret
        ):
            raise _invalid_client()
        if grant == "password":
            return self._password(form)
        if grant == "refresh_token":
            return self._refresh(form)
        return json_response(self._issue("client_credentials", None, refresh=False))

    def _password(self, form: Mapping[str, str]) -> web.Response:
        username, password = form.get("username", ""), form.get("password", "")
        if not username:
            raise _missing("username")
        if not password:
            raise _missing("password")
        if self.users.get(username) != password:
            raise _oauth_error(400, "invalid_grant", "The user credentials were incorrect.")
        return json_response(self._issue("password", username, refresh=True))

    def _refresh(self, form: Mapping[str, str]) -> web.Response:
        refresh = form.get("refresh_token", "")
        if not refresh:
            raise _missing("refresh_token")
        username = self.refresh_tokens.pop(refresh, None)
        if username is None:
            raise _oauth_error(
                400, "invalid_grant", "The refresh token is invalid.", "Token has been revoked"
            )
        old_access = self._access_of_refresh.pop(refresh, None)
        if old_access is not None:
            self.fake.tokens.discard(old_access)  # Passport revokes it on refresh
        return json_response(self._issue("refresh_token", username, refresh=True))

    def issue_access_token(
        self, grant: str, username: str | None, lifetime: float
    ) -> IssuedAccessToken:
        """Issue an access token the fake accepts until ``lifetime`` seconds (loop time) from
        now; also used outside ``/oauth/token`` (member tokens minted by an application)."""
        now = asyncio.get_running_loop().time()
        n = len(self.issued) + 1
        access = f"fake-oauth-access-{n:04d}-{self._rng.getrandbits(64):016x}"
        issued = IssuedAccessToken(access, grant, username, now + lifetime)
        self.issued.append(issued)
        self._access[access] = issued
        self.fake.tokens.add(access)
        return issued

    def _issue(self, grant: str, username: str | None, *, refresh: bool) -> dict[str, Any]:
        lifetime = (
            self.client_credentials_lifetime
            if grant == "client_credentials"
            else self.access_lifetime
        )
        access = self.issue_access_token(grant, username, lifetime).token
        n = len(self.issued)
        body: dict[str, Any] = {
            "token_type": "Bearer",
            "expires_in": int(lifetime),
            "access_token": access,
        }
        if refresh:
            assert username is not None
            token = f"fake-oauth-refresh-{n:04d}-{self._rng.getrandbits(64):016x}"
            self.refresh_tokens[token] = username
            self.issued_refresh_tokens.append(token)
            self._access_of_refresh[token] = access
            body["refresh_token"] = token
        return body


def enable_oauth(
    fake: FakeTallyfy,
    *,
    client_id: str = "15",
    client_secret: str = "fake-client-secret",
    users: Mapping[str, str] | None = None,
    access_lifetime: float = 3600.0,
    client_credentials_lifetime: float = 604800.0,
) -> FakeOAuth:
    """Serve ``/oauth/token`` on ``fake`` (started or not) and make its tokens expire.

    Returns the :class:`FakeOAuth` state to assert on (``count(grant)``, ``issued``) and to
    steer (``expire()``, ``revoke_refresh_tokens()``, ``fail_next()``).
    """
    oauth = FakeOAuth(
        fake,
        client_id=client_id,
        client_secret=client_secret,
        users=users,
        access_lifetime=access_lifetime,
        client_credentials_lifetime=client_credentials_lifetime,
    )
    register_oauth_routes(fake.router, oauth)
    fake.public_paths.add(TOKEN_PATH)
    fake.tokens = _ExpiringTokens(fake.tokens, oauth)
    return oauth


def register_oauth_routes(router: Router, oauth: FakeOAuth) -> None:
    """``POST /oauth/token`` (the router serves it under ``/api`` and the root alike)."""
    router.post(TOKEN_PATH, oauth.handle)
