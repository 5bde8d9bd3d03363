"""Blueprint automations (automated actions, "if-then rules"): ``client.automations``.

There is no GET route: a blueprint's rules come inlined in ``GET .../checklists/{id}`` as
``automated_actions`` (CLI ``ListAutomations``), which ``list`` reads.

The body (api-v2 ``AutomatedActionRequest`` / ``DoableActionValidator``, as quoted by the MCP
``automation`` tools; SDK ``AUTOMATION_FIELDS``): ``automated_alias`` (required, at most 300
characters), ``conditions`` and ``then_actions`` (required, non-empty). The PUT needs all
three again (SDK: "API requires full conditions + then_actions in PUT"). Each condition has
``conditionable_type`` ``Step``/``Capture``/``Prerun`` (case-sensitive), ``conditionable_id``,
``operation``, ``statement`` (the key must be present, ``null`` allowed) and ``logic``
``and``/``or``; each action has ``target_step_id`` and an ``action_type``/``action_verb`` pair
from a fixed table. There is no top-level ``condition_logic``: the API drops it silently, so
it is refused here.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from typing import Any

from .._design_types import Automation
from .._ids import segment
from .._validation import _local_error
from ._base import Resource
from ._blueprint_lifecycle import checklist_path

__all__ = ["ACTION_VERBS", "Automations", "check_rule"]

CONDITIONABLE_TYPES = frozenset({"Step", "Capture", "Prerun"})
STEP_OPERATIONS = frozenset(
    {"completed", "reopened", "approved", "rejected", "acknowledged", "expired", "not_assigned"}
)
FIELD_OPERATIONS = frozenset(
    {"contains", "not_contains", "equals", "not_equals", "equals_any", "greater_than",
     "less_than", "is_empty", "is_not_empty"}
)  # fmt: skip
ACTION_VERBS: dict[str, frozenset[str]] = {
    "visibility": frozenset({"show", "hide"}),
    "deadline": frozenset({"deadline"}),
    "status": frozenset({"reopen"}),
    "assignment": frozenset({"assign", "assign_only", "clear_assignees", "unassign"}),
    "webhook": frozenset({"emit_webhook"}),
}


def _objects(value: Any, field: str) -> Sequence[Mapping[str, Any]]:
    if not isinstance(value, (list, tuple)) or not value:
        raise _local_error(field, f"{field} must be a non-empty list")
    if any(not isinstance(v, Mapping) for v in value):
        raise _local_error(field, f"every entry of {field} must be an object")
    return value


def _check_condition(cond: Mapping[str, Any]) -> None:
    ctype = cond.get("conditionable_type")
    if ctype not in CONDITIONABLE_TYPES:
        raise _local_error(
            "conditions", f"conditionable_type must be one of {sorted(CONDITIONABLE_TYPES)}"
        )
    if not cond.get("conditionable_id"):
        raise _local_error("conditions", "every condition needs conditionable_id")
    allowed = STEP_OPERATIONS if ctype == "Step" else FIELD_OPERATIONS
    if cond.get("operation") not in allowed:
        raise _local_error("conditions", f"a {ctype} condition's operation must be one of "
                                         f"{sorted(allowed)}")  # fmt: skip
    if "statement" not in cond:
        raise _local_error("conditions", "every condition needs a 'statement' key (may be None)")
    if cond.get("logic") not in (None, "and", "or"):
        raise _local_error("conditions", "logic must be 'and' or 'or'")


def _check_action(action: Mapping[str, Any]) -> None:
    verbs = ACTION_VERBS.get(str(action.get("action_type")))
    if verbs is None:
        raise _local_error("then_actions", f"action_type must be one of {sorted(ACTION_VERBS)}")
    if action.get("action_verb") not in verbs:
        raise _local_error(
            "then_actions",
            f"action_type {action.get('action_type')!r} takes action_verb {sorted(verbs)}",
        )
    if not action.get("target_step_id"):
        raise _local_error("then_actions", "every action needs target_step_id")
    deadline = action.get("deadline")
    if action.get("action_type") == "deadline" and (
        not isinstance(deadline, Mapping)
        or any(deadline.get(k) in (None, "") for k in ("value", "unit", "option"))
    ):
        raise _local_error("then_actions", "a deadline action needs deadline {value, unit, option}")
    if (
        action.get("action_type") == "assignment"
        and action.get("action_verb") != ("clear_assignees")
        and not action.get("assignees")
    ):
        raise _local_error("then_actions", "an assignment action needs assignees")
    if action.get("action_type") == "webhook" and not (
        action.get("webhook_url") and action.get("alias_name")
    ):
        raise _local_error("then_actions", "a webhook action needs webhook_url and alias_name")


def check_rule(
    automated_alias: str,
    conditions: Sequence[Mapping[str, Any]],
    then_actions: Sequence[Mapping[str, Any]],
    extra: Mapping[str, Any],
) -> dict[str, Any]:
    """The body of an automation create/update, or ``InvalidArgument``."""
    if "condition_logic" in extra:
        raise _local_error(
            "condition_logic", "there is no top-level condition_logic (the API drops it); "
            "put logic='and'|'or' on each condition",
        )  # fmt: skip
    if not isinstance(automated_alias, str) or not automated_alias.strip():
        raise _local_error("automated_alias", "automated_alias is required")
    if len(automated_alias) > 300:
        raise _local_error("automated_alias", "automated_alias is at most 300 characters")
    for cond in _objects(conditions, "conditions"):
        _check_condition(cond)
    for action in _objects(then_actions, "then_actions"):
        _check_action(action)
    return {
        "automated_alias": automated_alias,
        "conditions": [dict(c) for c in conditions],
        "then_actions": [dict(a) for a in then_actions],
        **extra,
    }


class Automations(Resource):
    __slots__ = ()

    async def list(self, org_id: str, checklist_id: str) -> builtins.list[Automation]:
        """The blueprint's rules, read off ``GET .../checklists/{id}`` (no list route)."""
        path = checklist_path(org_id, checklist_id)
        blueprint = await self._get_item(path, org_id=org_id, item_type=object)
        rules = blueprint.get("automated_actions") if isinstance(blueprint, dict) else None
        return builtins.list(rules or [])

    async def create(
        self,
        org_id: str,
        checklist_id: str,
        *,
        automated_alias: str,
        conditions: Sequence[Mapping[str, Any]],
        then_actions: Sequence[Mapping[str, Any]],
        **fields: Any,
    ) -> Automation:
        """Add a rule (``POST .../automated-actions``). Sent once."""
        body = check_rule(automated_alias, conditions, then_actions, fields)
        path = f"{checklist_path(org_id, checklist_id)}/automated-actions"
        return await self._write_item("POST", path, org_id=org_id, json=body, item_type=Automation)

    async def update(
        self,
        org_id: str,
        checklist_id: str,
        automation_id: str,
        *,
        automated_alias: str,
        conditions: Sequence[Mapping[str, Any]],
        then_actions: Sequence[Mapping[str, Any]],
        **fields: Any,
    ) -> Automation:
        """Replace a rule (``PUT .../automated-actions/{id}``; the API wants the whole rule).
        Sets values: retried like a read."""
        body = check_rule(automated_alias, conditions, then_actions, fields)
        path = (
            f"{checklist_path(org_id, checklist_id)}/automated-actions/"
            f"{segment(automation_id, name='automation_id')}"
        )
        return await self._write_item(
            "PUT", path, org_id=org_id, json=body, idempotent=True, item_type=Automation
        )

    async def delete(self, org_id: str, checklist_id: str, automation_id: str) -> None:
        """Remove a rule (``DELETE .../automated-actions/{id}``). Not re-sent after a lost
        answer (a repeat of an applied delete answers 404)."""
        path = (
            f"{checklist_path(org_id, checklist_id)}/automated-actions/"
            f"{segment(automation_id, name='automation_id')}"
        )
        await self._core.request("DELETE", path, org_id=org_id, idempotent=False)
