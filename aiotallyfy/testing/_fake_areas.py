"""The areas a default ``FakeTallyfy`` serves: ``DEFAULT_AREAS``, core first.

Each :class:`FakeArea` carries its routes, task includes and task-completed hooks; a fake wires
the areas it is given into its own router (``FakeTallyfy(areas=...)``). Nothing here mutates
another module: importing this module has no effect beyond defining the tuple.
"""

from __future__ import annotations

from typing import Final

from ._core_routes import CORE_AREAS
from ._fake_blueprint_design import register_blueprint_design_routes
from ._fake_blueprints import register_blueprint_routes
from ._fake_comments import register_comment_routes, threads_include
from ._fake_files import register_file_routes
from ._fake_members import register_member_routes
from ._fake_misc import register_misc_routes
from ._fake_org_objects import register_org_object_routes
from ._fake_people import register_people_routes
from ._fake_run_extras import register_run_extra_routes
from ._fake_runs import register_run_routes
from ._fake_search import register_search_routes
from ._fake_steps import register_step_routes
from ._fake_task_writes import register_task_write_routes
from ._fake_watchers import register_watcher_routes
from ._fake_webhooks import task_completed_hook
from ._router import FakeArea

__all__ = ["DEFAULT_AREAS", "RESOURCE_AREAS"]

RESOURCE_AREAS: Final[tuple[FakeArea, ...]] = (
    FakeArea("runs", register_run_routes),
    FakeArea("blueprints", register_blueprint_routes),
    FakeArea("task_writes", register_task_write_routes),
    FakeArea("people", register_people_routes),
    FakeArea("org_objects", register_org_object_routes),
    FakeArea("comments", register_comment_routes, task_includes={"threads": threads_include}),
    FakeArea("search", register_search_routes),
    FakeArea("blueprint_design", register_blueprint_design_routes),
    FakeArea("steps", register_step_routes),
    FakeArea("run_extras", register_run_extra_routes),
    FakeArea("files", register_file_routes),
    FakeArea("members", register_member_routes),
    FakeArea("watchers", register_watcher_routes),
    FakeArea("misc", register_misc_routes),
    FakeArea("webhooks", task_completed_hooks=(task_completed_hook,)),
)
"""Every resource area beyond identity and task reads (issues 5 and 10)."""

DEFAULT_AREAS: Final[tuple[FakeArea, ...]] = (*CORE_AREAS, *RESOURCE_AREAS)
"""What ``FakeTallyfy()`` serves unless told otherwise."""
