"""Typed views of Tallyfy's objects.

Items stay the plain ``dict``s the server sent (every field kept, unknown ones included); these
``TypedDict``s only tell the type checker and the reader which fields to expect. Field lists
follow the public sources in ``shared/reference/tallyfy-api.md`` §5.
"""

from __future__ import annotations

from typing import Any, TypedDict

__all__ = ["CompletedTask", "Me", "Organization", "Task", "TaskOwners"]


class Me(TypedDict, total=False):
    id: int
    email: str
    username: str
    first_name: str
    last_name: str
    full_name: str
    timezone: str


class Organization(TypedDict, total=False):
    id: str
    name: str
    slug: str
    description: str | None
    industry: str | None
    created_on: str
    last_updated: str
    users_count: int
    user_role: str
    user_status: str
    joined_on: str
    last_accessed: str
    settings: Any


class TaskOwners(TypedDict, total=False):
    users: list[Any]
    guests: list[str]
    groups: list[str]


class Task(TypedDict, total=False):
    id: str
    increment_id: int
    title: str
    original_title: str
    alias: str | None
    run_id: str | None
    checklist_id: str | None
    step_id: str | None
    status: str
    status_label: str
    task_type: str
    is_oneoff_task: bool
    owners: TaskOwners
    deadline: str | None
    started_at: str | None
    created_at: str
    last_updated: str
    completed_at: str | None
    archived_at: str | None
    position: int
    starter_id: int | None
    completer_id: int | None
    is_completable: bool
    is_approved: bool | None
    everyone_must_complete: bool
    can_complete_only_assignees: bool
    max_assignable: int
    taskdata: dict[str, Any]
    webhook: str | None
    top_secret: bool
    summary: str
    # Added by aiotallyfy's exports, not by Tallyfy.
    organization_id: str


class CompletedTask(TypedDict, total=False):
    id: str
    title: str
    status: str
    completed_at: str | None
    completer_id: int | None
    is_approved: bool | None
    tasks_changed_by_rules: dict[str, Any]
