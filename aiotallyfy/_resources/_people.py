"""Users (members, integer ids), guests (keyed by email in the path) and groups.

List defaults differ on the server (users 9999, guests 999, groups 10 per page); the pager
always asks for 100 (the documented cap) and walks every page, so the result never depends
on a default.

Idempotency, per route: role/enable/approve/update are PUTs that set a state, so they are
retried like reads; invites and creates are POSTs, sent once; deletes and disables of guests
and groups answer 404/422 when repeated after they were applied, so they are not re-sent
(``OutcomeUnknownError`` says to check).
"""

from __future__ import annotations

import builtins
from typing import Any

from .._errors import InvalidArgument, TallyfyError
from .._ids import segment
from .._pagination import AsyncPager
from .._types import Group, Guest, User
from .._validation import _local_error, email_segment, validate_email
from ._base import Resource, unwrap
from ._writes import body_of, org_path, with_param

__all__ = ["DEFAULT_INVITE_MESSAGE", "Groups", "Guests", "Users", "guest_id_from_link"]

ROLES = frozenset({"light", "standard", "admin"})
INVITE_NAME_MAX = 32
INVITE_MESSAGE_MAX = 5000
DEFAULT_INVITE_MESSAGE = (
    "You have been invited to join our organization on Tallyfy, where we track our "
    "processes and tasks."
)
DATE_FORMATS = frozenset({"mm/dd/yyyy", "dd/mm/yyyy"})


def _short(value: Any, field: str, limit: int, *, required: bool) -> Any:
    """A string of at most ``limit`` characters (non-empty when ``required``), or
    ``InvalidArgument`` before sending."""
    if value is None and not required:
        return value
    if not isinstance(value, str) or len(value) > limit or (required and not value.strip()):
        message = f"{field} must be a string of at most {limit} characters"
        raise InvalidArgument(message, errors={field: [message]})
    return value


def _role(role: str) -> str:
    if role not in ROLES:
        raise InvalidArgument(
            f"role must be one of {sorted(ROLES)}", errors={"role": ["invalid role"]}
        )
    return role


