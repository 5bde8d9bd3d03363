"""One row per ``(organization_id, id)`` in a load, decided in the source.

Because the source hands dlt each key at most once, the table's staging data is declared
de-duplicated (``deduplicated: True`` in the merge disposition): DuckDB then merges with a
plain ``INSERT ... SELECT`` instead of a ``ROW_NUMBER() OVER (PARTITION BY key)`` over every
staged row, the window that made the merge the largest memory use of a load; and a first
load into an empty table can simply append (``_load``). The first row seen for a key is kept
(the same choice dlt's merge made, arbitrarily, among staged duplicates).

The pager already drops an id it handed out earlier in the same walk; this module does not
rely on that, it checks the rows it is given. Keys are kept per organization and dropped when
that organization's read is over (its result comes after its last page), so memory holds
the ids of the organizations being read, not of the whole load.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

__all__ = ["FirstSeen"]


def _key(value: Any) -> str | bytes:
    """A hashable key for an ``id``: the string itself, anything else its JSON (bytes, so
    ``5`` and ``"5"`` stay two keys, as they are two values in the table)."""
    return value if isinstance(value, str) else orjson.dumps(value)


class FirstSeen:
    """The rows whose ``(org_id, id)`` was not handed out before in this load."""

    __slots__ = ("_seen", "dropped")

    def __init__(self) -> None:
        self._seen: dict[str, set[str | bytes]] = {}
        self.dropped = 0
        """Rows left out because their key was handed out before."""

    def rows(self, org_id: str, rows: Sequence[dict[str, Any]]) -> Sequence[dict[str, Any]]:
        seen = self._seen.setdefault(org_id, set())
        keys = [_key(row.get("id")) for row in rows]
        fresh = set(keys)
        if len(fresh) == len(keys) and seen.isdisjoint(fresh):
            seen |= fresh  # the usual page: every key new
            return rows
        out: list[dict[str, Any]] = []
        for row, key in zip(rows, keys, strict=True):
            if key in seen:
                self.dropped += 1
                continue
            seen.add(key)
            out.append(row)
        return out

    def org_done(self, org_id: str) -> None:
        """``org_id``'s read is over: its keys are not needed any more."""
        self._seen.pop(org_id, None)
