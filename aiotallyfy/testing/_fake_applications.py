"""Fake routes: an application (client-credentials) provisioning members and minting tokens
that act as them.

Source: docs ``open-api/access-api-as-a-third-party-application-instead-of-a-user``
(2026-07-12) and Postman troubleshooting (API digest §2.2):

- ``POST /applications/{org}/users`` with an app token: ``{first_name, last_name}`` required,
  at most 32 characters each; ``email``; ``role`` (``admin``/``standard``/``light``) and
  ``timezone`` optional → ``{"data": {id, email, first_name, last_name, role, created_at}}``
  (the status is not documented; 201 like every create here).
- ``POST /applications/{org}/users/{email}/token``, no body → ``{"token_type": "Bearer",
  "expires_in": 7776000, "access_token": ...}`` (three months). 404 when the user does not
  exist; 422 when the email exists but is not in this organization.
- 403 ``"You don't have application's permissions for this organization!"`` when the app's
  organization is not the one in the URL. What a user (non-app) token gets is not documented;
  the fake refuses it the same way (the stricter answer).

Usage::

    oauth = enable_oauth(fake, client_id="15", client_secret="s")
    apps = enable_applications(fake, oauth, org_id=org)
    # app tokens: ClientCredentialsGrant(client_id="15", client_secret="s", token_url=...)

Member tokens expire on the loop's clock like OAuth tokens, and ``/me`` answers with the
member they were minted for (``fake.token_users``).
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Final

from aiohttp import web

from ._envelope import FakeHTTPError, json_response, not_found
from ._fake_common import EMAIL, area_for, created, require_fields, validation_errors
from ._fake_oauth import FakeOAuth
from ._router import RouteContext

if TYPE_CHECKING:
    from ._server import FakeTallyfy

__all__ = ["FakeApplications", "enable_applications"]

MEMBER_TOKEN_LIFETIME: Final = 7776000
NOT_THIS_APP: Final = {"message": "You don't have application's permissions for this organization!"}
ROLES: Final = frozenset({"admin", "standard", "light"})
NAME_MAX: Final = 32


class FakeApplications:
    """The application routes' state: which org the app belongs to, what it minted."""

    def __init__(self, fake: FakeTallyfy, oauth: FakeOAuth, org_id: str) -> None:
        self.fake = fake
        self.oauth = oauth
        self.org_id = org_id
        self.minted: Counter[str] = Counter()
        """Member tokens minted, per email (lower-case)."""
        self.member_lifetime: float = MEMBER_TOKEN_LIFETIME

    def _check_app(self, ctx: RouteContext) -> None:
        auth = ctx.request.headers.get("Authorization", "")
        token = auth[7:]
        grants = {t.token: t.grant for t in self.oauth.issued}
        if grants.get(token) != "client_credentials" or ctx.org_state.id != self.org_id:
            raise FakeHTTPError(403, NOT_THIS_APP)

    async def create_user(self, ctx: RouteContext) -> web.StreamResponse:
        self._check_app(ctx)
        body = ctx.json_object()
        require_fields(body, "first_name", "last_name", "email")
        errors: dict[str, str] = {}
        for name in ("first_name", "last_name"):
            if not isinstance(body[name], str) or len(body[name]) > NAME_MAX:
                label = name.replace("_", " ")
                errors[name] = f"The {label} may not be greater than {NAME_MAX} characters."
        if not EMAIL.match(str(body["email"])):
            errors["email"] = "The email must be a valid email address."
        role = body.get("role", "standard")
        if role not in ROLES:
            errors["role"] = "The selected role is invalid."
        if errors:
            raise validation_errors(errors)
        email = str(body["email"])
        if any(m["email"].lower() == email.lower() for m in ctx.org_state.members):
            raise validation_errors({"email": "The email has already been taken."})
        member = area_for(ctx).add_members(1)[0]
        member.update(
            {
                "email": email,
                "first_name": body["first_name"],
                "last_name": body["last_name"],
                "full_name": f"{body['first_name']} {body['last_name']}",
                "role": role,
                "timezone": body.get("timezone") or "UTC",
                "created_at": ctx.now_iso(),
            }
        )
        keys = ("id", "email", "first_name", "last_name", "role", "created_at")
        return created({k: member[k] for k in keys})

    async def member_token(self, ctx: RouteContext) -> web.StreamResponse:
        self._check_app(ctx)
        email = ctx.params["email"].lower()
        member = next((m for m in ctx.org_state.members if m["email"].lower() == email), None)
        if member is None:
            elsewhere = any(
                m["email"].lower() == email
                for st in self.fake.data.org_states()
                for m in st.members
            )
            if elsewhere:
                raise validation_errors({"email": "The user is not a member of this organization."})
            raise not_found()
        issued = self.oauth.issue_access_token("application_member", email, self.member_lifetime)
        self.fake.token_users[issued.token] = member
        self.minted[email] += 1
        return json_response(
            {
                "token_type": "Bearer",
                "expires_in": int(self.member_lifetime),
                "access_token": issued.token,
            }
        )


def enable_applications(fake: FakeTallyfy, oauth: FakeOAuth, *, org_id: str) -> FakeApplications:
    """Serve the application routes on ``fake``; the app (``oauth``'s client) belongs to
    ``org_id``. ``oauth`` comes from ``enable_oauth(fake, ...)``."""
    apps = FakeApplications(fake, oauth, org_id)
    fake.router.post("/applications/{org}/users", apps.create_user)
    fake.router.post("/applications/{org}/users/{email}/token", apps.member_token)
    return apps