class Users(Resource):
    __slots__ = ()

    def _path(self, org_id: str, user_id: int) -> str:
        return f"{org_path(org_id)}/users/{segment(user_id, name='user_id')}"

    def list(
        self,
        org_id: str,
        *,
        q: str | None = None,
        with_: str | builtins.list[str] | None = None,
        limit: int | None = None,
        **filters: Any,
    ) -> AsyncPager[User]:
        """Every member of the organization, all pages (100 per page)."""
        return self._org_list(
            org_id, "users", q=q, with_=with_, filters=filters, limit=limit, item_type=User
        )

    async def get(
        self, org_id: str, user_id: int, *, with_: str | builtins.list[str] | None = None
    ) -> User:
        """One member (the API allows this to admins only). ``with_``: ``stats``, ``assets``,
        ``groups``, ``organizations``, ``preferences``, ``member_watchers``,
        ``guest_watchers``, ``auth_methods``, ``country`` (docs ``members/get-member``)."""
        path = self._path(org_id, user_id)
        return await self._get_item(path, org_id=org_id, params=with_param(with_), item_type=User)

    async def me(self, org_id: str) -> User:
        """The token's own member profile in ``org_id`` (``GET /organizations/{org}/me``;
        SDK ``get_current_user_info``)."""
        path = f"{org_path(org_id)}/me"
        return await self._get_item(path, org_id=org_id, item_type=User)

    def list_minimal(self, org_id: str) -> AsyncPager[User]:
        """``GET .../users-list``: every member with minimal fields. The route answers without
        pagination meta (SDK ``get_organization_users_list``); the pager reads it as one page
        and would still walk pages if the server ever sent them."""
        return self._pager(f"{org_path(org_id)}/users-list", org_id=org_id, item_type=User)

    async def update(
        self,
        org_id: str,
        user_id: int,
        *,
        first_name: str,
        last_name: str,
        timezone: str,
        **fields: Any,
    ) -> User:
        """Update a member's profile (``PUT .../users/{id}``, admin only). Docs
        ``members/update-member``: ``first_name``, ``last_name`` (≤ 32) and ``timezone`` are
        required on every request; optional ``phone`` (≤ 20), ``job_title``,
        ``job_description``, ``team``, ``country_id``, ``date_format`` (``mm/dd/yyyy`` or
        ``dd/mm/yyyy``), ``step_preferences``. Sets values, so retried like a read."""
        body = body_of(
            {
                "first_name": _short(first_name, "first_name", 32, required=True),
                "last_name": _short(last_name, "last_name", 32, required=True),
                "timezone": _short(timezone, "timezone", 64, required=True),
                **fields,
            }
        )
        if "phone" in body:
            _short(body["phone"], "phone", 20, required=False)
        if "date_format" in body and body["date_format"] not in DATE_FORMATS:
            raise InvalidArgument(
                f"date_format must be one of {sorted(DATE_FORMATS)}",
                errors={"date_format": ["invalid"]},
            )
        path = self._path(org_id, user_id)
        return await self._write_item(
            "PUT", path, org_id=org_id, json=body, idempotent=True, item_type=User
        )

    async def approve(self, org_id: str, user_id: int) -> User | None:
        """Approve a pending member (``PUT .../users/{id}/approve``; SDK ``approve_user``).
        Approved stays approved, so retried like a read."""
        path = f"{self._path(org_id, user_id)}/approve"
        return await self._write_optional(
            "PUT", path, org_id=org_id, idempotent=True, item_type=User
        )

    async def remove(self, org_id: str, user_id: int, *, reassign_to: int | None = None) -> User:
        """Deactivate a member in this organization (``DELETE .../users/{id}``; docs
        ``members/remove-member``); ``reassign_to`` hands their tasks to another member
        (``?with_reassignment=true&to=``). Their Tallyfy account stays. Not re-sent: once
        applied, a repeat answers 404."""
        path = self._path(org_id, user_id)
        params: dict[str, Any] | None = None
        if reassign_to is not None:
            if reassign_to == user_id:
                raise InvalidArgument(
                    "reassign_to must be another member", errors={"to": ["invalid"]}
                )
            params = {"with_reassignment": True, "to": segment(reassign_to, name="reassign_to")}
        response = await self._core.request(
            "DELETE", path, org_id=org_id, params=params, idempotent=False
        )
        result: User = unwrap(response, "DELETE", path, org_id)
        return result

    async def delete(self, org_id: str, user_id: int) -> None:
        """Delete a member for good (``DELETE .../users/{id}/delete``). The API refuses it
        unless the member was disabled first (``disable``). Not re-sent (a repeat: 404)."""
        path = f"{self._path(org_id, user_id)}/delete"
        await self._core.request("DELETE", path, org_id=org_id, idempotent=False)

    async def invite(
        self,
        org_id: str,
        *,
        email: str,
        first_name: str,
        last_name: str,
        role: str = "standard",
        message: str = DEFAULT_INVITE_MESSAGE,
    ) -> User:
        """Invite a member (``POST .../users/invite``). Sent once; counts against Tallyfy's
        hourly invite cap.

        ``message`` is required by the API (DOCS members/invite-member, PAC), so one is always
        sent: ``DEFAULT_INVITE_MESSAGE`` unless you pass your own (the official SDK and the
        N8N node do the same). Names over 32 characters and messages over 5,000 are refused
        here, before anything is sent (the API's documented limits).
        """
        if not isinstance(message, str) or not message.strip():
            raise _local_error("message", "message must be a non-empty string")
        if len(message) > INVITE_MESSAGE_MAX:
            limit = f"message must be at most {INVITE_MESSAGE_MAX} characters"
            raise _local_error("message", limit)
        for field, value in (("first_name", first_name), ("last_name", last_name)):
            if not isinstance(value, str) or not value.strip():
                raise _local_error(field, f"{field} is required")
            if len(value) > INVITE_NAME_MAX:
                raise _local_error(field, f"{field} must be at most {INVITE_NAME_MAX} characters")
        path = f"{org_path(org_id)}/users/invite"
        body = body_of(
            {
                "email": validate_email(email),
                "first_name": first_name,
                "last_name": last_name,
                "role": _role(role),
                "message": message,
            }
        )
        return await self._write_item("POST", path, org_id=org_id, json=body, item_type=User)

    async def set_role(self, org_id: str, user_id: int, role: str) -> User:
        """``PUT .../users/{id}/role``; idempotent, retried like a read."""
        path = f"{self._path(org_id, user_id)}/role"
        return await self._write_item(
            "PUT", path, org_id=org_id, json={"role": _role(role)}, idempotent=True, item_type=User
        )

    async def disable(self, org_id: str, user_id: int) -> None:
        """``DELETE .../users/{id}/disable``: disabled stays disabled, so retried."""
        path = f"{self._path(org_id, user_id)}/disable"
        await self._core.request("DELETE", path, org_id=org_id, idempotent=True)

    async def enable(self, org_id: str, user_id: int) -> User | None:
        """``PUT .../users/{id}/enable``; idempotent."""
        path = f"{self._path(org_id, user_id)}/enable"
        return await self._write_optional(
            "PUT", path, org_id=org_id, idempotent=True, item_type=User
        )

    async def to_guest(self, org_id: str, user_id: int) -> Any:
        """Convert a member to a guest (``PUT .../users/{id}/to/guest``). Not re-sent: after it
        was applied the member no longer exists, so a repeat would fail."""
        path = f"{self._path(org_id, user_id)}/to/guest"
        response = await self._core.request("PUT", path, org_id=org_id, idempotent=False)
        return response.data


