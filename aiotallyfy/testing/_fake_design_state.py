"""State and lookups shared by the fake's blueprint-design and run-extra routes (issue 10, part
3a): live/archived checklist lookup, steps, the admin check, tag associations and the
activity feed.

Kept in ``st.extra["design"]`` next to the ``Area`` of ``_fake_store`` (steps and kick-off
fields live there) so this part adds no fields to shared classes. Tests seed it with
``design_of(fake, org_id)``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ._envelope import FakeHTTPError, error_body, not_found
from ._fake_common import area_for
from ._fake_store import area
from ._router import RouteContext

if TYPE_CHECKING:
    from ._fake_data import OrgState
    from ._server import FakeTallyfy

__all__ = [
    "DesignState",
    "any_checklist",
    "design",
    "design_of",
    "includes",
    "live_checklist",
    "require_admin",
    "step_of",
    "tags_include",
    "value_id_for",
]


@dataclass(eq=False)
class DesignState:
    """Per-org records no other fake area keeps."""

    tag_links: dict[int, dict[str, Any]] = field(default_factory=dict)
    next_tag_link: int = 1
    activities: list[dict[str, Any]] = field(default_factory=list)
    exports: int = 0

    def record_activity(
        self,
        st: OrgState,
        *,
        verb: str,
        kind: str,
        auditable: tuple[str, str],
        parent: tuple[str, str] | None,
        description: str,
        created_at: str,
        actor_id: int,
    ) -> dict[str, Any]:
        """Append one activity in the shape of DOCS *get-process-activity* (most values are
        one-element arrays)."""
        entry: dict[str, Any] = {
            "id": len(self.activities) + 1,
            "organization_id": st.id,
            "verb": [verb],
            "source": ["Member"],
            "actor_type": ["App\\Models\\User"],
            "actor_id": [actor_id],
            "auditable_type": f"App\\Models\\{auditable[0]}",
            "auditable_id": auditable[1],
            "parentable_type": f"App\\Models\\{parent[0]}" if parent else None,
            "parentable_id": parent[1] if parent else None,
            "type": [kind],
            "description": [description],
            "field": None,
            "old_value": None,
            "created_at": created_at,
            "text": None,
            "references": None,
            "undoable": False,
        }
        self.activities.append(entry)
        return entry

    def add_activities(self, st: OrgState, run_id: str, n: int, *, at: str) -> None:
        """Seed ``n`` task-completed activities on ``run_id`` (for paging tests)."""
        for k in range(n):
            self.record_activity(
                st,
                verb="completed",
                kind="Task",
                auditable=("Task", f"{k:032x}"),
                parent=("Run", run_id),
                description=f"Completed task {k + 1}",
                created_at=at,
                actor_id=0,
            )


def includes(ctx: RouteContext) -> set[str]:
    """The names in the request's ``with`` (comma-separated)."""
    return {w.strip() for w in (ctx.query.get("with") or "").split(",") if w.strip()}


def tags_include(ctx: RouteContext, subject_id: str) -> dict[str, Any]:
    """The ``tags`` include of a blueprint or process: its tag associations, each with the
    association ``id`` (what ``DELETE .../checklists/tags/{id}`` takes) and ``tag_id``. The
    official SDK's ``untag_template``/``untag_process`` read the association id there
    (``?with=tags``; "Tags include may be wrapped in {"data": [...]}", as Fractal includes
    are)."""
    links = [dict(link) for link in design(ctx).tag_links.values()]
    return {"data": [link for link in links if link["subject_id"] == subject_id]}


def design(ctx: RouteContext) -> DesignState:
    return _state(ctx.org_state)


def _state(st: OrgState) -> DesignState:
    found = st.extra.get("design")
    if isinstance(found, DesignState):
        return found
    made = st.extra["design"] = DesignState()
    return made


def design_of(fake: FakeTallyfy, org_id: str) -> DesignState:
    """The ``DesignState`` of ``org_id`` in a running fake (seeding and assertions)."""
    st = fake.data.org_state(org_id)
    if st is None:
        raise KeyError(f"unknown org {org_id!r}")
    area(fake.data, st)
    return _state(st)


def any_checklist(ctx: RouteContext, checklist_id: str | None = None) -> dict[str, Any]:
    """The checklist of the path, archived or not; 404 when unknown."""
    cid = checklist_id or ctx.params["checklist"]
    area_for(ctx)  # steps and kick-off fields exist from here on
    for checklist in ctx.org_state.checklists:
        if checklist["id"] == cid:
            return checklist
    raise not_found()


def live_checklist(ctx: RouteContext) -> dict[str, Any]:
    """The checklist of the path if it is not archived. An archived one answers 404 like an
    unknown one: api-v2 ``ChecklistsRepository::findByTimeline`` filters ``deleted_at``
    (MCP ``tag_template`` notes)."""
    checklist = any_checklist(ctx)
    if checklist.get("archived_at") is not None:
        raise not_found()
    return checklist


def step_of(ctx: RouteContext, checklist: dict[str, Any], step_id: str) -> dict[str, Any]:
    """A step of ``checklist`` with the fields the StepTransformer always emits (SDK:
    ``assignees``/``guests``/``groups`` are never absent); 404 when not there."""
    for step in area_for(ctx).steps.get(checklist["id"], []):
        if step["id"] == step_id:
            step.setdefault("assignees", [])
            step.setdefault("guests", [])
            step.setdefault("groups", [])
            step.setdefault("step_type", step.get("task_type", "task"))
            return step
    raise not_found()


def require_admin(ctx: RouteContext) -> None:
    """403 unless the token's user is an admin of the org (DOCS: permanent deletes are
    admin-only)."""
    if ctx.org_state.org.get("user_role") != "admin":
        raise FakeHTTPError(403, error_body("You don't have admin role permissions."))


def value_id_for(run_id: str, field_id: str) -> str:
    """The id of the stored value (api-v2 ``CaptureValue``) of ``field_id`` in ``run_id``.
    Deterministic, so the fake needs no table of values; the key name ``value_id`` under
    which the fake shows it is inferred (no source names it)."""
    return hashlib.md5(f"value:{run_id}:{field_id}".encode(), usedforsecurity=False).hexdigest()
