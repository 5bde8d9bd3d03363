"""Route templates: ``/organizations/3f9c…/runs/ab12…/tasks/77e0…`` →
``/organizations/{org}/runs/{run}/tasks/{task}``.

Telemetry needs the route, not the path: a path holds ids and guest e-mails, which are
unbounded in number (a metric series each) and personal data. The template is derived from
the path here, in one place, rather than passed by every resource: the resources build ~90
paths in ~25 modules, and one function over a fixed vocabulary covers them all, including
paths given to ``client.request``.

The rule is deny-by-default: a segment is kept only if it is one of the literal words of
Tallyfy's routes (``_LITERALS``, the words of every route ``FakeTallyfy`` serves, which follow
Tallyfy's sources; ``tests/test_routes.py`` checks the two against each other). Anything else
(an id, an encoded e-mail, a word we do not know) becomes a placeholder, named after the
collection before it (``runs/x`` → ``runs/{run}``) or ``{id}``. So an id never reaches a
template, and the number of templates is bounded by the vocabulary.
"""

from __future__ import annotations

__all__ = ["route_template"]

# The literal words of Tallyfy's API paths (FakeTallyfy's route table, plus the application
# context routes: ``/applications/{org}/users/{email}/token``, SDK and docs).
_LITERALS = frozenset(
    {
        "activate", "activity-feeds", "add-object", "add-watcher", "applications", "approve",
        "assets", "automated-actions", "bot-comment", "captures", "checklists", "clone",
        "comment", "complete-prerun", "completed-tasks", "custom-field-keys", "delete",
        "disable", "dl", "enable", "export", "file", "folders", "folders-objects", "form-field",
        "form-fields", "groups", "guest", "guests", "guests-list", "health", "invite", "me",
        "member", "move-out", "organizations", "preruns", "problem", "publish",
        "remove-watcher", "reorder", "resolved-threads", "restore", "role", "runs", "search",
        "steps", "tags", "tasks", "to", "token", "users", "users-list", "value", "watchers",
    }
)  # fmt: skip

# Collection → the placeholder for the id that follows it (FakeTallyfy's parameter names).
_PLACEHOLDERS: dict[str, str] = {
    "organizations": "{org}",
    "applications": "{org}",
    "assets": "{asset}",
    "automated-actions": "{automation}",
    "captures": "{capture}",
    "checklists": "{checklist}",
    "comment": "{comment}",
    "completed-tasks": "{task}",
    "file": "{file}",
    "folders": "{folder}",
    "folders-objects": "{relation}",
    "groups": "{group}",
    "guests": "{guest}",
    "preruns": "{field}",
    "remove-watcher": "{watcher}",
    "runs": "{run}",
    "steps": "{step}",
    "tags": "{association}",  # only ``/checklists/tags/{association}`` has an id after it...
    "tasks": "{task}",
    "users": "{user}",
}
# ...except directly under an organization, where ``/tags/{tag}`` is a tag.
_TOP_LEVEL: dict[str, str] = {"tags": "{tag}"}

_CACHE_LIMIT = 4096
_cache: dict[str, str] = {}


def route_template(path: str) -> str:
    """The template of ``path`` (query string dropped); ids and e-mails become placeholders."""
    cached = _cache.get(path)
    if cached is not None:
        return cached
    template = _derive(path)
    if len(_cache) >= _CACHE_LIMIT:
        _cache.clear()  # paths carry ids: the cache must not grow with them
    _cache[path] = template
    return template


def _derive(path: str) -> str:
    bare = path.split("?", 1)[0].split("#", 1)[0]
    out: list[str] = []
    previous = ""
    for segment in bare.split("/"):
        if not segment:
            continue
        if segment in _LITERALS:
            out.append(segment)
        else:
            top_level = len(out) == 3 and out[0] == "organizations"
            name = _TOP_LEVEL.get(previous) if top_level else None
            out.append(name or _PLACEHOLDERS.get(previous) or "{id}")
        previous = segment
    return "/" + "/".join(out)