class Guests(Resource):
    __slots__ = ()

    def _path(self, org_id: str, email: str) -> str:
        return f"{org_path(org_id)}/guests/{email_segment(email)}"

    def list(
        self,
        org_id: str,
        *,
        q: str | None = None,
        with_: str | builtins.list[str] | None = None,
        limit: int | None = None,
        **filters: Any,
    ) -> AsyncPager[Guest]:
        """Every guest, all pages (100 per page; the server's default would be 999)."""
        return self._org_list(
            org_id, "guests", q=q, with_=with_, filters=filters, limit=limit, item_type=Guest
        )

    async def get(
        self, org_id: str, email: str, *, with_: str | builtins.list[str] | None = None
    ) -> Guest:
        """One guest; ``with_`` e.g. ``stats`` (docs ``guests/get-guest``)."""
        path = self._path(org_id, email)
        return await self._get_item(path, org_id=org_id, params=with_param(with_), item_type=Guest)

    async def guest_id(self, org_id: str, email: str) -> str:
        """The guest CODE that keys the guest's task list (``tasks.list_for_guest``): one
        ``GET .../guests/{email}``, then the segment after ``/guest/`` in its ``link`` (how
        the official SDK and the MCP server find it). A guest answer without such a link is an
        error, not a guess."""
        guest = await self.get(org_id, email)
        code = guest_id_from_link(guest.get("link"))
        if code is None:
            raise TallyfyError(
                f"guest {email!r} has no guest link to read its guest id from",
                method="GET",
                path=self._path(org_id, email),
                org_id=org_id,
            )
        return code

    def list_minimal(self, org_id: str) -> AsyncPager[Guest]:
        """``GET .../guests-list``: every guest with minimal fields, no pagination meta (SDK
        ``get_organization_guests_list``)."""
        return self._pager(f"{org_path(org_id)}/guests-list", org_id=org_id, item_type=Guest)

    async def create(
        self,
        org_id: str,
        *,
        email: str,
        first_name: str | None = None,
        last_name: str | None = None,
        **fields: Any,
    ) -> Guest:
        """Add a guest (``POST .../guests`` → 201). Sent once."""
        path = f"{org_path(org_id)}/guests"
        body = body_of(
            {
                "email": validate_email(email),
                "first_name": first_name,
                "last_name": last_name,
                **fields,
            }
        )
        return await self._write_item("POST", path, org_id=org_id, json=body, item_type=Guest)

    async def update(self, org_id: str, email: str, **fields: Any) -> Guest:
        """``PUT .../guests/{email}``; sets values, retried like a read."""
        path = self._path(org_id, email)
        return await self._write_item(
            "PUT", path, org_id=org_id, json=body_of(fields), idempotent=True, item_type=Guest
        )

    async def delete(self, org_id: str, email: str) -> None:
        """``DELETE .../guests/{email}`` → 200. Not re-sent: a repeat of an applied delete
        answers 422 (an unknown email, DOCS guests/delete-guest), which would turn a success
        into a failure."""
        path = self._path(org_id, email)
        await self._core.request("DELETE", path, org_id=org_id, idempotent=False)

    async def disable(self, org_id: str, email: str) -> None:
        """``DELETE .../guests/{email}/disable``; disabled stays disabled, so retried."""
        path = f"{self._path(org_id, email)}/disable"
        await self._core.request("DELETE", path, org_id=org_id, idempotent=True)

    async def enable(self, org_id: str, email: str) -> None:
        """``PUT .../guests/{email}/enable``; idempotent."""
        path = f"{self._path(org_id, email)}/enable"
        await self._core.request("PUT", path, org_id=org_id, idempotent=True)

    async def to_member(self, org_id: str, email: str, **fields: Any) -> Any:
        """Convert a guest to a member (``POST .../guests/{email}/to/member``). Sent once."""
        path = f"{self._path(org_id, email)}/to/member"
        response = await self._core.request("POST", path, org_id=org_id, json=body_of(fields))
        return response.data


