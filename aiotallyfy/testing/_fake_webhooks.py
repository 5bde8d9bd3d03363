"""Webhook delivery from the fake: POST a payload to a URL with ``X-Tallyfy-orgID``.

Like Tallyfy, a delivery is attempted once and never retried; the fake records each one in
``deliveries(fake)``. Payload builders produce the documented shapes (hyphenated keys
included): ``process_payload`` for process launched/completed, ``task_completed_payload``
for a completed task. Deliveries happen automatically when a process is launched from a
blueprint with a ``webhook`` URL, and when a task whose ``webhook`` is set is completed.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aiohttp

from ._fake_store import area

if TYPE_CHECKING:
    from ._router import RouteContext
    from ._server import FakeTallyfy

__all__ = [
    "Delivery",
    "deliver",
    "deliveries",
    "process_payload",
    "task_completed_hook",
    "task_completed_payload",
]

ORG_HEADER = "X-Tallyfy-orgID"
_RUN_KEYS = (
    "id", "increment_id", "checklist_id", "checklist_title", "name", "summary", "status",
    "owner_id", "created_at", "started_at", "last_updated", "completed_at",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Delivery:
    url: str
    org_id: str
    payload: Any
    status: int | None  # None: the receiver could not be reached
    error: str | None = None


_DELIVERIES: weakref.WeakKeyDictionary[FakeTallyfy, list[Delivery]] = weakref.WeakKeyDictionary()


def deliveries(fake: FakeTallyfy) -> list[Delivery]:
    """Every webhook delivery the fake attempted, in order."""
    return _DELIVERIES.setdefault(fake, [])


async def deliver(
    fake: FakeTallyfy, url: str, payload: Any, org_id: str, *, seconds: float = 10.0
) -> int | None:
    """POST ``payload`` once; the receiver's status, or ``None`` if it was unreachable."""
    log = deliveries(fake)
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=seconds)) as session,
            session.post(url, json=payload, headers={ORG_HEADER: org_id}) as response,
        ):
            await response.read()
            log.append(Delivery(url, org_id, payload, response.status))
            return response.status
    except (aiohttp.ClientError, TimeoutError) as exc:
        log.append(Delivery(url, org_id, payload, None, type(exc).__name__))
        return None


def process_payload(ctx: RouteContext, r: int) -> dict[str, Any]:
    """The flat process payload of a template-level webhook."""
    st = ctx.org_state
    run = st.runs[r]
    ar = area(ctx.data, st)
    tasks = [ctx.data.task_at(st, i) for i in ar.run_task_indices(r)]
    me = ctx.data.me
    return {
        **{k: run.get(k) for k in _RUN_KEYS},
        "started_by": run.get("started_by"),
        "prerun": run.get("prerun") or {},
        "progress": {
            "complete": sum(1 for t in tasks if t["status"] == "completed"),
            "total": len(tasks),
        },
        "process-tasks": {f"step-{t['position']}": t["id"] for t in tasks},
        "ko-form-fields": {},
        "guest-links": {},
        "launcher": {"id": me["id"], "email": me["email"], "full_name": me["full_name"]},
    }


def task_completed_payload(ctx: RouteContext, task: dict[str, Any]) -> dict[str, Any]:
    """The task-completed payload (``this_task``, ``process``, hyphenated extras)."""
    st = ctx.org_state
    me = ctx.data.me
    person = {"id": me["id"], "email": me["email"], "full_name": me["full_name"]}
    run_id = task.get("run_id")
    r = st.run_index.get(run_id) if run_id else None
    process: dict[str, Any] = {}
    if r is not None:
        run = st.runs[r]
        process = {
            "id": run["id"],
            "organization_id": st.id,
            "name": run["name"],
            "summary": run.get("summary"),
            "status": run["status"],
            "created_at": run["created_at"],
            "prerun": run.get("prerun") or {},
            "tags": [],
        }
    return {
        "this_task": {
            "id": task["id"],
            "title": task["title"],
            "alias": task.get("alias"),
            "status": "completed",
            "summary": task.get("summary"),
            "deadline": task.get("deadline"),
            "position": task.get("position"),
            "completed_at": task.get("completed_at"),
            "completed_by": person,
            "captures": {},
            "owners": {"users": [person], "guests": task["owners"].get("guests", [])},
            "assets": [],
        },
        "launcher": person,
        "completer": person,
        "process-tasks": {},
        "form-fields": {},
        "template": {"id": task.get("checklist_id"), "title": None, "alias": None},
        "process": process,
        "guest-links": {},
        "next_task": [],
    }


async def task_completed_hook(ctx: RouteContext, task_id: str) -> None:
    """Deliver the task-completed webhook when the completed task has a ``webhook`` URL."""
    task = ctx.data.task(ctx.org_state.id, task_id)
    if task is None or not task.get("webhook"):
        return
    await ctx.fake.deliver_webhook(
        task["webhook"], task_completed_payload(ctx, task), ctx.org_state.id
    )
