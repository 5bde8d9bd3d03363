"""Typed views of the blueprint-design and run-extra objects (captures, automations, tag
associations, activity feed entries, a run's form fields).

Like ``_types``, these only name the fields the sources show; items stay the plain dicts the
server sent. Kept apart from ``_types`` so each area's shapes live next to each other.
"""

from __future__ import annotations

from typing import Any, TypedDict

from ._types import FormFieldBase

__all__ = ["Activity", "Automation", "Capture", "RunFormFields", "TagAssociation"]


class Capture(FormFieldBase, total=False):
    """A step form field (``capture``). Sources: SDK ``FORM_FIELD_FIELDS``; MCP form tools."""

    step_id: str


class Automation(TypedDict, total=False):
    """An automated action (if-then rule) of a blueprint. Sources: SDK ``AUTOMATION_FIELDS``;
    MCP ``automation`` (api-v2 ``AutomatedActionRequest``)."""

    id: str
    automated_alias: str
    conditions: list[dict[str, Any]]
    then_actions: list[dict[str, Any]]
    created_at: str


class TagAssociation(TypedDict, total=False):
    """A tag attached to a blueprint or a process; ``id`` is the numeric pivot id."""

    id: int
    tag_id: str
    subject_id: str
    subject_type: str
    tag_type: str


class Activity(TypedDict, total=False):
    """One activity-feed entry (DOCS *processes/get-process-activity*): most values are
    arrays (``verb: ["completed"]``)."""

    id: int
    organization_id: str
    verb: list[str]
    source: list[str]
    actor_type: list[str]
    actor_id: list[int]
    auditable_type: str
    auditable_id: str
    parentable_type: str | None
    parentable_id: str | None
    type: list[str]
    description: list[str]
    field: Any
    old_value: Any
    created_at: str
    text: Any


class RunFormFields(TypedDict, total=False):
    """``GET .../runs/{run}/form-fields``: one object, not a list (N8N live test reads
    ``data.form_fields[0].id``; SDK tallyfy/sdk#50 for the checklist twin)."""

    id: str
    title: str
    form_fields: list[dict[str, Any]]
    ko_form_fields: list[dict[str, Any]]
