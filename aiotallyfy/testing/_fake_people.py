"""Fake routes: users (members), guests (keyed by email in the path) and groups.

Defaults mirror the reference: users page by 9999 and guests by 999 unless ``per_page`` is
sent (then clamped to 100 like every list); groups page by 10.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ._envelope import FakeHTTPError, found, not_found
from ._fake_common import (
    EMAIL,
    area_for,
    created,
    item,
    list_response,
    no_content,
    require_fields,
    validation_errors,
)
from ._router import RouteContext, Router

__all__ = ["register_people_routes"]

ROLES = frozenset({"light", "standard", "admin"})


# ---------------------------------------------------------------------------- users
def _member(ctx: RouteContext) -> dict[str, Any]:
    try:
        uid = int(ctx.params["user"])
    except ValueError:
        raise not_found() from None
    for member in ctx.org_state.members:
        if member["id"] == uid:
            return member
    raise not_found()


async def _users(ctx: RouteContext) -> web.StreamResponse:
    area_for(ctx)
    return list_response(
        ctx,
        ctx.org_state.members,
        default_per_page=9999,
        q_fields=("full_name", "email", "username"),
    )


async def _user(ctx: RouteContext) -> web.StreamResponse:
    return item(_member(ctx))


NAME_MAX = 32
MESSAGE_MAX = 5000


async def _invite(ctx: RouteContext) -> web.StreamResponse:
    """``POST .../users/invite``: ``message`` is required (DOCS members/invite-member:
    "``message`` | string | Yes | ... (max 5000 characters)"; PAC
    ``Invite_User_To_Organization`` ``required: [email, first_name, last_name, message,
    role]``; the SDK and N8N always send one) and first/last names are at most 32
    characters (DOCS)."""
    body = ctx.json_object()
    require_fields(body, "email", "first_name", "last_name", "role", "message")
    if not EMAIL.match(str(body["email"])):
        raise validation_errors({"email": "The email must be a valid email address."})
    for key in ("first_name", "last_name"):
        if not isinstance(body[key], str) or len(body[key]) > NAME_MAX:
            label = key.replace("_", " ")
            raise validation_errors(
                {key: f"The {label} may not be greater than {NAME_MAX} characters."}
            )
    if not isinstance(body["message"], str) or len(body["message"]) > MESSAGE_MAX:
        raise validation_errors(
            {"message": f"The message may not be greater than {MESSAGE_MAX} characters."}
        )
    if body["role"] not in ROLES:
        raise validation_errors({"role": "The selected role is invalid."})
    if any(m["email"].lower() == str(body["email"]).lower() for m in ctx.org_state.members):
        raise validation_errors({"email": "The email has already been taken."})
    member = area_for(ctx).add_members(1)[0]
    member.update(
        {
            "email": body["email"],
            "first_name": body["first_name"],
            "last_name": body["last_name"],
            "full_name": f"{body['first_name']} {body['last_name']}",
            "role": body["role"],
            "status": "invited",
        }
    )
    return created(member)


async def _role(ctx: RouteContext) -> web.StreamResponse:
    member = _member(ctx)
    role = ctx.json_object().get("role")
    if role not in ROLES:
        raise validation_errors({"role": "The selected role is invalid."})
    member["role"] = role
    return item(member)


async def _disable(ctx: RouteContext) -> web.StreamResponse:
    member = _member(ctx)
    if member["id"] == ctx.data.me_id:
        raise FakeHTTPError(403, {"error": True, "message": "You cannot disable yourself."})
    member["status"] = "disabled"
    return item(member)


async def _enable(ctx: RouteContext) -> web.StreamResponse:
    member = _member(ctx)
    member["status"] = "active"
    return item(member)


async def _to_guest(ctx: RouteContext) -> web.StreamResponse:
    member = _member(ctx)
    st = ctx.org_state
    st.members.remove(member)
    st.member_ids.remove(member["id"])
    guest = area_for(ctx).new_guest(member["email"], member["first_name"], member["last_name"])
    return item(guest)


# ---------------------------------------------------------------------------- guests
def _guest(ctx: RouteContext) -> dict[str, Any]:
    return found(area_for(ctx).guests.get(ctx.params["email"].lower()))


async def _guests(ctx: RouteContext) -> web.StreamResponse:
    return list_response(
        ctx,
        list(area_for(ctx).guests.values()),
        default_per_page=999,
        allow_without_pagination=True,
        q_fields=("email", "first_name", "last_name"),
    )


async def _get_guest(ctx: RouteContext) -> web.StreamResponse:
    return item(_guest(ctx))


async def _create_guest(ctx: RouteContext) -> web.StreamResponse:
    body = ctx.json_object()
    require_fields(body, "email")
    email = str(body["email"])
    if not EMAIL.match(email):
        raise validation_errors({"email": "The email must be a valid email address."})
    ar = area_for(ctx)
    if email.lower() in ar.guests:
        raise validation_errors({"email": "The email has already been taken."})
    guest = ar.new_guest(email, body.get("first_name"), body.get("last_name"))
    if isinstance(body.get("details"), dict):
        guest["details"].update(body["details"])
    return created(guest)


async def _update_guest(ctx: RouteContext) -> web.StreamResponse:
    guest = _guest(ctx)
    body = ctx.json_object()
    for key in ("first_name", "last_name"):
        if key in body:
            guest[key] = body[key]
    if isinstance(body.get("details"), dict):
        guest["details"].update(body["details"])
    return item(guest)


async def _delete_guest(ctx: RouteContext) -> web.StreamResponse:
    """``DELETE .../guests/{email}`` answers 200 with the guest; an unknown email is a 422,
    not a 404 (DOCS guests/delete-guest)."""
    guest = area_for(ctx).guests.get(ctx.params["email"].lower())
    if guest is None:
        raise validation_errors({"email": "The selected email is invalid."})
    del area_for(ctx).guests[guest["email"].lower()]
    return item(guest)


async def _disable_guest(ctx: RouteContext) -> web.StreamResponse:
    _guest(ctx)["status"] = "disabled"
    return no_content()


async def _enable_guest(ctx: RouteContext) -> web.StreamResponse:
    _guest(ctx)["status"] = "active"
    return no_content()


async def _guest_to_member(ctx: RouteContext) -> web.StreamResponse:
    guest = _guest(ctx)
    ar = area_for(ctx)
    del ar.guests[guest["email"].lower()]
    member = ar.add_members(1)[0]
    member.update(
        {
            "email": guest["email"],
            "first_name": guest["first_name"],
            "last_name": guest["last_name"],
            "role": ctx.json_object().get("role", "light"),
        }
    )
    return item(member)


# ---------------------------------------------------------------------------- groups
def _group(ctx: RouteContext) -> dict[str, Any]:
    return found(area_for(ctx).groups.get(ctx.params["group"]))


def _check_group(ctx: RouteContext, body: dict[str, Any]) -> None:
    members = body.get("members", [])
    if not isinstance(members, list) or any(m not in ctx.org_state.member_ids for m in members):
        raise validation_errors({"members": "The selected members is invalid."})
    guests = body.get("guests", [])
    if not isinstance(guests, list) or any(not EMAIL.match(str(g)) for g in guests):
        raise validation_errors({"guests": "The guests must be valid emails."})
    if "description" in body:
        # ``sometimes|required|string`` (SDK ``update_group``, tallyfy/sdk#54,
        # tallyfy/api-v2#9788): a present key must hold a non-empty string; Laravel's
        # ConvertEmptyStringsToNull turns "" into null, which ``required`` rejects.
        description = body["description"]
        if not isinstance(description, str) or not description.strip():
            raise validation_errors({"description": "The description field is required."})


async def _groups(ctx: RouteContext) -> web.StreamResponse:
    return list_response(ctx, list(area_for(ctx).groups.values()), q_fields=("name",))


async def _get_group(ctx: RouteContext) -> web.StreamResponse:
    return item(_group(ctx))


async def _create_group(ctx: RouteContext) -> web.StreamResponse:
    """``POST .../groups``: DOCS groups/create-group mark ``description`` "Required: Yes";
    the SDK leaves it out when empty. The sources disagree, so this fake refuses the stricter
    way: ``name`` and a non-empty ``description`` are required."""
    body = ctx.json_object()
    require_fields(body, "name", "description")
    _check_group(ctx, body)
    group = area_for(ctx).add_groups(1)[0]
    group.update(
        {
            "name": body["name"],
            "description": body.get("description"),
            "members": list(body.get("members", [])),
            "guests": list(body.get("guests", [])),
            "created_at": ctx.now_iso(),
            "last_updated": ctx.now_iso(),
        }
    )
    return created(group)


async def _update_group(ctx: RouteContext) -> web.StreamResponse:
    """``PUT .../groups/{id}`` takes the WHOLE group: "The PUT endpoint requires all fields"
    (SDK ``update_group``, which GETs and merges), i.e. ``name``, ``members`` and ``guests``
    every time (empty lists allowed: the SDK sends ``[]``), and ``description`` only as a
    non-empty string (``sometimes|required|string``; DOCS update-group: "Required")."""
    group = _group(ctx)
    body = ctx.json_object()
    require_fields(body, "name")
    missing = {k: f"The {k} field must be present." for k in ("members", "guests") if k not in body}
    if missing:
        raise validation_errors(missing)
    _check_group(ctx, body)
    for key in ("name", "description", "members", "guests"):
        if key in body:
            group[key] = body[key]
    group["last_updated"] = ctx.now_iso()
    return item(group)


async def _delete_group(ctx: RouteContext) -> web.StreamResponse:
    group = _group(ctx)
    del area_for(ctx).groups[group["id"]]
    return no_content()


def register_people_routes(router: Router) -> None:
    org = "/organizations/{org}"
    router.get(f"{org}/users", _users)
    router.post(f"{org}/users/invite", _invite)
    router.get(f"{org}/users/{{user}}", _user)
    router.put(f"{org}/users/{{user}}/role", _role)
    router.delete(f"{org}/users/{{user}}/disable", _disable)
    router.put(f"{org}/users/{{user}}/enable", _enable)
    router.put(f"{org}/users/{{user}}/to/guest", _to_guest)
    router.get(f"{org}/guests", _guests)
    router.post(f"{org}/guests", _create_guest)
    router.get(f"{org}/guests/{{email}}", _get_guest)
    router.put(f"{org}/guests/{{email}}", _update_guest)
    router.delete(f"{org}/guests/{{email}}", _delete_guest)
    router.delete(f"{org}/guests/{{email}}/disable", _disable_guest)
    router.put(f"{org}/guests/{{email}}/enable", _enable_guest)
    router.post(f"{org}/guests/{{email}}/to/member", _guest_to_member)
    router.get(f"{org}/groups", _groups)
    router.post(f"{org}/groups", _create_group)
    router.get(f"{org}/groups/{{group}}", _get_group)
    router.put(f"{org}/groups/{{group}}", _update_group)
    router.delete(f"{org}/groups/{{group}}", _delete_group)
