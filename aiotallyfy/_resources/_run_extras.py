"""Process extras: complete / reopen the kick-off form, export, activity feed. A mixin of
``Runs`` (``client.runs.complete_kickoff(...)``), kept apart from the launch logic.

Sources: ``POST``/``DELETE .../runs/{run}/complete-prerun``, no body (SDK
``complete_kickoff_form``/``reopen_kickoff_form``; N8N ``completeKickoffForm``); ``POST
.../runs/{run}/export``, no body, answers JSON (CLI ``process export``); ``GET
.../activity-feeds?entity_type=run&entity_id=`` is a Fractal-paginated list, default 20 per
page, newest first with ``sort=-created_at`` (DOCS *processes/get-process-activity*).
"""

from __future__ import annotations

from typing import Any

from .._design_types import Activity
from .._errors import PaginationError
from .._ids import segment
from .._pagination import AsyncPager
from .._types import Run
from .._validation import _local_error
from ._base import Resource
from ._writes import org_path, run_path

__all__ = ["ENTITY_TYPES", "RunExtras"]

ENTITY_TYPES = frozenset({"checklist", "run", "step", "task", "thread"})


class RunExtras(Resource):
    __slots__ = ()

    async def complete_kickoff(self, org_id: str, run_id: str) -> Run | None:
        """Complete the process's kick-off form (``POST .../complete-prerun``). Sent once:
        completing a completed form is refused, so a repeat would report an error."""
        path = f"{run_path(org_id, run_id)}/complete-prerun"
        return await self._write_optional("POST", path, org_id=org_id, item_type=Run)

    async def reopen_kickoff(self, org_id: str, run_id: str) -> Run | None:
        """Reopen a completed kick-off form (``DELETE .../complete-prerun``). Not re-sent
        after a lost answer: reopening an open form is refused, which would turn a success
        into an error."""
        path = f"{run_path(org_id, run_id)}/complete-prerun"
        return await self._write_optional(
            "DELETE", path, org_id=org_id, idempotent=False, item_type=Run
        )

    async def export(self, org_id: str, run_id: str) -> dict[str, Any]:
        """One process as JSON (``POST .../runs/{run}/export``), returned as the server sent
        it (no source documents its shape; a body that is not a JSON object raises).

        It is a POST but stores nothing (the CLI prints the answer), so it is marked
        idempotent and retried like a read."""
        path = f"{run_path(org_id, run_id)}/export"
        response = await self._core.request("POST", path, org_id=org_id, idempotent=True)
        if not isinstance(response.data, dict):
            raise PaginationError(
                f"{path}: expected a JSON object, got {type(response.data).__name__}"
            )
        return response.data

    def activity(
        self,
        org_id: str,
        run_id: str,
        *,
        limit: int | None = None,
        **filters: Any,
    ) -> AsyncPager[Activity]:
        """The process's activity feed, every page (``GET .../activity-feeds`` with
        ``entity_type=run&entity_id={run}``). ``filters``: ``verb``, ``type``,
        ``actor_type``, ``actor_id``, ``source``, ``created_after``/``created_before``
        (``YYYY-MM-DD``), ``search``, ``sort`` (e.g. ``-created_at``), ..."""
        return self.activity_feed(
            org_id, entity_type="run", entity_id=run_id, limit=limit, **filters
        )

    def activity_feed(
        self,
        org_id: str,
        *,
        entity_type: str | None = None,
        entity_id: str | None = None,
        limit: int | None = None,
        **filters: Any,
    ) -> AsyncPager[Activity]:
        """The organization's activity feed, optionally for one entity (``entity_type`` one
        of checklist, run, step, task, thread)."""
        if entity_type is not None and entity_type not in ENTITY_TYPES:
            raise _local_error("entity_type", f"entity_type must be one of {sorted(ENTITY_TYPES)}")
        if entity_id is not None:
            entity_id = segment(entity_id, name="entity_id")
        params: dict[str, Any] = {"entity_type": entity_type, "entity_id": entity_id, **filters}
        return self._pager(
            f"{org_path(org_id)}/activity-feeds",
            org_id=org_id,
            params=params,
            limit=limit,
            item_type=Activity,
        )
