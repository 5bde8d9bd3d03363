"""Processes (``runs``): list, get, launch (with a safe "launch once" path), update, archive,
activate, delete, and the tasks of a run.

Launching is the one write users most often need to be sure about, and Tallyfy gives no
idempotency key for it: a POST whose connection dies after it was sent may or may not have
started a process. ``launch(..., launch_marker=...)`` makes that answerable; see its docstring.
"""

from __future__ import annotations

import builtins
import re
from collections.abc import Mapping
from typing import Any

from .._errors import InvalidArgument, OutcomeUnknownError, ServerError, TallyfyError
from .._ids import segment
from .._pagination import AsyncPager
from .._types import Run, Task
from .._validation import format_datetime, validate_owners, validate_timeline_map
from ._run_extras import RunExtras
from ._tasks import Tasks
from ._writes import body_of, org_path, run_path, with_param

__all__ = ["MARKER_PREFIX", "Runs", "marker_tag"]

MARKER_PREFIX = "aiotallyfy-launch:"
_MARKER = re.compile(r"^[A-Za-z0-9_.:-]{8,100}$")


def marker_tag(marker: str) -> str:
    """The text stored in the run's ``summary`` for ``marker``: ``[aiotallyfy-launch:<m>]``."""
    return f"[{MARKER_PREFIX}{marker}]"


def _validate_marker(marker: str) -> str:
    if not isinstance(marker, str) or not _MARKER.match(marker):
        raise InvalidArgument(
            "launch_marker must be 8-100 characters of letters, digits, '_', '-', '.', ':' "
            "(use a UUID or your own job id)",
            errors={"launch_marker": ["invalid marker"]},
        )
    return marker


def _task_overrides(tasks: Mapping[str, Any]) -> dict[str, Any]:
    """Per-step overrides keyed by step timeline id, with dates and owners checked."""
    out: dict[str, Any] = {}
    for step_id, override in validate_timeline_map(tasks, field="tasks").items():
        if not isinstance(override, Mapping):
            raise InvalidArgument(
                f"tasks[{step_id}] must be an object (deadline, owners, position, ...)",
                errors={"tasks": ["override must be an object"]},
            )
        item = dict(override)
        if item.get("deadline") is not None:
            item["deadline"] = format_datetime(item["deadline"], field=f"tasks.{step_id}.deadline")
        if item.get("owners") is not None:
            item["owners"] = validate_owners(item["owners"], field=f"tasks.{step_id}.owners")
        out[step_id] = item
    return out


