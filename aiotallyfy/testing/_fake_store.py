"""Per-organization state of the resource areas added to the fake (issue 5): blueprint steps
and kick-off fields, guests, groups, tags, folders, comments, hidden (archived/deleted) tasks,
plus helpers that append tasks and runs to the columnar task store of ``_fake_data``.

Everything is created lazily on first use of an org (``area(data, st)``) and seeded from the
data's RNG, so the same seed gives the same ids. Tests grow lists past one page with the
``add_*`` helpers (e.g. ``area_of(fake, org_id).add_guests(150)``) instead of 150 POSTs.
"""

from __future__ import annotations

import calendar
import hashlib
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ._fake_data import (
    COMPLETED,
    F_MINE,
    F_ONEOFF,
    IN_PROGRESS,
    NOT_STARTED,
    FakeData,
    OrgState,
    hex32,
    iso,
    member_row,
)

if TYPE_CHECKING:
    from ._server import FakeTallyfy

__all__ = [
    "Area",
    "append_task",
    "area",
    "area_of",
    "guest_code_of",
    "parse_api_date",
    "step_id_for",
]

_FIRST = ("Ada", "Ben", "Cleo", "Dan", "Eva", "Finn", "Gus", "Hana", "Ivo", "Jade")
_LAST = ("Ng", "Ode", "Park", "Quinn", "Roy", "Sato", "Toth", "Ueda", "Vega", "Wu")
_STEP_VERBS = ("Collect", "Review", "Approve", "Notify", "Archive", "Sign", "Verify", "Send")
_COLORS = ("#3fb65b", "#e74c3c", "#3498db", "#f1c40f", "#9b59b6")

TYPE_TO_CODE = {"task": 0, "approval": 1, "expiring": 2}


def step_id_for(checklist_id: str, position: int) -> str:
    """The step id ``_fake_data.task_at`` derives for a process task at ``position``."""
    return hashlib.md5(f"{checklist_id}:{position}".encode(), usedforsecurity=False).hexdigest()


