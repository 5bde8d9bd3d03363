"""Fake routes: member administration beyond ``_fake_people`` (remove, permanent delete, profile
update, approve, the minimal lists), and who the caller is.

Sources: docs ``open-api/code-samples/members/remove-member`` and ``update-member``
(2026-03-22); SDK ``user_management/admin_operations.py`` (``approve_user``) and
``retrieval.py`` (``users-list``/``guests-list`` "don't return meta").

- ``DELETE .../users/{id}[?with_reassignment=true&to=ID]``: deactivates the member in this
  org → 200 ``{"data": member}`` with ``status: "disabled"``; the default administrator (the
  fake's own user) answers 400. ``to`` is required with ``with_reassignment=true`` and must be
  another member (422). The member leaves the org's list, so a repeat answers 404.
- ``DELETE .../users/{id}/delete``: permanent, only for a member disabled first ("you'll get an
  error if you skip that step": 422 here) → 204.
- ``PUT .../users/{id}``: ``first_name``, ``last_name`` (≤ 32) and ``timezone`` required on
  every request; ``phone`` ≤ 20; ``date_format`` ``mm/dd/yyyy``/``dd/mm/yyyy`` → 200 member.
- ``PUT .../users/{id}/approve`` → 200 member, ``status: "active"``.
- ``GET .../users-list`` / ``.../guests-list`` → ``{"data": [...]}`` with no ``meta``.

Admin-only routes answer 403 to a caller whose role in the org is not ``admin``
(:func:`caller`: the token's user from ``fake.token_users``, else the fake's own user).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ._envelope import FakeHTTPError, json_response, not_found
from ._fake_common import area_for, item, no_content, require_fields, validation_errors
from ._fake_store import set_owners
from ._router import RouteContext, Router

__all__ = ["caller", "register_member_routes", "require_admin"]

NOT_ADMIN = {"error": True, "message": "You need to be an administrator to do this."}
DEFAULT_ADMIN = (
    "Cannot modify the default administrator. "
    "Please assign another member as default administrator first."
)
DATE_FORMATS = frozenset({"mm/dd/yyyy", "dd/mm/yyyy"})
PROFILE_FIELDS = (
    "first_name", "last_name", "timezone", "phone", "job_title", "job_description", "team",
    "country_id", "date_format", "step_preferences",
)  # fmt: skip


def caller(ctx: RouteContext) -> dict[str, Any]:
    """The user the request's token acts for (``fake.token_users``, else ``data.me``)."""
    auth = ctx.request.headers.get("Authorization", "")
    return ctx.fake.token_users.get(auth[7:], ctx.data.me)


def require_admin(ctx: RouteContext) -> dict[str, Any]:
    """The caller, or 403 unless they are an admin of this org."""
    who = caller(ctx)
    membership = next((m for m in ctx.org_state.members if m["id"] == who["id"]), None)
    if membership is None or membership.get("role") != "admin":
        raise FakeHTTPError(403, NOT_ADMIN)
    return who


def _member(ctx: RouteContext) -> dict[str, Any]:
    try:
        uid = int(ctx.params["user"])
    except ValueError:
        raise not_found() from None
    member = next((m for m in ctx.org_state.members if m["id"] == uid), None)
    if member is None:
        raise FakeHTTPError(404, {"error": True, "message": "User not found"})
    return member


def _leave(ctx: RouteContext, member: dict[str, Any]) -> None:
    st = ctx.org_state
    st.members.remove(member)
    st.member_ids.remove(member["id"])
    st.org["users_count"] = len(st.members)


async def _remove(ctx: RouteContext) -> web.StreamResponse:
    require_admin(ctx)
    member = _member(ctx)
    if member["id"] == ctx.data.me_id:
        raise FakeHTTPError(400, {"error": True, "message": DEFAULT_ADMIN})
    reassign = (ctx.query.get("with_reassignment") or "").lower() in ("true", "1")
    if reassign:
        raw_to = ctx.query.get("to") or ""
        target = int(raw_to) if raw_to.isdigit() else None
        if target is None or target == member["id"] or target not in ctx.org_state.member_ids:
            raise validation_errors({"to": "The selected to is invalid."})
        _reassign(ctx, member["id"], target)
    member["status"] = "disabled"
    _leave(ctx, member)
    return item(member)


def _reassign(ctx: RouteContext, old: int, new: int) -> None:
    st = ctx.org_state
    for i in range(st.task_count):
        if old not in (st.owner1[i], st.owner2[i]):
            continue
        owners = ctx.data.task_at(st, i)["owners"]
        users = [new if u == old else u for u in owners.get("users", [])]
        set_owners(ctx.data, st, i, {**owners, "users": list(dict.fromkeys(users))})


async def _delete(ctx: RouteContext) -> web.StreamResponse:
    require_admin(ctx)
    member = _member(ctx)
    if member.get("status") != "disabled":
        raise validation_errors({"user": "The member must be disabled before being deleted."})
    _leave(ctx, member)
    return no_content()


async def _update(ctx: RouteContext) -> web.StreamResponse:
    who = caller(ctx)
    member = _member(ctx)
    if member["id"] != who["id"]:
        require_admin(ctx)
    body = ctx.json_object()
    require_fields(body, "first_name", "last_name", "timezone")
    errors: dict[str, str] = {}
    for name, limit in (("first_name", 32), ("last_name", 32), ("phone", 20)):
        value = body.get(name)
        if value is not None and (not isinstance(value, str) or len(value) > limit):
            label = name.replace("_", " ")
            errors[name] = f"The {label} may not be greater than {limit} characters."
    if "date_format" in body and body["date_format"] not in DATE_FORMATS:
        errors["date_format"] = "The selected date format is invalid."
    if errors:
        raise validation_errors(errors)
    for key in PROFILE_FIELDS:
        if key in body:
            member[key] = body[key]
    member["full_name"] = f"{member['first_name']} {member['last_name']}"
    member["updated_at"] = ctx.now_iso()
    return item(member)


async def _approve(ctx: RouteContext) -> web.StreamResponse:
    require_admin(ctx)
    member = _member(ctx)
    member["status"] = "active"
    return item(member)


_MINIMAL_USER = ("id", "email", "first_name", "last_name", "full_name", "profile_pic", "role")
_MINIMAL_GUEST = ("id", "email", "first_name", "last_name")


async def _users_list(ctx: RouteContext) -> web.StreamResponse:
    rows = [{k: m.get(k) for k in _MINIMAL_USER} for m in ctx.org_state.members]
    return json_response({"data": rows})


async def _guests_list(ctx: RouteContext) -> web.StreamResponse:
    guests = area_for(ctx).guests.values()
    return json_response({"data": [{k: g.get(k) for k in _MINIMAL_GUEST} for g in guests]})


def register_member_routes(router: Router) -> None:
    org = "/organizations/{org}"
    router.delete(f"{org}/users/{{user}}", _remove)
    router.delete(f"{org}/users/{{user}}/delete", _delete)
    router.put(f"{org}/users/{{user}}", _update)
    router.put(f"{org}/users/{{user}}/approve", _approve)
    router.get(f"{org}/users-list", _users_list)
    router.get(f"{org}/guests-list", _guests_list)
