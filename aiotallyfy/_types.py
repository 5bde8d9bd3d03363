"""Typed views of Tallyfy's objects.

Items stay the plain ``dict``s the server sent (every field kept, unknown ones included); these
``TypedDict``s only tell the type checker and the reader which fields to expect. Field lists
follow the public sources in ``shared/reference/tallyfy-api.md`` §5.
"""

from __future__ import annotations

from typing import Any, TypedDict

__all__ = [
    "Blueprint",
    "BlueprintFormFields",
    "Comment",
    "CompletedTask",
    "Folder",
    "FolderObject",
    "FormField",
    "Group",
    "Guest",
    "KickoffField",
    "Me",
    "Organization",
    "Run",
    "RunProgress",
    "Step",
    "Tag",
    "Task",
    "TaskOwners",
    "User",
]


class _Person(TypedDict, total=False):
    """The identity fields Tallyfy's user object has wherever it appears (``Me``, ``User``)."""

    id: int
    email: str
    username: str
    first_name: str
    last_name: str
    full_name: str


class Me(_Person, total=False):
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


# -- processes, blueprints, people, comments (issue 5) ---------------------------------------
class RunProgress(TypedDict, total=False):
    complete: int
    total: int
    percent: float


class Run(TypedDict, total=False):
    """A process (``run``). ``prerun`` is keyed by kick-off field timeline id."""

    id: str
    increment_id: int
    checklist_id: str
    checklist_title: str
    name: str
    summary: str | None
    status: str
    progress: RunProgress
    whole_progress: Any
    started_by: int
    owner_id: int
    prerun: dict[str, Any]
    prerun_status: str | None
    starred: bool
    type: str
    is_public: bool
    parent_id: str | None
    collaborators: list[int]
    created_at: str
    started_at: str
    last_updated: str
    completed_at: str | None
    archived_at: str | None
    due_date: str | None
    tags: Any


class FormFieldBase(TypedDict, total=False):
    """The fields a kick-off field (``KickoffField``) and a step's form field (``Capture``)
    share: both are form fields, told apart by what they hang on (a blueprint, a step)."""

    id: str
    alias: str | None
    label: str
    field_type: str
    guidance: str | None
    position: int
    required: bool
    options: list[dict[str, Any]]
    columns: list[dict[str, Any]]


class KickoffField(FormFieldBase, total=False):
    """A blueprint's kick-off (``prerun``) field; ``id`` is the timeline id, the launch key."""

    checklist_id: str


class Step(TypedDict, total=False):
    id: str
    checklist_id: str
    alias: str | None
    title: str
    summary: str | None
    position: int
    task_type: str
    deadline: Any
    webhook: str | None


class FormField(TypedDict, total=False):
    id: str
    label: str
    field_type: str
    value: Any
    required: bool
    step_id: str | None


class BlueprintFormFields(TypedDict):
    """``GET .../checklists/{id}/form-fields``: one object (tallyfy/sdk#50)."""

    id: str
    title: str
    form_fields: list[FormField]
    ko_form_fields: list[KickoffField]


class Blueprint(TypedDict, total=False):
    """A blueprint/template (``checklist``)."""

    id: str
    title: str
    summary: str | None
    type: str
    status: str
    starred: bool
    owner_id: int
    created_by: int
    steps_count: int
    alias: str | None
    folder_id: str | None
    webhook: str | None
    is_public: bool
    created_at: str
    last_updated: str
    archived_at: str | None
    prerun: list[KickoffField]
    automated_actions: list[Any]
    steps: Any  # with=steps: {"data": [Step, ...]}
    tags: Any


class User(_Person, total=False):
    profile_pic: str | None
    role: str
    status: str
    timezone: str
    last_login_at: str | None
    created_at: str


class Guest(TypedDict, total=False):
    id: int
    email: str
    first_name: str | None
    last_name: str | None
    status: str
    details: dict[str, Any]
    link: str | None
    created_at: str


class Group(TypedDict, total=False):
    id: str
    name: str
    description: str | None
    logo: str | None
    members: list[int]
    guests: list[str]
    created_at: str
    last_updated: str


class Tag(TypedDict, total=False):
    id: str
    title: str
    color: str
    auto_generated: bool
    created_at: str
    deleted_at: str | None


class Folder(TypedDict, total=False):
    id: str
    name: str
    parent_id: str | None
    created_at: str
    last_updated: str


class FolderObject(TypedDict, total=False):
    """A ``folders/add-object`` relation: delete it to take the object out of the folder."""

    id: str
    folder_id: str
    subject_id: str
    subject_type: str


class Comment(TypedDict, total=False):
    """A task thread entry: a comment, or a problem/resolve/improvement/advice."""

    id: str
    content: str
    author_id: int | None
    author_type: str
    task_id: str
    label: str
    state: str
    created_at: str
    updated_at: str
    archived_at: str | None
    resolve_id: str | None
    sent_to: list[Any]
