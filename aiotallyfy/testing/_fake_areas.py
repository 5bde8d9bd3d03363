"""The resource areas FakeTallyfy serves beyond identity and task reads (issue 5).

``FakeTallyfy`` registers ``AREA_REGISTRARS`` by default, after its core routes. Importing this
module also installs the ``threads`` task include and the task-completed webhook hook.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

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
from ._fake_server import TASK_COMPLETED_HOOKS, TASK_INCLUDES, Router
from ._fake_steps import register_step_routes
from ._fake_task_writes import register_task_write_routes
from ._fake_watchers import register_watcher_routes
from ._fake_webhooks import task_completed_hook

__all__ = ["AREA_REGISTRARS"]

AREA_REGISTRARS: Final[tuple[Callable[[Router], None], ...]] = (
    register_run_routes,
    register_blueprint_routes,
    register_task_write_routes,
    register_people_routes,
    register_org_object_routes,
    register_comment_routes,
    register_search_routes,
    # issue 10 part 3a: blueprint design, run extras
    register_blueprint_design_routes,
    register_step_routes,
    register_run_extra_routes,
    register_file_routes,
    register_member_routes,
    register_watcher_routes,
    register_misc_routes,
)

TASK_INCLUDES.setdefault("threads", threads_include)
if task_completed_hook not in TASK_COMPLETED_HOOKS:
    TASK_COMPLETED_HOOKS.append(task_completed_hook)
