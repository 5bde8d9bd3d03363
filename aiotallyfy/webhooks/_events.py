"""Webhook payloads → typed events.

Tallyfy sends two kinds of webhook (see the API digest §3.6):

- template/step webhooks: a flat process object when a process launches or completes, and a
  ``this_task`` payload when a task completes. Several keys are hyphenated
  (``process-tasks``, ``ko-form-fields``, ``form-fields``, ``guest-links``); here they become
  snake_case attributes. There is no event name in these payloads: a process payload with a
  ``completed_at`` (or a completed status) is ``process.completed``, else ``process.launched``.
- organization webhooks (watchers): payloads with an ``event`` field such as
  ``task.completed`` or ``task.comment_added``.

Every event keeps the full payload in ``raw`` (field sets differ between orgs and versions, and
dates follow the org's ``webhook_date_field_format``), and carries ``org_id`` (from the
``X-Tallyfy-orgID`` header) and a ``dedup_key``.

Keys are bounded (under 100 characters) whatever the sender puts in a payload: anyone who knows
the URL and one trusted org id can send deliveries, so the variable parts (ids, timestamps,
event names, the org) are hashed, never embedded (a de-dup store would otherwise hold
sender-sized strings). A payload that cannot be serialized back to JSON (a dict holding
non-JSON values, nesting deeper than 255 levels, integers beyond 64 bits) is refused with
``WebhookPayloadError``: it is not something Tallyfy sends, and it has no stable key.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Literal, TypedDict, cast

import orjson

__all__ = [
    "OrganizationEvent",
    "ProcessEvent",
    "TaskCompletedEvent",
    "WebhookEvent",
    "WebhookPayloadError",
    "WebhookPerson",
    "WebhookTask",
    "parse_webhook",
]


class WebhookPayloadError(ValueError):
    """The body is not a webhook payload we can read (not JSON, or not an object)."""


class WebhookPerson(TypedDict, total=False):
    id: int
    email: str
    full_name: str


class WebhookTask(TypedDict, total=False):
    """``this_task`` of a task-completed payload."""

    id: str
    title: str
    alias: str | None
    status: str
    summary: str | None
    deadline: str | None
    position: int
    completed_at: str | None
    completed_by: WebhookPerson
    captures: dict[str, dict[str, Any]]
    owners: dict[str, Any]
    assets: list[dict[str, Any]]


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _canonical(payload: Any) -> bytes:
    """The payload as canonical JSON (sorted keys), or ``WebhookPayloadError``."""
    try:
        return orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError as exc:
        raise WebhookPayloadError(
            "webhook payload cannot be serialized as JSON (non-JSON value, nesting too deep "
            "or an integer beyond 64 bits)"
        ) from exc


def _key(kind: str, org_id: str, *parts: Any) -> str:
    """``label:sha256`` of the org, the event kind and the parts that identify the event.

    Only our own fixed kinds appear in clear; an organization event's name comes from the
    sender, so it is hashed with the rest. Parts are JSON values of a parsed payload.
    """
    label = kind if kind in _FIXED_KINDS else "event"
    digest = hashlib.sha256(_canonical([org_id, kind, *parts])).hexdigest()
    return f"{label}:{digest}"


def _body_key(kind: str, org_id: str, raw: dict[str, Any]) -> str:
    return _key(kind, org_id, "body", hashlib.sha256(_canonical(raw)).hexdigest())


_FIXED_KINDS = frozenset({"process.launched", "process.completed", "task.completed"})


@dataclass(frozen=True, slots=True)
class ProcessEvent:
    """A template-level process webhook (launched or completed)."""

    kind: Literal["process.launched", "process.completed"]
    org_id: str
    process_id: str
    checklist_id: str | None
    checklist_title: str | None
    name: str | None
    status: str | None
    prerun: dict[str, Any]
    process_tasks: dict[str, str]
    ko_form_fields: dict[str, Any]
    guest_links: dict[str, Any]
    launcher: WebhookPerson
    raw: dict[str, Any] = field(repr=False)

    @property
    def dedup_key(self) -> str:
        stamp = self.raw.get("completed_at") or self.raw.get("started_at") or ""
        if not stamp:
            return _body_key(self.kind, self.org_id, self.raw)
        return _key(self.kind, self.org_id, self.process_id, stamp)


@dataclass(frozen=True, slots=True)
class TaskCompletedEvent:
    """A template- or step-level task-completed webhook."""

    kind: Literal["task.completed"]
    org_id: str
    task: WebhookTask
    process: dict[str, Any]
    template: dict[str, Any]
    launcher: WebhookPerson
    completer: WebhookPerson
    process_tasks: dict[str, str]
    form_fields: dict[str, Any]
    guest_links: dict[str, Any]
    next_task: dict[str, Any] | None
    raw: dict[str, Any] = field(repr=False)

    @property
    def task_id(self) -> str:
        return str(self.task.get("id", ""))

    @property
    def process_id(self) -> str | None:
        value = self.process.get("id")
        return None if value is None else str(value)

    @property
    def dedup_key(self) -> str:
        # complete → reopen → complete is a real second event with a new completed_at, so
        # it is processed again; the same delivery repeated has the same key.
        stamp = self.task.get("completed_at")
        if not self.task_id or not stamp:
            return _body_key(self.kind, self.org_id, self.raw)
        return _key(self.kind, self.org_id, self.task_id, stamp)


@dataclass(frozen=True, slots=True)
class OrganizationEvent:
    """An organization webhook (watcher) payload with an ``event`` name."""

    kind: str
    org_id: str
    event: str
    data: dict[str, Any]
    raw: dict[str, Any] = field(repr=False)

    @property
    def dedup_key(self) -> str:
        for key in ("id", "event_id", "uuid"):
            value = self.raw.get(key)
            if isinstance(value, (str, int)) and not isinstance(value, bool):
                return _key(self.event, self.org_id, value)
        return _body_key(self.event, self.org_id, self.raw)


WebhookEvent = ProcessEvent | TaskCompletedEvent | OrganizationEvent


def parse_webhook(body: bytes | str | dict[str, Any], org_id: str) -> WebhookEvent:
    """Turn one delivery into a typed event. ``org_id`` is the ``X-Tallyfy-orgID`` value.

    Raises ``WebhookPayloadError`` (and nothing else) for anything that is not a webhook
    payload we can read and key.
    """
    payload: Any
    if isinstance(body, dict):
        payload = body
    else:
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise WebhookPayloadError("webhook body is not JSON") from exc
    if not isinstance(payload, dict):
        raise WebhookPayloadError("webhook body must be a JSON object")
    # Before anything below calls str() on a payload value: this bounds the nesting (str() of
    # a 1,000-deep list raises RecursionError) and makes every dedup_key computable.
    _canonical(payload)
    if isinstance(payload.get("event"), str):
        event = payload["event"]
        data = payload.get("data")
        return OrganizationEvent(
            kind=event,
            org_id=org_id,
            event=event,
            data=data if isinstance(data, dict) else {},
            raw=payload,
        )
    if isinstance(payload.get("this_task"), dict):
        next_task = payload.get("next_task")
        return TaskCompletedEvent(
            kind="task.completed",
            org_id=org_id,
            task=cast(WebhookTask, payload["this_task"]),
            process=_dict(payload.get("process")),
            template=_dict(payload.get("template")),
            launcher=_person(payload.get("launcher")),
            completer=_person(payload.get("completer")),
            process_tasks=_dict(payload.get("process-tasks")),
            form_fields=_dict(payload.get("form-fields")),
            guest_links=_dict(payload.get("guest-links")),
            next_task=next_task if isinstance(next_task, dict) and next_task else None,
            raw=payload,
        )
    if "id" in payload and ("checklist_id" in payload or "process-tasks" in payload):
        status = str(payload.get("status") or "").lower()
        completed = bool(payload.get("completed_at")) or status in ("completed", "complete")
        return ProcessEvent(
            kind="process.completed" if completed else "process.launched",
            org_id=org_id,
            process_id=str(payload["id"]),
            checklist_id=_opt_str(payload.get("checklist_id")),
            checklist_title=_opt_str(payload.get("checklist_title")),
            name=_opt_str(payload.get("name")),
            status=_opt_str(payload.get("status")),
            prerun=_dict(payload.get("prerun")),
            process_tasks=_dict(payload.get("process-tasks")),
            ko_form_fields=_dict(payload.get("ko-form-fields")),
            guest_links=_dict(payload.get("guest-links")),
            launcher=_person(payload.get("launcher")),
            raw=payload,
        )
    raise WebhookPayloadError("not a Tallyfy webhook payload (no event, this_task or process id)")


def _person(value: Any) -> WebhookPerson:
    return cast(WebhookPerson, _dict(value))


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)