def parse_api_date(value: Any) -> int | None:
    """``YYYY-MM-DD[ HH:MM[:SS]]`` (the request format) or ISO 8601 → unix seconds."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip().replace("T", " ").replace("Z", "")
    if "." in text:
        text = text.split(".", 1)[0]
    if "+" in text:
        text = text.split("+", 1)[0]
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"):
        try:
            return calendar.timegm(datetime.strptime(text, fmt).utctimetuple())
        except ValueError:
            continue
    return None


@dataclass(eq=False)
class Area:
    """The new resources of one org. Lists are dicts in insertion order (list order)."""

    data: FakeData
    st: OrgState
    rng: random.Random
    steps: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    prerun: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    guests: dict[str, dict[str, Any]] = field(default_factory=dict)
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    tags: dict[str, dict[str, Any]] = field(default_factory=dict)
    folders: dict[str, dict[str, Any]] = field(default_factory=dict)
    folder_objects: dict[str, dict[str, Any]] = field(default_factory=dict)
    threads: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    deleted_runs: set[str] = field(default_factory=set)
    next_guest_id: int = 70000
    launches: int = 0

    # ------------------------------------------------------------------ seeding
    def seed(self) -> None:
        for checklist in self.st.checklists:
            self._init_checklist(checklist, n_steps=5)
        for k in range(2):
            self.add_guests(1, _first=k)
        self.add_groups(2)
        self.add_tags(3)
        self.add_folders(2)

    def _init_checklist(self, checklist: dict[str, Any], *, n_steps: int) -> None:
        cid = checklist["id"]
        checklist.setdefault("webhook", None)
        checklist.setdefault("folder_id", None)
        checklist.setdefault("starred", False)
        checklist.setdefault("is_public", False)
        checklist.setdefault("automated_actions", [])
        self.steps[cid] = []
        self.add_steps(cid, n_steps)
        self.prerun[cid] = [
            self._kickoff(cid, 1, "Client name", "text", required=True),
            self._kickoff(cid, 2, "Start date", "date", required=False),
        ]

    def _kickoff(
        self, cid: str, pos: int, label: str, field_type: str, *, required: bool
    ) -> dict[str, Any]:
        return {
            "id": hex32(self.rng),
            "checklist_id": cid,
            "alias": label.lower().replace(" ", "-"),
            "label": label,
            "field_type": field_type,
            "guidance": None,
            "position": pos,
            "required": required,
            "options": [],
            "columns": [],
        }

    def add_steps(self, checklist_id: str, n: int) -> list[dict[str, Any]]:
        steps = self.steps.setdefault(checklist_id, [])
        added = []
        for _ in range(n):
            pos = len(steps) + 1
            verb = _STEP_VERBS[(pos - 1) % len(_STEP_VERBS)]
            step = {
                "id": step_id_for(checklist_id, pos),
                "checklist_id": checklist_id,
                "alias": f"step-{pos}",
                "title": f"{verb} step {pos}",
                "summary": None,
                "position": pos,
                "task_type": "task",
                "deadline": {"value": 2, "unit": "days"},
                "webhook": None,
                "captures": [
                    {
                        "id": hashlib.md5(
                            f"capture:{checklist_id}:{pos}".encode(), usedforsecurity=False
                        ).hexdigest(),
                        "label": f"Notes for step {pos}",
                        "field_type": "textarea",
                        "required": False,
                        "step_id": step_id_for(checklist_id, pos),
                    }
                ],
            }
            steps.append(step)
            added.append(step)
        for checklist in self.st.checklists:
            if checklist["id"] == checklist_id:
                checklist["steps_count"] = len(steps)
        return added

    def add_checklists(self, n: int, *, steps: int = 3) -> list[dict[str, Any]]:
        made = []
        for _ in range(n):
            k = len(self.st.checklists) + 1
            now = self.data.now
            checklist = {
                "id": hex32(self.rng),
                "title": f"Blueprint {k:04d}",
                "summary": None,
                "type": "procedure",
                "status": "published",
                "owner_id": self.data.me_id,
                "created_by": self.data.me_id,
                "alias": f"blueprint-{k:04d}",
                "created_at": _iso(now - 86400 * k),
                "last_updated": _iso(now - 3600 * k),
                "archived_at": None,
            }
            self.st.checklists.append(checklist)
            self._init_checklist(checklist, n_steps=steps)
            made.append(checklist)
        return made

    def add_members(self, n: int) -> list[dict[str, Any]]:
        made = []
        st = self.st
        for _ in range(n):
            uid = max(st.member_ids) + 1
            k = len(st.members)
            first, last = _FIRST[k % len(_FIRST)], _LAST[(k // len(_FIRST)) % len(_LAST)]
            member = member_row(
                uid,
                first,
                last,
                role="standard",
                timezone="UTC",
                created_at=_iso(self.data.now - 86400),
                last_login_at=None,
            )
            st.members.append(member)
            st.member_ids.append(uid)
            made.append(member)
        st.org["users_count"] = len(st.members)
        return made

    def add_guests(self, n: int, *, _first: int = 0) -> list[dict[str, Any]]:
        made = []
        for _ in range(n):
            gid = self.next_guest_id
            self.next_guest_id += 1
            k = gid - 70000 + _first
            first, last = _FIRST[k % len(_FIRST)], _LAST[(k // len(_FIRST)) % len(_LAST)]
            made.append(
                self.new_guest(f"{first.lower()}+{gid}@guest.example.org", first, last, gid=gid)
            )
        return made

    def new_guest(
        self, email: str, first: str | None, last: str | None, *, gid: int | None = None
    ) -> dict[str, Any]:
        if gid is None:
            gid = self.next_guest_id
            self.next_guest_id += 1
        guest = {
            "id": gid,
            "email": email,
            "first_name": first,
            "last_name": last,
            "status": "active",
            "details": {"company_name": None, "phone_1": None},
            "link": f"https://go.tallyfy.com/guest/{self._guest_code()}",
            "created_at": _iso(self.data.now - 86400),
        }
        self.guests[email.lower()] = guest
        return guest

    def _guest_code(self) -> str:
        """A guest code as Tallyfy puts it at the end of a guest's ``link`` (MCP's example:
        ``MITxZa1z2f5d81bb53f1da7c7fa95a2cfec5cbc2``, 8 letters/digits then 32 hex); the
        guest-tasks route is keyed by it, not by the email."""
        alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
        return "".join(self.rng.choice(alnum) for _ in range(8)) + hex32(self.rng)

    def guest_by_code(self, code: str) -> dict[str, Any] | None:
        """The guest whose ``link`` ends in ``/guest/{code}``, or ``None``."""
        for guest in self.guests.values():
            if guest_code_of(guest) == code:
                return guest
        return None

    def _add_rows(
        self, table: dict[str, dict[str, Any]], n: int, row: Callable[[int, str], dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """``n`` new rows in ``table``, keyed by a fresh hex id: ``row(k, id)`` makes the
        ``k``-th (1-based, counting what the table already holds)."""
        made = []
        for _ in range(n):
            k = len(table) + 1
            rid = hex32(self.rng)
            table[rid] = new = row(k, rid)
            made.append(new)
        return made

    def add_groups(self, n: int) -> list[dict[str, Any]]:
        now = self.data.now
        return self._add_rows(
            self.groups,
            n,
            lambda k, gid: {
                "id": gid,
                "name": f"Group {k:03d}",
                "description": None,
                "logo": None,
                "members": [self.data.me_id],
                "guests": [],
                "created_at": _iso(now - 86400 * k),
                "last_updated": _iso(now - 3600 * k),
            },
        )

    def add_tags(self, n: int) -> list[dict[str, Any]]:
        now = self.data.now
        return self._add_rows(
            self.tags,
            n,
            lambda k, tid: {
                "id": tid,
                "title": f"tag-{k:03d}",
                "color": _COLORS[k % len(_COLORS)],
                "auto_generated": False,
                "created_at": _iso(now - 86400 * k),
                "deleted_at": None,
            },
        )

    def add_folders(self, n: int, *, folder_type: str = "checklist") -> list[dict[str, Any]]:
        """``n`` folders of one tree: ``checklist`` (blueprint folders) or ``run``."""
        now = self.data.now
        return self._add_rows(
            self.folders,
            n,
            lambda k, fid: {
                "id": fid,
                "name": f"Folder {k:03d}",
                "folder_type": folder_type,
                "parent_id": None,
                "created_at": _iso(now - 86400 * k),
                "last_updated": _iso(now - 3600 * k),
            },
        )

    def add_comments(self, task_id: str, n: int, *, label: str = "comment") -> list[dict[str, Any]]:
        thread = self.threads.setdefault(task_id, [])
        made = []
        for _ in range(n):
            comment = self.new_comment(task_id, f"Comment {len(thread) + 1}", label, "open")
            made.append(comment)
        return made

    def new_comment(
        self, task_id: str, content: str, label: str, state: str, *, now: str | None = None
    ) -> dict[str, Any]:
        stamp = now or _iso(self.data.now)
        comment = {
            "id": hex32(self.rng),
            "content": content,
            "author_id": self.data.me_id,
            "author_type": "user",
            "task_id": task_id,
            "label": label,
            "state": state,
            "created_at": stamp,
            "updated_at": stamp,
            "archived_at": None,
            "resolve_id": None,
            "sent_to": [],
        }
        self.threads.setdefault(task_id, []).append(comment)
        return comment

    def add_runs(self, n: int, checklist_id: str | None = None) -> list[dict[str, Any]]:
        """Plain runs with no tasks (for list and search paging)."""
        made = []
        st = self.st
        for _ in range(n):
            checklist = (
                next(c for c in st.checklists if c["id"] == checklist_id)
                if checklist_id
                else st.checklists[len(st.runs) % len(st.checklists)]
            )
            made.append(self.new_run(checklist, name=None, summary=None, created=None))
        return made

    def new_run(
        self,
        checklist: dict[str, Any],
        *,
        name: str | None,
        summary: str | None,
        created: str | None,
        owner_id: int | None = None,
        prerun: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        st = self.st
        r = len(st.runs)
        stamp = created or _iso(self.data.now - 86400 + r)
        owner = owner_id or self.data.me_id
        run = {
            "id": hex32(self.rng),
            "increment_id": 500 + r,
            "checklist_id": checklist["id"],
            "checklist_title": checklist["title"],
            "name": name or f"{checklist['title']} - #{r + 1}",
            "summary": summary,
            "status": "active",
            "owner_id": owner,
            "started_by": owner,
            "type": checklist.get("type", "procedure"),
            "starred": False,
            "is_public": False,
            "collaborators": [],
            "prerun": prerun or {},
            "created_at": stamp,
            "started_at": stamp,
            "last_updated": stamp,
            "completed_at": None,
            "archived_at": None,
        }
        st.runs.append(run)
        st.run_index[run["id"]] = r
        return run

    # ------------------------------------------------------------------ tasks
    @property
    def hidden(self) -> set[int]:
        """Task indices left out of every list (archived or deleted one-off tasks)."""
        return self.st.hidden

    def run_task_indices(self, r: int) -> list[int]:
        st = self.st
        hidden = self.hidden
        idx = [i for i in range(st.task_count) if st.run[i] == r and i not in hidden]
        idx.sort(key=lambda i: st.position[i])
        return idx


def append_task(
    data: FakeData,
    st: OrgState,
    *,
    task_id: str,
    title: str,
    run: int,
    position: int,
    owners: dict[str, list[Any]],
    deadline: int,
    created: int,
    task_type: str = "task",
    status: int = NOT_STARTED,
    overlay: dict[str, Any] | None = None,
) -> int:
    """Append one task to the columnar store; its title and full owners live in the overlay."""
    users = [u for u in owners.get("users", []) if isinstance(u, int)]
    flags = (F_ONEOFF if run < 0 else 0) | (F_MINE if data.me_id in users else 0)
    st.ids.append(task_id)
    st.status.append(status)
    st.flags.append(flags)
    st.task_type.append(TYPE_TO_CODE.get(task_type, 0))
    st.title_code.append(0)
    st.owner1.append(users[0] if users else 0)
    st.owner2.append(users[1] if len(users) > 1 else 0)
    st.deadline.append(deadline)
    st.created.append(created)
    st.run.append(run)
    st.position.append(position)
    i = len(st.ids) - 1
    st.id_index[task_id] = i
    st.overlay[i] = {
        "title": title,
        "original_title": title,
        "task_type": task_type,
        "owners": {
            "users": users,
            "guests": list(owners.get("guests", [])),
            "groups": list(owners.get("groups", [])),
        },
        **(overlay or {}),
    }
    st.forget_lists()
    return i


def set_owners(data: FakeData, st: OrgState, i: int, owners: dict[str, list[Any]]) -> None:
    """Replace a task's owners (columns, the "mine" flag and the overlay)."""
    users = [u for u in owners.get("users", []) if isinstance(u, int)]
    st.owner1[i] = users[0] if users else 0
    st.owner2[i] = users[1] if len(users) > 1 else 0
    if data.me_id in users:
        st.flags[i] |= F_MINE
    else:
        st.flags[i] &= ~F_MINE & 0xFF
    over = st.overlay.setdefault(i, {})
    over["owners"] = {
        "users": users,
        "guests": list(owners.get("guests", [])),
        "groups": list(owners.get("groups", [])),
    }
    st.forget_lists()
    st.forget_task(i)


