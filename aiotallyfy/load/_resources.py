"""The Tallyfy lists a load reads: one dlt resource (and one table) per list.

Each entry says which client list method walks it for one organization and how its items
become rows. Tallyfy's list routes have no "changed since" filter (``shared/reference/
tallyfy-api.md`` §5: ``/tasks`` filters by ``created`` date and deadlines, ``/runs`` and
``/checklists`` sort by date, none filters on ``last_updated``), so every resource is a
full read merged by ``(organization_id, id)``; rows that no longer come back are marked by
``_vanished.mark_vanished`` instead of being kept live.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from .._client import TallyfyClient

__all__ = ["DELETED_COLUMN", "RESOURCES", "RUN_COLUMN", "ResourceSpec", "resource_specs"]

RUN_COLUMN: Final = "_tallyfy_run_id"
"""The load that last saw the row (each load's id sorts after the previous one's)."""
DELETED_COLUMN: Final = "_tallyfy_deleted_at"
"""When a load whose read of the row's organization completed no longer saw the row."""

Lister = Callable[[TallyfyClient, str], AsyncIterable[Any]]
Rows = Callable[[str, Sequence[Any], str], list[dict[str, Any]]]


def _stamp(org_id: str, items: Sequence[Any], run_id: str) -> list[dict[str, Any]]:
    """The page's objects as rows: each gets its organization and this load's id (in place:
    the page is this consumer's alone)."""
    rows: list[dict[str, Any]] = []
    append = rows.append
    for item in items:
        item["organization_id"] = org_id
        item[RUN_COLUMN] = run_id
        append(item)
    return rows


def _comment_rows(org_id: str, tasks: Sequence[Any], run_id: str) -> list[dict[str, Any]]:
    """Comments come inside their tasks (``with=threads``: ``threads.data[]``)."""
    rows: list[dict[str, Any]] = []
    for task in tasks:
        threads = task.get("threads") if isinstance(task, dict) else None
        comments: Iterable[Any] = (
            threads.get("data") or () if isinstance(threads, dict) else threads or ()
        )
        for comment in comments:
            if not isinstance(comment, dict):
                continue
            comment.setdefault("task_id", task.get("id"))
            comment["organization_id"] = org_id
            comment[RUN_COLUMN] = run_id
            rows.append(comment)
    return rows


@dataclass(frozen=True, slots=True)
class ResourceSpec:
    name: str
    """The dlt resource name, which is also the table name."""
    list: Lister
    rows: Rows = _stamp
    doc: str = ""


RESOURCES: Final[tuple[ResourceSpec, ...]] = (
    ResourceSpec("tasks", lambda c, o: c.tasks.list(o), doc="every task of the org (GET /tasks)"),
    ResourceSpec(
        "my_tasks",
        lambda c, o: c.tasks.list_mine(o, status="all"),
        doc="the token user's tasks (GET /me/tasks?status=all)",
    ),
    ResourceSpec("processes", lambda c, o: c.runs.list(o), doc="processes (GET /runs)"),
    ResourceSpec(
        "blueprints", lambda c, o: c.blueprints.list(o), doc="blueprints (GET /checklists)"
    ),
    ResourceSpec("members", lambda c, o: c.users.list(o), doc="members (GET /users)"),
    ResourceSpec("guests", lambda c, o: c.guests.list(o), doc="guests (GET /guests)"),
    ResourceSpec("groups", lambda c, o: c.groups.list(o), doc="groups (GET /groups)"),
    ResourceSpec("tags", lambda c, o: c.tags.list(o), doc="tags (GET /tags)"),
    ResourceSpec("folders", lambda c, o: c.folders.list(o), doc="folders (GET /folders)"),
    ResourceSpec(
        "comments",
        lambda c, o: c.tasks.list(o, with_="threads"),
        _comment_rows,
        doc="task comments, read with the tasks (GET /tasks?with=threads): no extra "
        "request per task",
    ),
)

_BY_NAME: Final = {spec.name: spec for spec in RESOURCES}


def resource_specs(names: Sequence[str] | None) -> list[ResourceSpec]:
    """The specs for ``names`` (all when ``None``), in ``RESOURCES`` order; ``ValueError``
    names the unknown ones."""
    if names is None:
        return list(RESOURCES)
    unknown = [n for n in names if n not in _BY_NAME]
    if unknown:
        known = ", ".join(_BY_NAME)
        raise ValueError(f"unknown resource(s) {', '.join(unknown)}; choose from {known}")
    wanted = set(names)
    return [spec for spec in RESOURCES if spec.name in wanted]
