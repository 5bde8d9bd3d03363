"""Differential test against Tallyfy's official Python SDK (``tallyfy`` 3.1.0, issue 10 part 2).

For every operation both clients cover, the same operation is run through the SDK and through
``TallyfyClient`` against ONE recording ``FakeTallyfy``, and what reached the server is compared:
method, path (ids replaced by the name of what they are), query keys, and the body's keys and
JSON value types (nested objects and list items included; a form-encoded body is marked as
such; a multipart upload, which the fake streams to disk without recording, is compared by
the form fields of the asset it stored). The SDK is synchronous (``requests``): its calls
run in a worker thread (``asyncio.to_thread``) while the fake serves on the test's event
loop. Everything stays on 127.0.0.1: a guard refuses any socket connection elsewhere for
the whole test.

Every difference is either fixed (client, or the fake when the fake was wrong: the fake follows
Tallyfy's sources, never our client) or listed ONCE in ``KNOWN_DIFFERENCES`` with its source.
The test asserts that table is exact: a new difference fails, and so does a row that no longer
differs. The SDK's own known bugs stay listed, never copied.

The SDK is also run as a client of the fake in its own right: any answer >= 400 to an SDK
request is a difference too, so a route we serve cannot refuse (404/405/422) a request the real
server accepts without it being listed here with the source saying the real server refuses it.

Not compared: ``page``/``per_page`` (the SDK asks for one page, we walk every page at 100, by
design), header values (the SDK sends ``X-Tallyfy-Client: TallyfySDK``; Tallyfy requires
``APIClient``, so, like ``benchmarks/_contenders.py``, that one header is set on the SDK's
session), and response parsing.
"""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import socket
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import orjson
import pytest
from tallyfy import TallyfySDK
from tallyfy.models import PaginationMeta, TallyfyError

from aiotallyfy import RateLimit, TallyfyClient
from aiotallyfy.testing import FakeTallyfy, RecordedRequest
from aiotallyfy.testing._fake_data import COMPLETED
from aiotallyfy.testing._fake_files import fake_files
from aiotallyfy.testing._fake_store import Area, area_of, guest_code_of

Ctx = dict[str, Any]
IGNORED_QUERY_KEYS = frozenset({"page", "per_page"})
MULTIPART_AS_STORED = "multipart/form-data; as stored"
DEADLINE = "2026-03-01 12:00:00"


