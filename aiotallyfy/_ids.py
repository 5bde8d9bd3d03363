"""Path-segment ids: checked and URL-encoded before they reach a URL."""

from __future__ import annotations

import re
from urllib.parse import quote

from ._errors import InvalidArgument

__all__ = ["segment"]

# Tallyfy ids are 32-hex strings (users and guests: ints). The official SDK allows
# [A-Za-z0-9_-] up to 255 characters; we do the same, so a stray "/" or ".." in an id can
# never turn a call into a request for another route.
_ID = re.compile(r"[A-Za-z0-9_-]{1,255}")


def segment(value: str | int, *, name: str) -> str:
    """A checked id for a path segment, or ``InvalidArgument`` before anything is sent."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise InvalidArgument(f"{name} must be a string or an int id")
    text = str(value)
    if not _ID.fullmatch(text):
        raise InvalidArgument(
            f"{name} {text[:40]!r} is not a valid Tallyfy id",
            errors={name: ["invalid id"]},
        )
    return quote(text, safe="")
