"""Local checks for input the Tallyfy API silently drops or mishandles.

Everything here raises ``InvalidArgument`` (a ``TallyfyError`` and a ``ValueError``; nothing
was sent), so a caller can tell a local rejection from a server 422 (``ValidationError``) and
fix the input before any quota is spent. ``_local_error`` is the one way to build it here and
in the resources.

- ``prerun`` / ``taskdata`` / per-step ``tasks`` must be objects keyed by timeline id (32 hex
  characters, the ``id`` of a kick-off field, capture or step). The API drops other keys
  without a word and always fails a list-shaped ``prerun`` (tallyfy/sdk#29: 13/13 failed), so
  a list, or a key that is a label or an alias, is rejected here.
- Dates go to the API as ``YYYY-MM-DD HH:MM:SS`` in UTC (the request format; responses use ISO
  8601 Zulu). A naive ``datetime`` is rejected: guessing its zone would move deadlines silently.
- Emails (guest path segments, invites, owners) get a deliberately simple shape check: one
  ``@``, a dot in the domain, no spaces, at most 254 characters. The server has the last word.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import quote

from ._errors import InvalidArgument

__all__ = [
    "API_DATETIME_FORMAT",
    "email_segment",
    "format_datetime",
    "validate_email",
    "validate_owners",
    "validate_timeline_map",
]

API_DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S"

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
_TIMELINE_KEY = re.compile(r"^[0-9A-Fa-f]{32}$")
_API_DATE = re.compile(r"^\d{4}-\d\d-\d\d( \d\d:\d\d(:\d\d)?)?$")


def _local_error(field: str, message: str) -> InvalidArgument:
    return InvalidArgument(message, errors={field: [message]})


def format_datetime(value: datetime | date | str, *, field: str = "date") -> str:
    """``datetime`` → ``YYYY-MM-DD HH:MM:SS`` UTC; a ``date`` → that day at 00:00:00 UTC.

    A string is passed through when it already has the API's shape (``YYYY-MM-DD`` with an
    optional ``HH:MM[:SS]``) or is ISO 8601 with an offset (converted to UTC); anything else
    is rejected, because the API would store a wrong or empty date rather than say so.
    """
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise _local_error(
                field,
                f"{field}: a naive datetime is ambiguous; pass an aware datetime "
                "(e.g. datetime(..., tzinfo=UTC))",
            )
        return value.astimezone(UTC).strftime(API_DATETIME_FORMAT)
    if isinstance(value, date):
        return f"{value.isoformat()} 00:00:00"
    if isinstance(value, str):
        text = value.strip()
        if _API_DATE.match(text):
            return text
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is not None:
            return parsed.astimezone(UTC).strftime(API_DATETIME_FORMAT)
        raise _local_error(field, f"{field}: {value[:40]!r} is not a date the API accepts")
    raise _local_error(field, f"{field} must be a datetime, a date or a string")


def validate_email(value: str, *, field: str = "email") -> str:
    """The email, stripped, or ``InvalidArgument`` when it is not plausibly an address."""
    if not isinstance(value, str):
        raise _local_error(field, f"{field} must be a string")
    text = value.strip()
    if len(text) > 254 or not _EMAIL.match(text):
        raise _local_error(field, f"{field}: {text[:60]!r} is not a valid email address")
    return text


def email_segment(value: str, *, field: str = "email") -> str:
    """A checked email, URL-encoded for a path segment (``@`` and ``+`` included)."""
    return quote(validate_email(value, field=field), safe="")


def validate_timeline_map(value: Any, *, field: str) -> dict[str, Any]:
    """``prerun`` / ``taskdata`` / per-step ``tasks``: an object keyed by timeline id.

    A list is the classic mistake (the API then fails every launch); keys must be 32-hex
    timeline ids because labels and aliases are dropped by the server without an error.
    """
    if isinstance(value, (list, tuple)):
        raise _local_error(
            field,
            f"{field} must be an object keyed by timeline id, not a list "
            f"(e.g. {{'<timeline id>': value}}); the API rejects or drops list-shaped {field}",
        )
    if not isinstance(value, Mapping):
        raise _local_error(field, f"{field} must be an object keyed by timeline id")
    out: dict[str, Any] = {}
    for key, item in value.items():
        if not isinstance(key, str) or not _TIMELINE_KEY.match(key):
            raise _local_error(
                field,
                f"{field} key {str(key)[:40]!r} is not a timeline id; the API silently drops "
                "keys that are labels or aliases",
            )
        out[key] = item
    return out


def validate_owners(value: Any, *, field: str = "owners") -> dict[str, list[Any]]:
    """``{users: [int], guests: [email], groups: [id]}``; missing keys become ``[]``."""
    if not isinstance(value, Mapping):
        raise _local_error(field, f"{field} must be an object with users, guests and groups")
    unknown = set(value) - {"users", "guests", "groups"}
    if unknown:
        raise _local_error(field, f"{field} has unknown keys {sorted(unknown)}")
    users = list(_iter(value.get("users"), field))
    for uid in users:
        if isinstance(uid, bool) or not isinstance(uid, int):
            raise _local_error(field, f"{field}.users must be integer user ids")
    guests = [validate_email(g, field=f"{field}.guests") for g in _iter(value.get("guests"), field)]
    groups = [str(g) for g in _iter(value.get("groups"), field)]
    return {"users": users, "guests": guests, "groups": groups}


def _iter(value: Any, field: str) -> Iterable[Any]:
    if value is None:
        return ()
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise _local_error(field, f"{field} entries must be lists")
    return value