# ---------------------------------------------------------------------------- loopback guard
@pytest.fixture
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Refuse every name lookup and socket connection that is not for a loopback address (both
    clients, both threads); returns the list of refused hosts, which each test asserts is
    empty (the refusal itself would also fail the call that tried)."""
    refused: list[str] = []
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def check(host: Any) -> None:
        text = host.decode() if isinstance(host, bytes) else str(host)
        try:
            loopback = ipaddress.ip_address(text.split("%")[0]).is_loopback
        except ValueError:
            loopback = text == "localhost"
        if not loopback:
            refused.append(text)
            raise ConnectionRefusedError(f"test guard: {text} is not loopback")

    def connect(self: socket.socket, address: Any) -> None:
        if isinstance(address, tuple):  # not AF_UNIX
            check(address[0])
        real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        if isinstance(address, tuple):
            check(address[0])
        return real_connect_ex(self, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host is not None:
            check(host)
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return refused


def official_sdk(fake: FakeTallyfy, *, shim: bool = True) -> TallyfySDK:
    """The SDK pointed at the fake (``root_url``: the SDK's base has no ``/api``), no retries,
    proxies from the environment ignored (as aiohttp does by default), and, with ``shim``, the
    header value Tallyfy requires (as ``benchmarks/_contenders.py`` does)."""
    sdk = TallyfySDK(api_key=fake.token, base_url=fake.root_url, max_retries=0)
    sdk.session.trust_env = False
    if shim:
        sdk.session.headers["X-Tallyfy-Client"] = "APIClient"
    return sdk


# ---------------------------------------------------------------------------- the harness
@dataclass
class Env:
    """What setups need: the fake, our client (setup requests are not compared), the org."""

    fake: FakeTallyfy
    client: TallyfyClient
    org: str
    _used_tasks: set[str]
    tmp: Path

    @property
    def area(self) -> Area:
        return area_of(self.fake, self.org)

    def run_task(self, *, completed: bool = False) -> tuple[str, str]:
        """A process task not handed out before: ``(run_id, task_id)``."""
        st = self.fake.data.org_state(self.org)
        assert st is not None
        for i in range(st.task_count):
            tid = st.ids[i]
            if st.run[i] < 0 or tid in self._used_tasks:
                continue
            if (st.status[i] == COMPLETED) != completed:
                continue
            self._used_tasks.add(tid)
            return str(st.runs[st.run[i]]["id"]), tid
        raise AssertionError("the fake ran out of process tasks; seed more")

    async def oneoff(self) -> str:
        task = await self.client.tasks.create(
            self.org, title="Differential", owners={"users": [self.fake.data.me_id]},
            deadline=DEADLINE,
        )  # fmt: skip
        return str(task["id"])


Setup = Callable[[Env], Awaitable[Ctx]]
SdkCall = Callable[[TallyfySDK, Ctx], object]
OurCall = Callable[[TallyfyClient, Ctx], Awaitable[object]]


@dataclass(frozen=True)
class Op:
    """One operation both clients cover. ``setup`` runs once per side, so each side acts on
    objects of its own (a delete never meets the other side's delete)."""

    name: str
    sdk: SdkCall
    ours: OurCall
    setup: Setup


def shape(value: Any, ctx: Ctx, prefix: str = "") -> dict[str, str]:
    """Key path -> JSON type of every value in a body. Keys that are ids from ``ctx`` (e.g.
    ``prerun`` keyed by timeline id) are shown by name; list items as ``key[]``."""
    names = {str(v): k for k, v in ctx.items()}
    out: dict[str, str] = {}
    if isinstance(value, dict):
        if prefix:
            out[prefix] = "object"
        for key, item in value.items():
            label = f"{{{names[key]}}}" if key in names else key
            out.update(shape(item, ctx, f"{prefix}.{label}" if prefix else label))
        return out
    if isinstance(value, list):
        out[prefix] = "array"
        for item in value:
            for key, kind in shape(item, ctx, f"{prefix}[]").items():
                kinds = set(out.get(key, "").split("|")) - {""}
                out[key] = "|".join(sorted(kinds | {kind}))
        return out
    kind = {bool: "boolean", int: "integer", float: "number", str: "string"}.get(
        type(value), "null" if value is None else type(value).__name__
    )
    return {prefix: kind}


@dataclass(frozen=True)
class Sig:
    method: str
    path: str
    query: frozenset[str]
    body: tuple[tuple[str, str], ...]


def signature(r: RecordedRequest, ctx: Ctx) -> Sig:
    names = {str(v): k for k, v in ctx.items()}
    path = "/".join(f"{{{names[s]}}}" if s in names else s for s in r.path.split("/"))
    query = frozenset(k for k in r.query if k not in IGNORED_QUERY_KEYS)
    body: dict[str, str] = {}
    if r.body:
        kind = r.headers.get("Content-Type", "")
        if kind.startswith("application/x-www-form-urlencoded"):
            body = {"(form-encoded)": "", **{k: "string" for k, _ in parse_qsl(r.body.decode())}}
        elif kind.startswith(MULTIPART_AS_STORED):
            body = {"(multipart)": "", **shape(r.json(), ctx)}
        else:
            body = shape(r.json(), ctx)
    return Sig(r.method, path, query, tuple(sorted(body.items())))


def differences(
    sdk: list[RecordedRequest], ours: list[RecordedRequest], sdk_ctx: Ctx, our_ctx: Ctx,
    sdk_error: BaseException | None,
) -> set[str]:  # fmt: skip
    """What differs between the two sides' requests, as short sentences."""
    found: set[str] = set()
    for r in sdk:
        if r.status is None or r.status >= 400:
            found.add(f"fake answers SDK {r.status}: {signature(r, sdk_ctx).method} "
                      f"{signature(r, sdk_ctx).path}")  # fmt: skip
    if sdk_error is not None and not any(r.status is None or r.status >= 400 for r in sdk):
        found.add(f"SDK raised {type(sdk_error).__name__}")
    mine = _by_route([signature(r, our_ctx) for r in ours])
    theirs = _by_route([signature(r, sdk_ctx) for r in sdk])
    for route in theirs.keys() - mine.keys():
        found.add(f"only SDK sends {route[0]} {route[1]}")
    for route in mine.keys() - theirs.keys():
        found.add(f"only ours sends {route[0]} {route[1]}")
    for route in theirs.keys() & mine.keys():
        a, b = theirs[route], mine[route]
        where = f"{route[0]} {route[1]}"
        for key in sorted(a.query - b.query):
            found.add(f"{where}: only SDK sends query {key}")
        for key in sorted(b.query - a.query):
            found.add(f"{where}: only ours sends query {key}")
        ab, bb = dict(a.body), dict(b.body)
        for key in sorted(ab.keys() - bb.keys()):
            found.add(f"{where}: only SDK sends body {key}")
        for key in sorted(bb.keys() - ab.keys()):
            found.add(f"{where}: only ours sends body {key}")
        for key in sorted(ab.keys() & bb.keys()):
            if ab[key] != bb[key]:
                found.add(f"{where}: body {key} is {ab[key]} (SDK), {bb[key]} (ours)")
    return found


def _by_route(sigs: list[Sig]) -> dict[tuple[str, str], Sig]:
    """The first request per (method, path): repeats are pages of the same list."""
    out: dict[tuple[str, str], Sig] = {}
    for s in sigs:
        out.setdefault((s.method, s.path), s)
    return out


# ---------------------------------------------------------------------------- setups
async def base(env: Env) -> Ctx:
    """The seeded objects every side may share (reads, and writes that leave them usable)."""
    st = env.fake.data.org_state(env.org)
    assert st is not None
    checklist = str(st.checklists[0]["id"])
    steps = env.area.steps[checklist]
    guest = next(iter(env.area.guests.values()))
    return {
        "org": env.org,
        "me": env.fake.data.me_id,
        "checklist": checklist,
        "step": steps[0]["id"],
        "step2": steps[1]["id"],
        "capture": steps[0]["captures"][0]["id"],
        "run": str(st.runs[0]["id"]),
        "guest": guest["email"],
        "guest_code": guest_code_of(guest),
        "group": next(iter(env.area.groups)),
        "tag": next(iter(env.area.tags)),
        "folder": next(iter(env.area.folders)),
    }


async def run_task(env: Env) -> Ctx:
    run, task = env.run_task()
    return {**await base(env), "run": run, "task": task}


async def completed_run_task(env: Env) -> Ctx:
    run, task = env.run_task(completed=True)
    return {**await base(env), "run": run, "task": task}


async def oneoff(env: Env) -> Ctx:
    return {**await base(env), "task": await env.oneoff()}


async def completed_oneoff(env: Env) -> Ctx:
    ctx = await oneoff(env)
    await env.client.tasks.complete(env.org, ctx["task"])
    return ctx


async def commented(env: Env) -> Ctx:
    ctx = await oneoff(env)
    return {**ctx, "comment": env.area.add_comments(ctx["task"], 1)[0]["id"]}


async def problem(env: Env) -> Ctx:
    ctx = await oneoff(env)
    issue = await env.client.comments.report_problem(env.org, ctx["task"], "Blocked")
    return {**ctx, "thread": issue["id"]}


async def fresh_run(env: Env) -> Ctx:
    """A process of its own, its kick-off form filled in (so it can be completed)."""
    ctx = await base(env)
    run = env.area.add_runs(1, ctx["checklist"])[0]
    run["prerun"] = {field["id"]: "Kim" for field in env.area.prerun[ctx["checklist"]]}
    return {**ctx, "run": run["id"]}


async def archived_run(env: Env) -> Ctx:
    ctx = await fresh_run(env)
    await env.client.runs.archive(env.org, ctx["run"])
    return ctx


async def kickoff_done(env: Env) -> Ctx:
    ctx = await fresh_run(env)
    await env.client.runs.complete_kickoff(env.org, ctx["run"])
    return ctx


async def fresh_checklist(env: Env) -> Ctx:
    checklist = env.area.add_checklists(1, steps=3)[0]["id"]
    steps = env.area.steps[checklist]
    return {
        **await base(env), "checklist": checklist, "step": steps[0]["id"],
        "step2": steps[1]["id"], "capture": steps[0]["captures"][0]["id"],
        "kickoff": env.area.prerun[checklist][0]["id"],
    }  # fmt: skip


async def automation(env: Env) -> Ctx:
    ctx = await fresh_checklist(env)
    rule = await env.client.automations.create(
        env.org, ctx["checklist"], automated_alias="Rule", conditions=conditions(ctx),
        then_actions=actions(ctx),
    )  # fmt: skip
    return {**ctx, "rule": rule["id"]}


def conditions(ctx: Ctx) -> list[dict[str, Any]]:
    return [{"conditionable_type": "Step", "conditionable_id": ctx["step"],
             "operation": "completed", "statement": "any_time", "logic": "and"}]  # fmt: skip


def actions(ctx: Ctx) -> list[dict[str, Any]]:
    return [{"action_type": "status", "action_verb": "reopen", "target_step_id": ctx["step2"]}]


async def fresh_member(env: Env) -> Ctx:
    return {**await base(env), "user": env.area.add_members(1)[0]["id"]}


async def disabled_member(env: Env) -> Ctx:
    ctx = await fresh_member(env)
    await env.client.users.disable(env.org, ctx["user"])
    return ctx


async def fresh_guest(env: Env) -> Ctx:
    guest = env.area.add_guests(1)[0]
    return {**await base(env), "guest": guest["email"], "guest_code": guest_code_of(guest)}


async def disabled_guest(env: Env) -> Ctx:
    ctx = await fresh_guest(env)
    await env.client.guests.disable(env.org, ctx["guest"])
    return ctx


async def new_guest_email(env: Env) -> Ctx:
    n = len(env.area.guests)
    return {**await base(env), "email": f"new.guest{n}@example.org"}


async def fresh_group(env: Env) -> Ctx:
    return {**await base(env), "group": env.area.add_groups(1)[0]["id"]}


async def fresh_tag(env: Env) -> Ctx:
    return {**await base(env), "tag": env.area.add_tags(1)[0]["id"]}


async def new_tag_title(env: Env) -> Ctx:
    """Tag titles are unique in an org (the fake answers 422 to a second "urgent")."""
    return {**await base(env), "title": f"urgent-{len(env.area.tags)}"}


async def fresh_folder(env: Env) -> Ctx:
    return {**await base(env), "folder": env.area.add_folders(1)[0]["id"]}


async def run_folder(env: Env) -> Ctx:
    ctx = await fresh_run(env)
    return {**ctx, "folder": env.area.add_folders(1, folder_type="run")[0]["id"]}


async def filed_run(env: Env) -> Ctx:
    ctx = await run_folder(env)
    relation = await env.client.folders.add_object(env.org, ctx["folder"], ctx["run"], "Run")
    return {**ctx, "relation": relation["id"]}


async def tagged_checklist(env: Env) -> Ctx:
    ctx = await fresh_checklist(env)
    assoc = await env.client.tag_associations.add(
        env.org, ctx["tag"], ctx["checklist"], "Checklist"
    )
    return {**ctx, "association": assoc["id"]}


async def tagged_run(env: Env) -> Ctx:
    ctx = await fresh_run(env)
    assoc = await env.client.tag_associations.add(env.org, ctx["tag"], ctx["run"], "Run")
    return {**ctx, "association": assoc["id"]}


async def archived_checklist(env: Env) -> Ctx:
    ctx = await fresh_checklist(env)
    await env.client.blueprints.archive(env.org, ctx["checklist"])
    return ctx


async def uploaded(env: Env) -> Ctx:
    """A file stored on a blueprint's kick-off field, and a path to download it to."""
    ctx = await base(env)
    asset = await env.client.files.upload(
        env.org, b"differential", uploaded_from="ko_field", subject_type="Checklist",
        subject_id=ctx["checklist"], filename="notes.txt",
    )  # fmt: skip
    return {**ctx, "file": asset["id"], "dest": env.tmp / f"{asset['id']}.txt"}


async def to_list(pager: Any) -> list[Any]:
    return [item async for item in pager]


# ---------------------------------------------------------------------------- the operations
OPS: list[Op] = [
    # identity and organizations
    Op("organizations.list", lambda s, c: s.get_current_user_organizations(),
       lambda a, c: to_list(a.organizations.list()), base),
    Op("organizations.get", lambda s, c: s.get_organization(c["org"]),
       lambda a, c: a.organizations.get(c["org"]), base),
    # tasks: reads
    Op("tasks.list_mine", lambda s, c: s.get_my_tasks(c["org"]),
       lambda a, c: to_list(a.tasks.list_mine(c["org"])), base),
    Op("tasks.list_mine (active)", lambda s, c: s.get_my_tasks(c["org"], status="active"),
       lambda a, c: to_list(a.tasks.list_mine(c["org"], status="active")), base),
    Op("tasks.list_for_user", lambda s, c: s.get_user_tasks(c["org"], c["me"]),
       lambda a, c: to_list(a.tasks.list_for_user(c["org"], c["me"])), base),
    Op("tasks.list_for_guest", lambda s, c: s.get_guest_tasks(c["org"], c["guest_code"]),
       lambda a, c: to_list(a.tasks.list_for_guest(c["org"], c["guest_code"])), base),
    Op("tasks.list_for_run", lambda s, c: s.get_tasks_for_process(c["org"], c["run"]),
       lambda a, c: to_list(a.tasks.list_for_run(c["org"], c["run"])), base),
    Op("tasks.get (process task)", lambda s, c: s.get_task(c["org"], c["run"], c["task"]),
       lambda a, c: a.tasks.get(c["org"], c["task"], run_id=c["run"]), run_task),
    Op("tasks.get (process task, with threads)",
       lambda s, c: s.get_task(c["org"], c["run"], c["task"], with_="threads"),
       lambda a, c: a.tasks.get(c["org"], c["task"], run_id=c["run"], with_="threads"),
       run_task),
    Op("tasks.get (one-off)", lambda s, c: s.get_standalone_task(c["org"], c["task"]),
       lambda a, c: a.tasks.get(c["org"], c["task"]), oneoff),
    # tasks: writes
    Op("tasks.create",
       lambda s, c: s.create_task(c["org"], "Sign", DEADLINE, user_ids=[c["me"]],
                                  description="Please sign"),
       lambda a, c: a.tasks.create(c["org"], title="Sign", deadline=DEADLINE,
                                   owners={"users": [c["me"]]}, description="Please sign"),
       base),
    Op("tasks.create (with limits)",
       lambda s, c: s.create_task(c["org"], "Review", DEADLINE, user_ids=[c["me"]],
                                  task_type="approval", max_assignable=1,
                                  prevent_guest_comment=True),
       lambda a, c: a.tasks.create(c["org"], title="Review", deadline=DEADLINE,
                                   owners={"users": [c["me"]]}, task_type="approval",
                                   max_assignable=1, prevent_guest_comment=True),
       base),
    Op("tasks.complete (process task)", lambda s, c: s.complete_task(c["org"], c["run"], c["task"]),
       lambda a, c: a.tasks.complete(c["org"], c["task"], c["run"]), run_task),
    Op("tasks.reopen (process task)", lambda s, c: s.reopen_task(c["org"], c["run"], c["task"]),
       lambda a, c: a.tasks.reopen(c["org"], c["task"], c["run"]), completed_run_task),
    Op("tasks.complete (one-off)", lambda s, c: s.complete_standalone_task(c["org"], c["task"]),
       lambda a, c: a.tasks.complete(c["org"], c["task"]), oneoff),
    Op("tasks.reopen (one-off)", lambda s, c: s.reopen_standalone_task(c["org"], c["task"]),
       lambda a, c: a.tasks.reopen(c["org"], c["task"]), completed_oneoff),
    Op("tasks.update (process task)",
       lambda s, c: s.update_task(c["org"], c["run"], c["task"], title="Renamed",
                                  owners={"users": [c["me"]], "guests": [], "groups": []}),
       lambda a, c: a.tasks.update(c["org"], c["task"], c["run"], title="Renamed",
                                   owners={"users": [c["me"]], "guests": [], "groups": []}),
       run_task),
    Op("tasks.update_oneoff",
       lambda s, c: s.update_standalone_task(
           c["org"], c["task"], title="Renamed", deadline=DEADLINE,
           owners={"users": [c["me"]], "guests": [], "groups": []}),
       lambda a, c: a.tasks.update_oneoff(
           c["org"], c["task"], title="Renamed", deadline=DEADLINE,
           owners={"users": [c["me"]], "guests": [], "groups": []}),
       oneoff),
    Op("tasks.archive", lambda s, c: s.delete_standalone_task(c["org"], c["task"]),
       lambda a, c: a.tasks.archive(c["org"], c["task"]), oneoff),
    # processes
    Op("runs.list", lambda s, c: s.get_organization_runs(c["org"], checklist_id=c["checklist"]),
       lambda a, c: to_list(a.runs.list(c["org"], checklist_id=c["checklist"])), base),
    Op("runs.list (every filter)",
       lambda s, c: s.get_organization_runs(
           c["org"], with_data="checklist", form_fields_values=True, owners=str(c["me"]),
           task_status="all", status="active", checklist_id=c["checklist"], starred=False,
           run_type="procedure", sort="-created_at", archived="false"),
       lambda a, c: to_list(a.runs.list(
           c["org"], with_="checklist", form_fields_values=True, owners=str(c["me"]),
           task_status="all", status="active", checklist_id=c["checklist"], starred=False,
           type="procedure", sort="-created_at", archived="false")),
       base),
    Op("runs.get", lambda s, c: s.get_process(c["org"], c["run"]),
       lambda a, c: a.runs.get(c["org"], c["run"]), base),
    Op("runs.get (with includes)",
       lambda s, c: s.get_process(c["org"], c["run"], with_="checklist"),
       lambda a, c: a.runs.get(c["org"], c["run"], with_="checklist"), base),
    Op("runs.launch",
       lambda s, c: s.launch_process(c["org"], c["checklist"], "Onboarding", summary="Kim",
                                     prerun={c["kickoff"]: "Kim"}),
       lambda a, c: a.runs.launch(c["org"], c["checklist"], name="Onboarding", summary="Kim",
                                  prerun={c["kickoff"]: "Kim"}),
       fresh_checklist),
    Op("runs.launch (owner and flags)",
       lambda s, c: s.launch_process(c["org"], c["checklist"], "Audit 2026", owner_id=c["me"],
                                     is_public=False, prerun={c["kickoff"]: "Kim"}),
       lambda a, c: a.runs.launch(c["org"], c["checklist"], name="Audit 2026", owner_id=c["me"],
                                  is_public=False, prerun={c["kickoff"]: "Kim"}),
       fresh_checklist),
    Op("runs.update", lambda s, c: s.update_process(c["org"], c["run"], name="Renamed"),
       lambda a, c: a.runs.update(c["org"], c["run"], name="Renamed"), fresh_run),
    Op("runs.archive", lambda s, c: s.archive_process(c["org"], c["run"]),
       lambda a, c: a.runs.archive(c["org"], c["run"]), fresh_run),
    Op("runs.activate", lambda s, c: s.reactivate_process(c["org"], c["run"]),
       lambda a, c: a.runs.activate(c["org"], c["run"]), archived_run),
    Op("runs.complete_kickoff", lambda s, c: s.complete_kickoff_form(c["org"], c["run"]),
       lambda a, c: a.runs.complete_kickoff(c["org"], c["run"]), fresh_run),
    Op("runs.reopen_kickoff", lambda s, c: s.reopen_kickoff_form(c["org"], c["run"]),
       lambda a, c: a.runs.reopen_kickoff(c["org"], c["run"]), kickoff_done),
    # blueprints
    Op("blueprints.list", lambda s, c: s.get_all_templates(c["org"]),
       lambda a, c: to_list(a.blueprints.list(c["org"])), base),
    Op("blueprints.get", lambda s, c: s.get_template(c["org"], c["checklist"]),
       lambda a, c: a.blueprints.get(c["org"], c["checklist"],
                                     with_="steps,automated_actions,prerun,tags"), base),
    Op("blueprints.get (with steps)",
       lambda s, c: s.get_template_with_steps(c["org"], c["checklist"]),
       lambda a, c: a.blueprints.get(c["org"], c["checklist"],
                                     with_="steps,automated_actions,prerun"), base),
    Op("blueprints.steps", lambda s, c: s.get_template_steps(c["org"], c["checklist"]),
       lambda a, c: to_list(a.blueprints.steps(c["org"], c["checklist"])), base),
    Op("blueprints.form_fields", lambda s, c: s.get_kickoff_form_fields(c["org"], c["checklist"]),
       lambda a, c: a.blueprints.form_fields(c["org"], c["checklist"]), base),
    Op("blueprints.create", lambda s, c: s.create_template(c["org"], "Hiring"),
       lambda a, c: a.blueprints.create(c["org"], title="Hiring"), base),
    Op("blueprints.create (with metadata)",
       lambda s, c: s.create_template(c["org"], "Audit", summary="Yearly", starred=True,
                                      is_public=False),
       lambda a, c: a.blueprints.create(c["org"], title="Audit", summary="Yearly", starred=True,
                                        is_public=False), base),
    Op("blueprints.update",
       lambda s, c: s.update_template_metadata(c["org"], c["checklist"], title="Hiring v2",
                                               summary="How we hire"),
       lambda a, c: a.blueprints.update(c["org"], c["checklist"], title="Hiring v2",
                                        summary="How we hire"),
       fresh_checklist),
    Op("blueprints.move_to_folder",
       lambda s, c: s.add_object_to_folder(c["org"], c["folder"], c["checklist"], "checklist"),
       lambda a, c: a.blueprints.move_to_folder(c["org"], c["checklist"], c["folder"]),
       fresh_checklist),
    Op("blueprints.archive", lambda s, c: s.delete_template(c["org"], c["checklist"]),
       lambda a, c: a.blueprints.archive(c["org"], c["checklist"]), fresh_checklist),
    Op("blueprints.clone",
       lambda s, c: s.duplicate_template(c["org"], c["checklist"], "Copy", c["org"]),
       lambda a, c: a.blueprints.clone(c["org"], c["checklist"], title="Copy"), base),
    # steps
    Op("steps.get", lambda s, c: s.form_fields.get_dropdown_options(
           c["org"], c["checklist"], c["step"], c["capture"]),
       lambda a, c: a.steps.get(c["org"], c["checklist"], c["step"]), base),
    Op("steps.create",
       lambda s, c: s.add_step_to_template(c["org"], c["checklist"],
                                           {"title": "Sign off", "summary": "Last"}),
       lambda a, c: a.steps.create(c["org"], c["checklist"], title="Sign off", summary="Last"),
       fresh_checklist),
    Op("steps.create (type and limits)",
       lambda s, c: s.add_step_to_template(c["org"], c["checklist"],
                                           {"title": "Check", "step_type": "approval",
                                            "max_assignable": 1, "assignees": [c["me"]]}),
       lambda a, c: a.steps.create(c["org"], c["checklist"], title="Check",
                                   step_type="approval", max_assignable=1,
                                   assignees=[c["me"]]),
       fresh_checklist),
    Op("steps.update (summary)",
       lambda s, c: s.edit_description_on_step(c["org"], c["checklist"], c["step"], "Do it"),
       lambda a, c: a.steps.update(c["org"], c["checklist"], c["step"], summary="Do it"),
       fresh_checklist),
    Op("steps.update (assignees)",
       lambda s, c: s.add_assignees_to_step(c["org"], c["checklist"], c["step"], [c["me"]]),
       lambda a, c: a.steps.update(c["org"], c["checklist"], c["step"], assignees=[c["me"]]),
       fresh_checklist),
    Op("steps.delete", lambda s, c: s.delete_step(c["org"], c["checklist"], c["step2"]),
       lambda a, c: a.steps.delete(c["org"], c["checklist"], c["step2"]), fresh_checklist),
    Op("steps.clone", lambda s, c: s.clone_step(c["org"], c["checklist"], c["step"]),
       lambda a, c: a.steps.clone(c["org"], c["checklist"], c["step"]), fresh_checklist),
    Op("steps.reorder", lambda s, c: s.reorder_step(c["org"], c["checklist"], c["step"], 2),
       lambda a, c: a.steps.reorder(c["org"], c["checklist"], c["step"], 2), fresh_checklist),
    # form fields (captures)
    Op("captures.create",
       lambda s, c: s.add_form_field_to_step(c["org"], c["checklist"], c["step"],
                                             {"field_type": "text", "label": "Name",
                                              "required": True}),
       lambda a, c: a.captures.create(c["org"], c["checklist"], c["step"], field_type="text",
                                      label="Name", required=True),
       fresh_checklist),
    Op("captures.update",
       lambda s, c: s.update_form_field(c["org"], c["checklist"], c["step"], c["capture"],
                                        field_type="textarea", label="Notes", required=True),
       lambda a, c: a.captures.update(c["org"], c["checklist"], c["step"], c["capture"],
                                      field_type="textarea", label="Notes", required=True),
       fresh_checklist),
    Op("captures.update (dropdown options)",
       lambda s, c: s.update_dropdown_options(c["org"], c["checklist"], c["step"], c["capture"],
                                              ["Yes", "No"]),
       lambda a, c: a.captures.update(c["org"], c["checklist"], c["step"], c["capture"],
                                      field_type="textarea", label="Notes for step 1",
                                      required=False,
                                      options=[{"id": 1, "text": "Yes"}, {"id": 2, "text": "No"}]),
       fresh_checklist),
    Op("captures.move",
       lambda s, c: s.move_form_field(c["org"], c["checklist"], c["step"], c["capture"],
                                      c["step2"], 1),
       lambda a, c: a.captures.move(c["org"], c["checklist"], c["step"], c["capture"],
                                    to_step_id=c["step2"], position=1),
       fresh_checklist),
    Op("captures.delete",
       lambda s, c: s.delete_form_field(c["org"], c["checklist"], c["step"], c["capture"]),
       lambda a, c: a.captures.delete(c["org"], c["checklist"], c["step"], c["capture"]),
       fresh_checklist),
    # automations
    Op("automations.create",
       lambda s, c: s.create_automation_rule(
           c["org"], c["checklist"], {"automated_alias": "Rule", "conditions": conditions(c),
                                      "then_actions": actions(c)}),
       lambda a, c: a.automations.create(c["org"], c["checklist"], automated_alias="Rule",
                                         conditions=conditions(c), then_actions=actions(c)),
       fresh_checklist),
    Op("automations.update",
       lambda s, c: s.update_automation_rule(
           c["org"], c["checklist"], c["rule"], {"automated_alias": "Renamed",
                                                 "conditions": conditions(c),
                                                 "then_actions": actions(c)}),
       lambda a, c: a.automations.update(c["org"], c["checklist"], c["rule"],
                                         automated_alias="Renamed", conditions=conditions(c),
                                         then_actions=actions(c)),
       automation),
    Op("automations.delete",
       lambda s, c: s.delete_automation_rule(c["org"], c["checklist"], c["rule"]),
       lambda a, c: a.automations.delete(c["org"], c["checklist"], c["rule"]), automation),
    # members
    Op("users.list", lambda s, c: s.get_organization_users(c["org"]),
       lambda a, c: to_list(a.users.list(c["org"])), base),
    Op("users.get", lambda s, c: s.get_user(c["org"], c["me"]),
       lambda a, c: a.users.get(c["org"], c["me"]), base),
    Op("users.me", lambda s, c: s.get_current_user_info(c["org"]),
       lambda a, c: a.users.me(c["org"]), base),
    Op("users.list_minimal", lambda s, c: s.get_organization_users_list(c["org"]),
       lambda a, c: to_list(a.users.list_minimal(c["org"])), base),
    Op("users.list (with groups)",
       lambda s, c: s.get_organization_users(c["org"], with_groups=True),
       lambda a, c: to_list(a.users.list(c["org"], with_="groups")), base),
    Op("users.approve", lambda s, c: s.approve_user(c["org"], c["user"]),
       lambda a, c: a.users.approve(c["org"], c["user"]), fresh_member),
    Op("users.invite",
       lambda s, c: s.invite_user_to_organization(c["org"], f"kim{c['user']}@example.org",
                                                  "Kim", "Lee", "standard"),
       lambda a, c: a.users.invite(c["org"], email=f"kim{c['user']}@example.org",
                                   first_name="Kim", last_name="Lee", role="standard"),
       fresh_member),
    Op("users.invite (with a message)",
       lambda s, c: s.invite_user_to_organization(c["org"], f"ann{c['user']}@example.org",
                                                  "Ann", "Wu", "light", "Welcome aboard"),
       lambda a, c: a.users.invite(c["org"], email=f"ann{c['user']}@example.org",
                                   first_name="Ann", last_name="Wu", role="light",
                                   message="Welcome aboard"),
       fresh_member),
    Op("users.set_role", lambda s, c: s.change_user_role(c["org"], c["user"], "admin"),
       lambda a, c: a.users.set_role(c["org"], c["user"], "admin"), fresh_member),
    Op("users.disable", lambda s, c: s.disable_user(c["org"], c["user"]),
       lambda a, c: a.users.disable(c["org"], c["user"]), fresh_member),
    Op("users.enable", lambda s, c: s.enable_user(c["org"], c["user"]),
       lambda a, c: a.users.enable(c["org"], c["user"]), disabled_member),
    # guests
    Op("guests.list", lambda s, c: s.get_organization_guests(c["org"]),
       lambda a, c: to_list(a.guests.list(c["org"])), base),
    Op("guests.list_minimal", lambda s, c: s.get_organization_guests_list(c["org"]),
       lambda a, c: to_list(a.guests.list_minimal(c["org"])), base),
    Op("guests.list (with stats)",
       lambda s, c: s.get_organization_guests(c["org"], with_stats=True),
       lambda a, c: to_list(a.guests.list(c["org"], with_="stats")), base),
    Op("guests.get", lambda s, c: s.get_guest(c["org"], c["guest"]),
       lambda a, c: a.guests.get(c["org"], c["guest"]), base),
    Op("guests.create", lambda s, c: s.create_guest(c["org"], c["email"], "Kim", "Lee"),
       lambda a, c: a.guests.create(c["org"], email=c["email"], first_name="Kim",
                                    last_name="Lee"),
       new_guest_email),
    Op("guests.create (with details)",
       lambda s, c: s.create_guest(c["org"], c["email"], "Kim", "Lee", phone="+1 555 0100",
                                   company_name="Acme"),
       lambda a, c: a.guests.create(c["org"], email=c["email"], first_name="Kim",
                                    last_name="Lee", phone="+1 555 0100",
                                    company_name="Acme"),
       new_guest_email),
    Op("guests.update (details)",
       lambda s, c: s.update_guest(c["org"], c["guest"], phone="+1 555 0101",
                                   company_name="Acme"),
       lambda a, c: a.guests.update(c["org"], c["guest"], phone="+1 555 0101",
                                    company_name="Acme"),
       fresh_guest),
    Op("guests.update", lambda s, c: s.update_guest(c["org"], c["guest"], first_name="Kim"),
       lambda a, c: a.guests.update(c["org"], c["guest"], first_name="Kim"), fresh_guest),
    Op("guests.disable", lambda s, c: s.disable_guest(c["org"], c["guest"]),
       lambda a, c: a.guests.disable(c["org"], c["guest"]), fresh_guest),
    Op("guests.enable", lambda s, c: s.enable_guest(c["org"], c["guest"]),
       lambda a, c: a.guests.enable(c["org"], c["guest"]), disabled_guest),
    # groups
    Op("groups.list", lambda s, c: s.get_groups(c["org"]),
       lambda a, c: to_list(a.groups.list(c["org"])), base),
    Op("groups.list (by name)", lambda s, c: s.get_groups(c["org"], q="Group"),
       lambda a, c: to_list(a.groups.list(c["org"], q="Group")), base),
    Op("groups.get", lambda s, c: s.get_group(c["org"], c["group"]),
       lambda a, c: a.groups.get(c["org"], c["group"]), base),
    Op("groups.get (with members)",
       lambda s, c: s.groups.get_group(c["org"], c["group"], with_data="users"),
       lambda a, c: a.groups.get(c["org"], c["group"], with_="users"), base),
    Op("groups.create",
       lambda s, c: s.create_group(c["org"], "Legal", "Contracts", members=[c["me"]]),
       lambda a, c: a.groups.create(c["org"], name="Legal", description="Contracts",
                                    members=[c["me"]]),
       base),
    Op("groups.update", lambda s, c: s.update_group(c["org"], c["group"], name="Legal team"),
       lambda a, c: a.groups.update(c["org"], c["group"], name="Legal team"), fresh_group),
    Op("groups.delete", lambda s, c: s.delete_group(c["org"], c["group"]),
       lambda a, c: a.groups.delete(c["org"], c["group"]), fresh_group),
    # tags
    Op("tags.list", lambda s, c: s.get_tags(c["org"]),
       lambda a, c: to_list(a.tags.list(c["org"])), base),
    Op("tags.list (every filter)",
       lambda s, c: s.get_tags(c["org"], q="tag", sort="title", status="active",
                               auto_generated=True),
       lambda a, c: to_list(a.tags.list(c["org"], q="tag", sort="title", status="active",
                                        auto_generated=True)),
       base),
    Op("tags.get", lambda s, c: s.get_tag(c["org"], c["tag"]),
       lambda a, c: a.tags.get(c["org"], c["tag"]), base),
    Op("tags.create", lambda s, c: s.create_tag(c["org"], c["title"], color="#e74c3c"),
       lambda a, c: a.tags.create(c["org"], title=c["title"], color="#e74c3c"), new_tag_title),
    Op("tags.update", lambda s, c: s.update_tag(c["org"], c["tag"], color="#3498db"),
       lambda a, c: a.tags.update(c["org"], c["tag"], color="#3498db"), fresh_tag),
    Op("tags.delete", lambda s, c: s.delete_tag(c["org"], c["tag"]),
       lambda a, c: a.tags.delete(c["org"], c["tag"]), fresh_tag),
    Op("tag_associations.add (blueprint)",
       lambda s, c: s.tag_template(c["org"], c["checklist"], c["tag"]),
       lambda a, c: a.tag_associations.add(c["org"], c["tag"], c["checklist"], "Checklist"),
       fresh_checklist),
    Op("tag_associations.add (process)",
       lambda s, c: s.tag_process(c["org"], c["run"], c["tag"]),
       lambda a, c: a.tag_associations.add(c["org"], c["tag"], c["run"], "Run"), fresh_run),
    Op("tag_associations.remove (blueprint)",
       lambda s, c: s.untag_template(c["org"], c["tag"], c["checklist"]),
       lambda a, c: a.tag_associations.remove(c["org"], c["association"]), tagged_checklist),
    Op("tag_associations.remove (process)",
       lambda s, c: s.untag_process(c["org"], c["run"], c["tag"]),
       lambda a, c: a.tag_associations.remove(c["org"], c["association"]), tagged_run),
    # folders
    Op("folders.list", lambda s, c: s.get_folders(c["org"]),
       lambda a, c: to_list(a.folders.list(c["org"])), base),
    Op("folders.list (process folders)", lambda s, c: s.get_folders(c["org"], folder_type="run"),
       lambda a, c: to_list(a.folders.list(c["org"], folder_type="run")), base),
    Op("folders.get", lambda s, c: s.get_folder(c["org"], c["folder"]),
       lambda a, c: a.folders.get(c["org"], c["folder"]), base),
    Op("folders.create", lambda s, c: s.create_folder(c["org"], "Contracts"),
       lambda a, c: a.folders.create(c["org"], name="Contracts"), base),
    Op("folders.update",
       lambda s, c: s.update_folder(c["org"], c["folder"], parent_id=c["parent"]),
       lambda a, c: a.folders.update(c["org"], c["folder"], parent_id=c["parent"]),
       lambda env: _with_parent(env)),
    Op("folders.delete", lambda s, c: s.delete_folder(c["org"], c["folder"]),
       lambda a, c: a.folders.delete(c["org"], c["folder"]), fresh_folder),
    Op("folders.add_object",
       lambda s, c: s.add_object_to_folder(c["org"], c["folder"], c["run"], "run"),
       lambda a, c: a.folders.add_object(c["org"], c["folder"], c["run"], "Run"), run_folder),
    Op("folders.remove_object", lambda s, c: s.remove_object_from_folder(c["org"], c["relation"]),
       lambda a, c: a.folders.remove_object(c["org"], c["relation"]), filed_run),
    # comments
    Op("comments.list", lambda s, c: s.get_standalone_task_comments(c["org"], c["task"]),
       lambda a, c: a.comments.list(c["org"], c["task"]), commented),
    Op("comments.list (process task)",
       lambda s, c: s.get_task_comments(c["org"], c["run"], c["task"]),
       lambda a, c: a.comments.list(c["org"], c["task"]), run_task),
    Op("comments.create", lambda s, c: s.add_task_comment(c["org"], c["task"], "Looks good"),
       lambda a, c: a.comments.create(c["org"], c["task"], "Looks good"), oneoff),
    Op("comments.update",
       lambda s, c: s.update_task_comment(c["org"], c["task"], c["comment"], "Edited"),
       lambda a, c: a.comments.update(c["org"], c["task"], c["comment"], "Edited"), commented),
    Op("comments.delete", lambda s, c: s.delete_task_comment(c["org"], c["task"], c["comment"]),
       lambda a, c: a.comments.delete(c["org"], c["task"], c["comment"]), commented),
    Op("comments.report_problem", lambda s, c: s.report_task_issue(c["org"], c["task"], "Stuck"),
       lambda a, c: a.comments.report_problem(c["org"], c["task"], "Stuck"), oneoff),
    Op("comments.resolve_problems",
       lambda s, c: s.threads.resolve_task_issues(c["org"], c["task"], c["thread"]),
       lambda a, c: a.comments.resolve_problems(c["org"], c["task"], c["thread"]), problem),
    # files
    Op("files.upload (kick-off field)",
       lambda s, c: s.upload_file(c["org"], b"differential", "notes.txt", "ko_field",
                                  "Checklist", c["checklist"]),
       lambda a, c: a.files.upload(c["org"], b"differential", uploaded_from="ko_field",
                                   subject_type="Checklist", subject_id=c["checklist"],
                                   filename="notes.txt"),
       base),
    Op("files.upload (process task field)",
       lambda s, c: s.upload_file(c["org"], b"differential", "notes.txt", c["capture"], "Run",
                                  c["run"], step_id=c["step"], checklist_id=c["checklist"]),
       lambda a, c: a.files.upload(c["org"], b"differential", uploaded_from=c["capture"],
                                   subject_type="Run", subject_id=c["run"], step_id=c["step"],
                                   checklist_id=c["checklist"], filename="notes.txt"),
       run_task),
    Op("files.upload (one-off task field)",
       lambda s, c: s.upload_file(c["org"], b"differential", "notes.txt", c["capture"], "Task",
                                  c["task"]),
       lambda a, c: a.files.upload(c["org"], b"differential", uploaded_from=c["capture"],
                                   subject_type="Task", subject_id=c["task"],
                                   filename="notes.txt"),
       oneoff),
    Op("files.download", lambda s, c: s.download_file(c["org"], c["file"]),
       lambda a, c: a.files.download(c["org"], c["file"], c["dest"]), uploaded),
    Op("files.download (by link)",
       lambda s, c: s.download_file_from_url(f"organizations/{c['org']}/file/{c['file']}/dl"),
       lambda a, c: a.files.download(c["org"], c["file"], c["dest"]), uploaded),
    # search
    Op("search (one type)", lambda s, c: s.search(c["org"], "onboarding", on="process"),
       lambda a, c: to_list(a.search(c["org"], "onboarding", on=["process"])), base),
    Op("search (blueprints)", lambda s, c: s.search_templates(c["org"], "Blueprint"),
       lambda a, c: to_list(a.search(c["org"], "Blueprint", on=["blueprint"])), base),
    Op("search (tasks)", lambda s, c: s.search_tasks(c["org"], "step"),
       lambda a, c: to_list(a.search(c["org"], "step", on=["task"])), base),
    Op("search (several types)",
       lambda s, c: s.search_all(c["org"], "onboarding", types=["process", "task"]),
       lambda a, c: a.search(c["org"], "onboarding", on=["process", "task"]).by_type(), base),
]  # fmt: skip


# The SDK as a client of the fake in its own right: calls with the optional parameters and
# fields the SDK offers (and the real server accepts, per the SDK's docstrings quoting api-v2)
# on routes we serve. Only the fake's answers are checked: no 4xx/5xx, no SDK failure.
SDK_ONLY: list[tuple[str, SdkCall, Setup]] = [
    ("blueprint archive with references",
     lambda s, c: s.delete_template_with_references(c["org"], c["checklist"]), fresh_checklist),
    ("comment with state and label",
     lambda s, c: s.update_task_comment(c["org"], c["task"], c["comment"], "Edited",
                                        label="comment"), commented),
    # Routes the client has no method for (audit section 3; README "Not covered"): the fake
    # does not serve them either, which the table below records.
    ("reorder form fields",
     lambda s, c: s.reorder_form_fields(c["org"], c["checklist"], c["step"],
                                        [{"id": c["capture"], "position": 1}]), base),
]  # fmt: skip


async def _with_parent(env: Env) -> Ctx:
    ctx = await fresh_folder(env)
    return {**ctx, "parent": env.area.add_folders(1)[0]["id"]}


# Every difference kept, once, with its source. SDK = ``tallyfy`` 3.1.0 (its docstrings quote
# api-v2); DOCS = Tallyfy's open-api docs; audit = shared/reference/api-fidelity-audit.md.
_USER_TASK_EXTRAS = (
    "SDK get_user_tasks / get_guest_tasks always add sort_by=newest and with=run,threads_count,"
    "step,tags,folders,member_watchers.watcher (includes for its display); optional on the "
    "route. Ours sends status=all and takes with_/filters when wanted"
)
_TASK_CREATE_DEFAULTS = {
    f"POST /organizations/{{org}}/tasks: only SDK sends body {key}":
        "SDK create_task always sends separate_task_for_each_assignee=false, "
        "status=not-started, everyone_must_complete=false, is_soft_start_date=true; "
        "DOCS tasks/create-task lists them as optional. Ours leaves them to the server"
    for key in ("everyone_must_complete", "is_soft_start_date",
                "separate_task_for_each_assignee", "status")
}  # fmt: skip
_FOLDER_TREE = {
    f"GET /organizations/{{org}}/folders: only SDK sends query {key}":
        "audit M9: SDK get_folders sends pagination=false, sort=position, "
        "with=children (one unpaged tree); ours pages every folder of folder_type"
    for key in ("pagination", "sort", "with")
}  # fmt: skip
KNOWN_DIFFERENCES: dict[str, dict[str, str]] = {
    "tasks.list_for_user": {
        "GET /organizations/{org}/users/{me}/tasks: only SDK sends query sort_by":
            _USER_TASK_EXTRAS,
        "GET /organizations/{org}/users/{me}/tasks: only SDK sends query with":
            _USER_TASK_EXTRAS,
    },
    "tasks.list_for_guest": {
        "GET /organizations/{org}/guests/{guest_code}/tasks: only SDK sends query sort_by":
            _USER_TASK_EXTRAS,
        "GET /organizations/{org}/guests/{guest_code}/tasks: only SDK sends query with":
            _USER_TASK_EXTRAS,
    },
    "tasks.list_for_run": {
        "GET /organizations/{org}/runs/{run}/tasks: only SDK sends query without_pagination":
            "SDK facade get_tasks_for_process defaults without_pagination='true' (its own "
            "method defaults 'false'; tallyfy-api.md section 8 calls that out). Ours walks "
            "every page at per_page=100, which works on every list route, including those "
            "that ignore without_pagination (tallyfy/sdk#99)",
    },
    "tasks.create": {
        **_TASK_CREATE_DEFAULTS,
        "POST /organizations/{org}/tasks: only ours sends body description":
            "audit M11: DOCS create-task name the text `description`, SDK create_task sends "
            "it as `summary`; unverified which the route stores, so ours sends both (README "
            "'chosen the safe way'); both send summary",
    },
    "tasks.create (with limits)": _TASK_CREATE_DEFAULTS,
    "blueprints.clone": {
        "POST /organizations/{org}/checklists/{checklist}/clone: only SDK sends body "
        "(form-encoded)":
            "SDK duplicate_template posts {tenant, title} form-encoded; ours sends the same "
            "keys as JSON. Laravel reads either (the fake accepts both since this test)",
    },
    "captures.create": {
        "POST /organizations/{org}/checklists/{checklist}/steps/{step}/captures: only SDK "
        "sends body position":
            "SDK add_form_field_to_step defaults position=1 (the new field goes first); "
            "optional. Ours sends position only when given (**fields)",
    },
    "captures.update (dropdown options)": {
        "only SDK sends GET /organizations/{org}/checklists/{checklist}/steps/{step}":
            "SDK update_dropdown_options re-reads the step and PUTs the whole current "
            "capture with new options; ours takes field_type, label and required from the "
            "caller (required on every capture PUT: SDK FORM_FIELD_FIELDS, N8N) and sends no GET",
        "PUT /organizations/{org}/checklists/{checklist}/steps/{step}/captures/{capture}: only "
        "SDK sends body step_id":
            "same: the SDK echoes the capture it read (step_id included) back in the PUT",
    },
    "automations.update": {
        "only SDK sends GET /organizations/{org}/checklists/{checklist}":
            "SDK update_automation_rule reads the rule (with=automated_actions) and merges "
            "it into the PUT; ours requires automated_alias, conditions and then_actions from "
            "the caller (all required on every PUT: SDK 'API requires full conditions + "
            "then_actions in PUT', CLI) and sends no GET",
        "PUT /organizations/{org}/checklists/{checklist}/automated-actions/{rule}: only SDK "
        "sends body created_at": "same: read-only keys of the merged rule echoed back",
        "PUT /organizations/{org}/checklists/{checklist}/automated-actions/{rule}: only SDK "
        "sends body id": "same: read-only keys of the merged rule echoed back",
    },
    "tags.update": {
        "fake answers SDK 422: PUT /organizations/{org}/tags/{tag}":
            "audit M10: DOCS tags/update-tag mark title 'Required: Yes', SDK update_tag sends "
            "a colour-only body; sources disagree, so the fake refuses the stricter way",
        "only ours sends GET /organizations/{org}/tags/{tag}":
            "audit M10: ours reads the tag to send its title back (README read-then-write)",
        "PUT /organizations/{org}/tags/{tag}: only ours sends body title":
            "audit M10: title required by DOCS tags/update-tag",
    },
    "tag_associations.remove (blueprint)": {
        "only SDK sends GET /organizations/{org}/checklists/{checklist}":
            "SDK untag_template takes the tag id and looks the association id up in the "
            "blueprint's `tags` include; ours takes the association id add() returned "
            "(the route casts it to int: SDK, tallyfy/sdk#77)",
    },
    "tag_associations.remove (process)": {
        "only SDK sends GET /organizations/{org}/runs/{run}":
            "SDK untag_process looks the association id up in the process's `tags` include; "
            "ours takes the association id add() returned",
    },
    "folders.list": _FOLDER_TREE,
    "folders.list (process folders)": _FOLDER_TREE,
    "comments.list (process task)": {
        "only SDK sends GET /organizations/{org}/runs/{run}/tasks/{task}":
            "SDK get_task_comments reads a process task's threads on the run route; ours "
            "on /tasks/{task}?with=threads, which DOCS tasks/get-task say 'works for both "
            "standalone and process tasks' (SDK: 'same task transformer')",
        "only ours sends GET /organizations/{org}/tasks/{task}": "same",
    },
    **{
        f"SDK only: {name}": {f"fake answers SDK {status}: {route}": (
            "not served: the client has no method for it (audit section 3, README 'Not "
            "covered by typed methods'); reachable with client.request"
        )}
        for name, status, route in (
            ("reorder form fields", 405,
             "PUT /organizations/{org}/checklists/{checklist}/steps/{step}/captures"),
        )
    },
    "comments.create": {
        "POST /organizations/{org}/tasks/{task}/comment: only ours sends body label":
            "audit #70: ours always sends label=comment (CLI CommentTask; PAC content+label); "
            "SDK add_task_comment sends label only when given",
    },
}  # fmt: skip

# The SDK's own bugs: behaviour we deliberately do not copy. Each is checked to still be there
# (``test_sdk_bugs_are_still_there``), so a fixed SDK fails the test and the row goes.
SDK_BUGS: dict[str, str] = {
    "PaginationLinks reads `prev`": "Tallyfy's Fractal envelope names it `previous` "
    "(tallyfy-api.md section 4: FRACTAL, PAC); ours reads `previous` and `next`",
    "facade resolve_task_issues drops thread_id": "TallyfySDK.resolve_task_issues(org, task) "
    "calls threads.resolve_task_issues without the thread_id it requires, so it raises "
    "TypeError before sending; compared above through sdk.threads (audit M5b: the route "
    "needs thread_id and content)",
    "X-Tallyfy-Client: TallyfySDK": "DOCS (every code sample), tallyfy/api-support "
    "'Common API Gotchas' #1 and the CLI send APIClient; the fake, like Tallyfy, answers 401 "
    "to anything else. Ours sends APIClient; here the SDK's session is given it",
}


# ---------------------------------------------------------------------------- the tests
async def run_side(env: Env, call: Callable[[Ctx], Awaitable[object]], op: Op) -> tuple[
    list[RecordedRequest], Ctx, BaseException | None
]:  # fmt: skip
    ctx = await op.setup(env)
    start = len(env.fake.requests)
    stored_before = set(fake_files(env.fake).files)
    error: BaseException | None = None
    try:
        await call(ctx)
    except Exception as exc:
        error = exc
    stored = [f.asset for k, f in fake_files(env.fake).files.items() if k not in stored_before]
    return [as_stored(r, stored) for r in env.fake.requests[start:]], ctx, error


def as_stored(r: RecordedRequest, stored: list[dict[str, Any]]) -> RecordedRequest:
    """An upload's fields, as the fake stored them. The fake streams multipart bodies to disk
    and does not record them, so each side's upload is compared by the asset it created: the
    form fields the asset keeps (``uploaded_from``, ``subject_type``/``subject_id``,
    ``source``, ``step_id`` when sent) and the file part's name. ``checklist_id`` is not kept
    by the asset; the fake refuses a ``Run`` upload without it, which both sides would show."""
    if not r.headers.get("Content-Type", "").startswith("multipart/") or r.status != 201:
        return r
    asset = stored.pop(0)
    fields = {
        "uploaded_from": asset["uploaded_from"], "subject_type": asset["subject"]["type"],
        "subject_id": asset["subject"]["id"], "source": asset["source"],
        "name (file)": asset["filename"],
        **({"step_id": asset["step_id"]} if asset["step_id"] is not None else {}),
    }  # fmt: skip
    return dataclasses.replace(
        r, headers={"Content-Type": MULTIPART_AS_STORED}, body=orjson.dumps(fields)
    )


async def compare_all() -> tuple[dict[str, set[str]], int]:
    """Every operation through both clients against one fake: ``({op: differences}, count)``."""
    found: dict[str, set[str]] = {}
    async with (
        FakeTallyfy(orgs=1, tasks_per_org=40) as fake,
        TallyfyClient(
            # No pacing (the default 600/min paces past its first burst) and no retries: every
            # request either client sends is one the comparison sees.
            fake.token,
            base_url=fake.root_url,
            max_retries=0,
            rate_limits=[RateLimit(10**6, 1.0)],
        ) as client,
    ):
        tmp = tempfile.TemporaryDirectory()
        env = Env(fake, client, fake.data.org_ids[0], set(), Path(tmp.name))
        sdk = official_sdk(fake)
        try:
            for op in OPS:
                sdk_side, sdk_ctx, sdk_error = await run_side(
                    env, lambda c, op=op: asyncio.to_thread(op.sdk, sdk, c), op
                )
                our_side, our_ctx, our_error = await run_side(
                    env, lambda c, op=op: op.ours(client, c), op
                )
                diff = differences(sdk_side, our_side, sdk_ctx, our_ctx, sdk_error)
                if our_error is not None:  # never listed: our client must do every operation
                    diff.add(f"our client raised {type(our_error).__name__}: {our_error}")
                if diff:
                    found[op.name] = diff
            for name, call, setup in SDK_ONLY:
                only = Op(f"SDK only: {name}", call, lambda a, c: asyncio.sleep(0), setup)
                sdk_side, sdk_ctx, sdk_error = await run_side(
                    env, lambda c, op=only: asyncio.to_thread(op.sdk, sdk, c), only
                )
                diff = {d for d in differences(sdk_side, [], sdk_ctx, {}, sdk_error)
                        if not d.startswith("only SDK sends")}  # fmt: skip
                if diff:
                    found[only.name] = diff
        finally:
            sdk.close()
            tmp.cleanup()
    return found, len(OPS) + len(SDK_ONLY)


async def test_requests_match_the_official_sdk(loopback_only: list[str]) -> None:
    """Every operation both clients cover reaches the server the same way, except the rows of
    ``KNOWN_DIFFERENCES``; the table is exact both ways."""
    found, compared = await compare_all()
    assert (len(OPS), len(SDK_ONLY), compared) == (119, 3, 122)
    unexpected = {op: sorted(d - KNOWN_DIFFERENCES.get(op, {}).keys()) for op, d in found.items()}
    stale = {
        op: sorted(rows.keys() - found.get(op, set())) for op, rows in KNOWN_DIFFERENCES.items()
    }
    assert {op: d for op, d in unexpected.items() if d} == {}, "new differences: fix or list"
    assert {op: d for op, d in stale.items() if d} == {}, "rows that no longer differ"
    assert loopback_only == []


def test_known_differences_name_real_operations() -> None:
    names = [op.name for op in OPS] + [f"SDK only: {name}" for name, _, _ in SDK_ONLY]
    assert len(names) == len(set(names))
    assert set(KNOWN_DIFFERENCES) <= set(names)
    assert all(rows and all(rows.values()) for rows in KNOWN_DIFFERENCES.values())


async def test_sdk_bugs_are_still_there(loopback_only: list[str]) -> None:
    async with FakeTallyfy(orgs=1, tasks_per_org=5) as fake:
        org = fake.data.org_ids[0]
        sdk = official_sdk(fake, shim=False)
        try:
            assert sdk.session.headers["X-Tallyfy-Client"] == "TallyfySDK"
            with pytest.raises(TallyfyError, match="401"):
                await asyncio.to_thread(sdk.get_organization, org)
            sdk.session.headers["X-Tallyfy-Client"] = "APIClient"
            raw = await asyncio.to_thread(
                sdk._make_request, "GET", f"organizations/{org}/groups",
                params={"page": 2, "per_page": 1},
            )  # fmt: skip
            links = raw["meta"]["pagination"]["links"]
            assert links["previous"].endswith("page=1")
            assert PaginationMeta.from_dict(raw["meta"]["pagination"]).links.prev is None
            before = len(fake.requests)
            with pytest.raises(TypeError, match="thread_id"):
                sdk.resolve_task_issues(org, fake.data.task_ids(org)[0])
            assert len(fake.requests) == before
        finally:
            sdk.close()
    assert [r.headers["X-Tallyfy-Client"] for r in fake.requests] == ["TallyfySDK", "APIClient"]
    assert set(SDK_BUGS) == {
        "PaginationLinks reads `prev`",
        "facade resolve_task_issues drops thread_id",
        "X-Tallyfy-Client: TallyfySDK",
    }
    assert loopback_only == []


def test_the_comparison_sees_each_kind_of_difference() -> None:
    """The comparison itself can fail: a planted difference of each kind is reported."""
    ctx = {"org": "o1", "run": "r1", "field": "f" * 32}

    def req(method: str, path: str, query: dict[str, str], body: bytes, status: int = 200,
            form: bool = False) -> RecordedRequest:  # fmt: skip
        kind = "application/x-www-form-urlencoded" if form else "application/json"
        return RecordedRequest(method, path, path, query, {"Content-Type": kind}, body, status,
                               None, 0.0, "root")  # fmt: skip

    sdk = [
        req("PUT", "/organizations/o1/runs/r1", {"with": "x", "page": "1"},
            b'{"name": "a", "prerun": {"' + b"f" * 32 + b'": 1}, "tags": ["t"]}', 422),
        req("GET", "/organizations/o1/runs/r1", {}, b""),
    ]  # fmt: skip
    ours = [
        req("PUT", "/organizations/o1/runs/r1", {"per_page": "100"},
            b'{"name": 5, "prerun": {"' + b"f" * 32 + b'": "1"}, "summary": null}'),
        req("POST", "/organizations/o1/runs", {}, b"a=1", form=True),
    ]  # fmt: skip
    assert differences(sdk, ours, ctx, ctx, None) == {
        "fake answers SDK 422: PUT /organizations/{org}/runs/{run}",
        "only SDK sends GET /organizations/{org}/runs/{run}",
        "only ours sends POST /organizations/{org}/runs",
        "PUT /organizations/{org}/runs/{run}: only SDK sends query with",
        "PUT /organizations/{org}/runs/{run}: only SDK sends body tags",
        "PUT /organizations/{org}/runs/{run}: only SDK sends body tags[]",
        "PUT /organizations/{org}/runs/{run}: only ours sends body summary",
        "PUT /organizations/{org}/runs/{run}: body name is string (SDK), integer (ours)",
        "PUT /organizations/{org}/runs/{run}: body prerun.{field} is integer (SDK), string (ours)",
    }
    assert differences([], [], ctx, ctx, ValueError("x")) == {"SDK raised ValueError"}
    upload = req("POST", "/organizations/o1/assets", {}, b"")
    upload = dataclasses.replace(
        upload, headers={"Content-Type": "multipart/form-data; b=x"}, status=201
    )
    asset = {"uploaded_from": "ko_field", "subject": {"id": "r1", "type": "Run"},
             "source": "local", "filename": "a.txt", "step_id": "s1"}  # fmt: skip
    assert signature(as_stored(upload, [asset]), ctx).body == (
        ("(multipart)", ""), ("name (file)", "string"), ("source", "string"),
        ("step_id", "string"), ("subject_id", "string"), ("subject_type", "string"),
        ("uploaded_from", "string"),
    )  # fmt: skip
    refused = dataclasses.replace(upload, status=422)
    assert as_stored(refused, [asset]) is refused
    assert signature(ours[1], ctx).body == (("(form-encoded)", ""), ("a", "string"))


def test_the_loopback_guard_refuses_other_hosts(loopback_only: list[str]) -> None:
    """The guard refuses before any packet leaves (TEST-NET-1 and a name; nothing is sent)."""
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("192.0.2.1", 80), timeout=1)
    with pytest.raises(ConnectionRefusedError):
        socket.getaddrinfo("api.tallyfy.com", 443)
    assert loopback_only == ["192.0.2.1", "api.tallyfy.com"]
    assert socket.getaddrinfo("127.0.0.1", 80)