class Groups(Resource):
    __slots__ = ()

    def _path(self, org_id: str, group_id: str) -> str:
        return f"{org_path(org_id)}/groups/{segment(group_id, name='group_id')}"

    def list(
        self,
        org_id: str,
        *,
        q: str | None = None,
        with_: str | builtins.list[str] | None = None,
        limit: int | None = None,
        **filters: Any,
    ) -> AsyncPager[Group]:
        """Every group, all pages (the official SDK read only page 1: tallyfy/sdk#101)."""
        return self._org_list(
            org_id, "groups", q=q, with_=with_, filters=filters, limit=limit, item_type=Group
        )

    async def get(
        self, org_id: str, group_id: str, *, with_: str | builtins.list[str] | None = None
    ) -> Group:
        """One group; ``with_``: ``assets``, ``users``, ``guests`` (docs ``groups``)."""
        path = self._path(org_id, group_id)
        return await self._get_item(path, org_id=org_id, params=with_param(with_), item_type=Group)

    async def create(
        self,
        org_id: str,
        *,
        name: str,
        description: str,
        members: builtins.list[int] | None = None,
        guests: builtins.list[str] | None = None,
    ) -> Group:
        """``POST .../groups`` → 201; sent once.

        ``description`` is required and must not be empty: Tallyfy's docs mark it required
        (the official SDK leaves it out when empty; the sources disagree), and an empty string
        reaches the API as null, which its ``required`` rule refuses. Checked here.
        """
        if not isinstance(name, str) or not name.strip():
            raise _local_error("name", "name is required")
        _check_description(description)
        path = f"{org_path(org_id)}/groups"
        body = body_of(
            {
                "name": name,
                "description": description,
                "members": members,
                "guests": [validate_email(g, field="guests") for g in (guests or ())] or None,
            }
        )
        return await self._write_item("POST", path, org_id=org_id, json=body, item_type=Group)

    async def update(
        self,
        org_id: str,
        group_id: str,
        *,
        name: str | None = None,
        description: str | None = None,
        members: builtins.list[int] | None = None,
        guests: builtins.list[str] | None = None,
    ) -> Group:
        """``PUT .../groups/{id}``; ``members`` and ``guests`` REPLACE the lists.

        The API takes only the whole group ("The PUT endpoint requires all fields", official
        SDK): ``name``, ``members`` and ``guests`` every time, ``description`` only as a
        non-empty string (never null or ``""``, tallyfy/api-v2#9788). So unless you pass
        ``name``, ``members`` and ``guests`` yourself, the group is read first (``GET``) and
        the fields you leave out are sent back as they were. That is read-then-write, not
        atomic: a concurrent change to a field you did not pass is overwritten. There is no
        way to clear a description. Retried like a read (it sets values).
        """
        if description is not None:
            _check_description(description)
        path = self._path(org_id, group_id)
        given = body_of(
            {
                "name": name,
                "description": description,
                "members": members,
                "guests": None
                if guests is None
                else [validate_email(g, field="guests") for g in guests],
            }
        )
        body = await self._backfilled(
            path,
            given,
            org_id=org_id,
            required=("name", "members", "guests"),
            optional=("description",),
            defaults={"members": [], "guests": []},
        )
        return await self._write_item(
            "PUT", path, org_id=org_id, json=body, idempotent=True, item_type=Group
        )

    async def delete(self, org_id: str, group_id: str) -> None:
        """``DELETE .../groups/{id}``. Not re-sent (a repeat answers 404)."""
        await self._core.request(
            "DELETE", self._path(org_id, group_id), org_id=org_id, idempotent=False
        )


def _check_description(description: Any) -> None:
    if not isinstance(description, str) or not description.strip():
        raise _local_error("description", "description must be a non-empty string")


def guest_id_from_link(link: Any) -> str | None:
    """The guest code in a guest's ``link`` (``https://go.tallyfy.com/guest/<code>``): the
    segment after ``guest``, as the official SDK's ``Guest._extract_guest_id`` reads it;
    ``None`` when there is none."""
    if not isinstance(link, str):
        return None
    parts = link.split("?", 1)[0].rstrip("/").split("/")
    if "guest" not in parts:
        return None
    at = parts.index("guest") + 1
    return parts[at] if at < len(parts) and parts[at] else None
