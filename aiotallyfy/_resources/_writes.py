"""Small helpers the write methods of the resource namespaces share."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from .._ids import segment
from .._validation import format_datetime

__all__ = ["body_of", "org_path", "run_path", "task_path", "with_param"]


def org_path(org_id: str) -> str:
    """``/organizations/{org}`` with the org id checked and encoded."""
    return f"/organizations/{segment(org_id, name='org_id')}"


def run_path(org_id: str, run_id: str) -> str:
    """``/organizations/{org}/runs/{run}``, both ids checked and encoded (org first)."""
    return f"{org_path(org_id)}/runs/{segment(run_id, name='run_id')}"


def task_path(org_id: str, task_id: str) -> str:
    """``/organizations/{org}/tasks/{task}``: the org route, which serves one-off and process
    tasks alike (comments hang off it too)."""
    return f"{org_path(org_id)}/tasks/{segment(task_id, name='task_id')}"


def with_param(with_: str | list[str] | tuple[str, ...] | None) -> dict[str, Any] | None:
    """``?with=a,b`` (Tallyfy takes includes comma-separated)."""
    if not with_:
        return None
    return {"with": with_ if isinstance(with_, str) else ",".join(with_)}


_DATE_FIELDS = frozenset({"deadline", "started_at", "due_date"})


def body_of(fields: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON body: ``None`` values left out (the API would store them as nulls), dates in the
    request format."""
    out: dict[str, Any] = {}
    for key, value in fields.items():
        if value is None:
            continue
        if key in _DATE_FIELDS and isinstance(value, (datetime, date, str)):
            value = format_datetime(value, field=key)
        out[key] = value
    return out
