"""Secrets that cannot leak by accident: redacted in ``repr``, ``str`` and f-strings."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

__all__ = ["Secret", "scrub", "scrub_json", "scrub_then_truncate"]

_REDACTED: Final = "**********"


class Secret:
    """Wraps a credential. Only ``reveal()`` gives the value back, at the point of use."""

    __slots__ = ("_value",)

    def __init__(self, value: str | Secret) -> None:
        if isinstance(value, Secret):
            value = value.reveal()
        if not isinstance(value, str):
            raise TypeError("a secret must be a str")
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return f"Secret('{_REDACTED}')"

    def __str__(self) -> str:
        return _REDACTED

    def __format__(self, format_spec: str) -> str:
        return _REDACTED

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Secret):
            return self._value == other._value
        return NotImplemented

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __reduce__(self) -> str | tuple[object, ...]:
        raise TypeError("secrets are not pickled")


def scrub(text: str, secrets: Iterable[Secret | str | None]) -> str:
    """``text`` with every occurrence of each secret replaced by a fixed marker.

    Scrub first, then truncate: a cut made first can leave a prefix of a secret that no
    longer matches (reliability review L1/L2); ``scrub_then_truncate`` does both.

    For text that came back from a server (error bodies, token-endpoint messages), in case
    it echoes a credential. Longer secrets go first, so one that contains another is not
    left half-replaced. Empty and ``None`` entries are skipped.
    """
    values = sorted(
        {s.reveal() if isinstance(s, Secret) else s for s in secrets if s},
        key=len,
        reverse=True,
    )
    for value in values:
        if value and value in text:
            text = text.replace(value, _REDACTED)
    return text


def scrub_json(value: Any, secrets: Iterable[Secret]) -> Any:
    """A copy of decoded JSON with every string (keys included) scrubbed."""
    held = [s for s in secrets if s.reveal()]
    if not held:
        return value
    return _scrub_json(value, held)


def _scrub_json(value: Any, secrets: list[Secret]) -> Any:
    if isinstance(value, str):
        return scrub(value, secrets)
    if isinstance(value, dict):
        return {scrub(str(k), secrets): _scrub_json(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub_json(v, secrets) for v in value]
    return value


def scrub_then_truncate(text: str, secrets: Iterable[Secret | str | None], limit: int) -> str:
    """``text`` scrubbed of ``secrets`` and only then cut to ``limit`` characters.

    The order matters: cutting first can leave the head of a secret at the end of the text,
    which the scrub no longer recognises (a secret starting at character 492 of a 500
    character cut leaked its first 8 characters that way).
    """
    if limit < 0:
        raise ValueError("limit must be >= 0")
    return scrub(text, secrets)[:limit]