def overlay_task(st: OrgState, i: int, fields: dict[str, Any]) -> None:
    st.overlay.setdefault(i, {}).update(fields)
    st.forget_task(i)


def guest_code_of(guest: dict[str, Any]) -> str | None:
    """The path segment after ``/guest/`` in the guest's ``link`` (how the official SDK's
    ``Guest._extract_guest_id`` reads it)."""
    parts = str(guest.get("link") or "").rstrip("/").split("/")
    if "guest" in parts and parts.index("guest") + 1 < len(parts):
        return parts[parts.index("guest") + 1]
    return None


def area(data: FakeData, st: OrgState) -> Area:
    """The org's ``Area``, created and seeded on first use."""
    if st.area is not None:
        return st.area
    made = st.area = Area(data=data, st=st, rng=data.rng(f"org:{st.index}:areas"))
    made.seed()
    return made


def area_of(fake: FakeTallyfy, org_id: str) -> Area:
    """The ``Area`` of ``org_id`` in a running fake (for seeding and assertions in tests)."""
    st = fake.data.org_state(org_id)
    if st is None:
        raise KeyError(f"unknown org {org_id!r}")
    return area(fake.data, st)


def _iso(ts: float) -> str:
    return iso(int(ts)) or ""


STATUS_CODES = {"not-started": NOT_STARTED, "in-progress": IN_PROGRESS, "completed": COMPLETED}
