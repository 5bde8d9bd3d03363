"""Application context: an app (``ClientCredentialsGrant`` token) provisions members and mints
tokens that act as them.

Source: docs ``open-api/access-api-as-a-third-party-application-instead-of-a-user``:

- ``POST /applications/{org}/users`` ``{first_name, last_name (both ≤ 32), email, role?,
  timezone?}`` → ``{"data": {id, email, first_name, last_name, role, created_at}}``;
- ``POST /applications/{org}/users/{email}/token`` (no body) → ``{"token_type": "Bearer",
  "expires_in": 7776000, "access_token": ...}``: a member token, valid three months;
- 403 when the app's organization is not the URL's; 404 unknown user; 422 not in this org.

Both paths start with ``/applications``, not ``/organizations``, under the same base URL.

Repeat-safety: ``create_user`` is a POST that creates a member, sent once. ``member_token``
is a POST too, but a repeat only mints another token for the same member (each is valid on
its own), so it is retried like a read.
"""

from __future__ import annotations

import hashlib
from typing import Any

from .._auth import DEFAULT_REFRESH_MARGIN, IssuedToken, RenewingTokenProvider
from .._clock import Clock
from .._errors import AuthenticationError, InvalidArgument
from .._ids import segment
from .._oauth import _seconds
from .._secrets import Secret
from .._types import User
from .._validation import email_segment, validate_email
from ._base import Resource

__all__ = ["ApplicationMemberToken", "Applications"]

APP_ROLES = frozenset({"admin", "standard", "light"})
NAME_MAX = 32


def _name(value: str, field: str) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > NAME_MAX:
        message = f"{field} is required and at most {NAME_MAX} characters"
        raise InvalidArgument(message, errors={field: [message]})
    return value


class Applications(Resource):
    __slots__ = ()

    def _path(self, org_id: str) -> str:
        return f"/applications/{segment(org_id, name='org_id')}/users"

    async def create_user(
        self,
        org_id: str,
        *,
        email: str,
        first_name: str,
        last_name: str,
        role: str | None = None,
        timezone: str | None = None,
    ) -> User:
        """Provision a member as the application (``POST /applications/{org}/users``). Sent
        once: a repeat would answer 422 (email taken) or create nothing new."""
        if role is not None and role not in APP_ROLES:
            message = f"role must be one of {sorted(APP_ROLES)}"
            raise InvalidArgument(message, errors={"role": [message]})
        body: dict[str, Any] = {
            "first_name": _name(first_name, "first_name"),
            "last_name": _name(last_name, "last_name"),
            "email": validate_email(email),
        }
        if role is not None:
            body["role"] = role
        if timezone is not None:
            body["timezone"] = timezone
        return await self._write_item(
            "POST", self._path(org_id), org_id=org_id, json=body, item_type=User
        )

    async def member_token(self, org_id: str, email: str) -> IssuedToken:
        """A token acting as the member ``email`` (``POST /applications/{org}/users/{email}/
        token``), with its lifetime. The member must already exist in the organization."""
        path = f"{self._path(org_id)}/{email_segment(email)}/token"
        response = await self._core.request("POST", path, org_id=org_id, idempotent=True)
        payload = response.data
        if isinstance(payload, dict) and isinstance(payload.get("data"), dict):
            payload = payload["data"]
        access = payload.get("access_token") if isinstance(payload, dict) else None
        token_type = payload.get("token_type", "Bearer") if isinstance(payload, dict) else None
        if (
            not isinstance(access, str)
            or not access.strip()
            or not isinstance(token_type, str)
            or token_type.lower() != "bearer"
        ):
            raise AuthenticationError(
                "the member token answer carried no bearer access_token",
                status=response.status,
                request_id=response.request_id,
                method="POST",
                path=path,
                org_id=org_id,
            )
        assert isinstance(payload, dict)
        return IssuedToken(Secret(access), _seconds(payload.get("expires_in")))

    def member_token_provider(
        self,
        org_id: str,
        email: str,
        *,
        refresh_margin: float = DEFAULT_REFRESH_MARGIN,
        clock: Clock | None = None,
    ) -> ApplicationMemberToken:
        """A ``TokenProvider`` acting as ``email``, minting through this (application)
        client; pass it to a ``TallyfyClient``, or use ``TallyfyClient.as_member``."""
        return ApplicationMemberToken(
            self, org_id, email, refresh_margin=refresh_margin, clock=clock
        )


class ApplicationMemberToken(RenewingTokenProvider):
    """Tokens for one member, minted by an application client with
    ``applications.member_token``: fetched on first use, renewed ``refresh_margin`` before
    they expire (three months) or once on a 401, single flight (``RenewingTokenProvider``).

    The application client must stay open while this provider is used; closing this provider
    never closes it. The rate-limit scope is the member (Tallyfy counts per user), stable
    across renewals.
    """

    def __init__(
        self,
        applications: Applications,
        org_id: str,
        email: str,
        *,
        refresh_margin: float = DEFAULT_REFRESH_MARGIN,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(refresh_margin=refresh_margin, clock=clock)
        segment(org_id, name="org_id")
        self._applications = applications
        self.org_id = org_id
        self.email = validate_email(email)

    async def _fetch(self, org_id: str | None, stale: Secret | None) -> IssuedToken:
        return await self._applications.member_token(self.org_id, self.email)

    def rate_limit_identity(self, org_id: str | None) -> str | None:
        member = f"{self.org_id}\x00{self.email.lower()}"
        return "appmember_" + hashlib.sha256(member.encode()).hexdigest()[:16]

    def __repr__(self) -> str:
        return f"ApplicationMemberToken(org_id={self.org_id!r}, email={self.email!r})"