class Runs(RunExtras):
    __slots__ = ()

    def list(
        self,
        org_id: str,
        *,
        checklist_id: str | None = None,
        status: str | None = None,
        q: str | None = None,
        with_: str | builtins.list[str] | None = None,
        limit: int | None = None,
        **filters: Any,
    ) -> AsyncPager[Run]:
        """Every process of ``org_id``, all pages.

        ``filters`` are Tallyfy's query parameters as named there: ``owners``, ``folder``,
        ``tag``, ``starred``, ``type``, ``archived`` (``only``/``true``), ``sort`` (e.g.
        ``-created_at``), ``task_status``, ... Lists become comma-separated values.
        """
        params: dict[str, Any] = {
            "checklist_id": checklist_id,
            "status": status,
            "q": q,
            **(with_param(with_) or {}),
            **filters,
        }
        return self._pager(
            f"{org_path(org_id)}/runs", org_id=org_id, params=params, limit=limit, item_type=Run
        )

    async def get(
        self,
        org_id: str,
        run_id: str,
        *,
        with_: str | builtins.list[str] | None = None,
        form_fields_values: bool | None = None,
    ) -> Run:
        """One process; ``form_fields_values=True`` asks for the form values too (docs
        ``processes/get-process``)."""
        path = run_path(org_id, run_id)
        params: dict[str, Any] = dict(with_param(with_) or {})
        if form_fields_values is not None:
            params["form_fields_values"] = form_fields_values
        return await self._get_item(path, org_id=org_id, params=params or None, item_type=Run)

    def tasks(
        self,
        org_id: str,
        run_id: str,
        *,
        status: str | None = None,
        with_: str | builtins.list[str] | None = None,
        limit: int | None = None,
        **filters: Any,
    ) -> AsyncPager[Task]:
        """The tasks of one process, all pages (``GET .../runs/{run}/tasks``)."""
        # The same route as ``client.tasks.list_for_run``: one implementation serves both.
        return Tasks(self._core).list_for_run(
            org_id, run_id, status=status, with_=with_, limit=limit, **filters
        )

    async def update(self, org_id: str, run_id: str, **fields: Any) -> Run:
        """``PUT .../runs/{run}`` with ``name``, ``summary``, ``starred``, ...

        Retried like a read after a lost answer: it sets fields to given values, so applying
        it twice leaves the same process as applying it once.
        """
        path = run_path(org_id, run_id)
        return await self._write_item(
            "PUT", path, org_id=org_id, json=body_of(fields), idempotent=True, item_type=Run
        )

    async def archive(self, org_id: str, run_id: str) -> Run | None:
        """Archive (``DELETE .../runs/{run}``); list them again with ``archived="only"``.

        Retried like a read: archiving an archived process leaves it archived.
        """
        path = run_path(org_id, run_id)
        return await self._write_optional(
            "DELETE", path, org_id=org_id, idempotent=True, item_type=Run
        )

    async def activate(self, org_id: str, run_id: str) -> Run:
        """Bring an archived process back (``PUT .../activate``); idempotent, so retried."""
        path = f"{run_path(org_id, run_id)}/activate"
        return await self._write_item("PUT", path, org_id=org_id, idempotent=True, item_type=Run)

    async def delete(self, org_id: str, run_id: str) -> None:
        """Delete permanently (``DELETE .../runs/{run}/delete``).

        Not re-sent after a lost answer: a repeat of an applied delete answers 404, which would
        report a success as a failure. ``OutcomeUnknownError`` then says "check first".
        """
        path = f"{run_path(org_id, run_id)}/delete"
        await self._core.request("DELETE", path, org_id=org_id, idempotent=False)

    async def launch(
        self,
        org_id: str,
        checklist_id: str,
        *,
        name: str | None = None,
        summary: str | None = None,
        prerun: Mapping[str, Any] | None = None,
        tasks: Mapping[str, Any] | None = None,
        owner_id: int | None = None,
        starred: bool | None = None,
        is_public: bool | None = None,
        parent_id: str | None = None,
        tags: builtins.list[str] | None = None,
        launch_marker: str | None = None,
        relaunch_if_absent: bool = True,
        lookup_attempts: int = 3,
        lookup_delay: float = 2.0,
        lookup_limit: int = 300,
        **fields: Any,
    ) -> Run:
        """Launch a process from blueprint ``checklist_id`` (``POST .../runs`` → 201).

        ``prerun`` (kick-off values) and ``tasks`` (per-step overrides) must be objects keyed
        by timeline id; a list, or keys that are labels, is rejected here before sending.

        **Without** ``launch_marker`` the POST is sent once: if the connection fails after it
        was written you get ``OutcomeUnknownError`` and must check yourself.

        **With** ``launch_marker`` (a caller-chosen unique string, e.g. a UUID or your job id):

        1. ``[aiotallyfy-launch:<marker>]`` is appended to the run's ``summary`` (a field the
           API stores and returns; users will see it in the process summary);
        2. before launching, the processes of ``checklist_id`` are read (newest first, up to
           ``lookup_limit``); a process already carrying the marker is returned and nothing is
           launched, so calling ``launch`` again with the same marker (e.g. after a crash of
           your own worker) is safe;
        3. if the POST ends with ``OutcomeUnknownError`` (sent, answer lost), the same lookup
           runs up to ``lookup_attempts`` times, ``lookup_delay`` seconds apart (the server
           may still be processing); a found process is returned;
        4. only if it is still absent and ``relaunch_if_absent`` is true is the POST sent one
           more time; otherwise ``OutcomeUnknownError`` is raised;
        5. a 502/503/504 answer (a gateway may answer that after the app applied the launch)
           triggers one lookup; the process is returned if found, else the error is raised.

        Guarantee: one launch per marker, **provided** a launched process appears in the run
        list within the lookup window and nobody edits the marker out of its summary. Limits,
        honestly: Tallyfy has no server-side idempotency, so this is a check-then-act, not a
        transaction. Two concurrent ``launch`` calls with the same marker can both launch
        (serialize them yourself); a launch slower than ``lookup_attempts * lookup_delay``
        that lands after the relaunch gives two processes; an archived or deleted process is
        not seen by the lookup; the lookup reads newest-first via ``sort=-created_at`` and
        stops after ``lookup_limit`` processes, so a server that ignored the sort on a very
        busy blueprint could hide the match. Set ``relaunch_if_absent=False`` to never send a
        second POST (at most once; an unresolved outcome is then your call).
        """
        org = org_path(org_id)
        checklist = segment(checklist_id, name="checklist_id")
        body: dict[str, Any] = body_of(
            {
                "checklist_id": checklist,
                "name": name,
                "summary": summary,
                "owner_id": owner_id,
                "starred": starred,
                "is_public": is_public,
                "parent_id": parent_id,
                "tags": tags,
                **fields,
            }
        )
        if prerun is not None:
            body["prerun"] = validate_timeline_map(prerun, field="prerun")
        if tasks is not None:
            body["tasks"] = _task_overrides(tasks)
        path = f"{org}/runs"
        if launch_marker is None:
            return await self._write_item("POST", path, org_id=org_id, json=body, item_type=Run)

        tag = marker_tag(_validate_marker(launch_marker))
        body["summary"] = f"{summary}\n\n{tag}" if summary else tag
        existing = await self.find_by_marker(
            org_id, checklist_id, launch_marker, lookup_limit=lookup_limit
        )
        if existing is not None:
            return existing
        sends = 0
        while True:
            sends += 1
            try:
                result = await self._write_item(
                    "POST", path, org_id=org_id, json=body, item_type=Run
                )
            except OutcomeUnknownError as unknown:
                found = await self._resolve(
                    org_id, checklist_id, launch_marker, unknown,
                    attempts=lookup_attempts, delay=lookup_delay, lookup_limit=lookup_limit,
                )  # fmt: skip
                if found is not None:
                    return found
                if not relaunch_if_absent or sends >= 2:
                    raise
                continue
            except ServerError as error:
                # A gateway 502/503/504 after the app applied the launch is possible: look
                # once, return the process if it is there, never relaunch on a 5xx.
                if error.status not in (502, 503, 504):
                    raise
                found = await self.find_by_marker(
                    org_id, checklist_id, launch_marker, lookup_limit=lookup_limit
                )
                if found is not None:
                    return found
                raise
            return result

    async def find_by_marker(
        self, org_id: str, checklist_id: str, launch_marker: str, *, lookup_limit: int = 300
    ) -> Run | None:
        """The process of ``checklist_id`` whose summary carries ``launch_marker``, if any
        (newest first, at most ``lookup_limit`` processes read)."""
        tag = marker_tag(_validate_marker(launch_marker))
        pager = self.list(org_id, checklist_id=checklist_id, sort="-created_at", limit=lookup_limit)
        async for run in pager:
            if tag in str(run.get("summary") or ""):
                return run
        return None

    async def _resolve(
        self,
        org_id: str,
        checklist_id: str,
        marker: str,
        unknown: OutcomeUnknownError,
        *,
        attempts: int,
        delay: float,
        lookup_limit: int,
    ) -> Run | None:
        for attempt in range(max(1, attempts)):
            if attempt:
                await self._core.clock.sleep(delay)
            try:
                found = await self.find_by_marker(
                    org_id, checklist_id, marker, lookup_limit=lookup_limit
                )
            except TallyfyError as lookup_error:
                raise unknown from lookup_error
            if found is not None:
                return found
        return None
