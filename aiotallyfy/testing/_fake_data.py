"""Seeded, deterministic data model behind :class:`~aiotallyfy.testing.FakeTallyfy`.

Everything is derived from ``seed``: the same arguments always give the same users, orgs,
runs and tasks (ids included).  Tasks are stored column-wise (a few bytes per task) and
turned into full Tallyfy-shaped dicts only when asked for, so a fake with 200,000 tasks
starts in about a second and stays small.

Task semantics (documented choices):

* statuses: ``not-started``, ``in-progress``, ``completed`` (roughly 35/35/30 %);
* "active" and "incomplete" mean *not completed*; "inprogress" means ``in-progress`` only;
* "overdue": not completed and ``deadline < now``;
* "due_soon": not completed and ``now <= deadline < now + DUE_SOON_SECONDS`` (7 days);
* "hasproblem": not completed and ``problem`` is true;
* ``now`` is a fixed reference instant (:attr:`FakeData.now`, default 2026-01-15T12:00:00Z),
  so filters never depend on the wall clock;
* about half of every org's tasks are owned by "me" (:attr:`FakeData.me_id`); about one in
  five tasks is a one-off task (``run_id`` null, ``is_oneoff_task`` true).  The first six
  tasks of every org follow a fixed pattern so even tiny orgs have my tasks in every status,
  one-off tasks, an overdue task of mine and a due-soon task of mine.

Other engineers can extend the model: :meth:`FakeData.rng` gives a deterministic RNG per
namespace, :meth:`FakeData.org_state` gives the per-org state (its typed ``area`` holds the
resource areas' records, see ``_fake_store``).
"""

from __future__ import annotations

import bisect
import calendar
import functools
import hashlib
import math
import random
import time as _time
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

import orjson

if TYPE_CHECKING:
    from ._fake_store import Area

__all__ = [
    "DUE_SOON_SECONDS",
    "ME_TASK_STATUSES",
    "ORG_TASK_STATUSES",
    "FakeData",
    "OrgState",
    "hex32",
    "iso",
]

DUE_SOON_SECONDS: Final = 7 * 24 * 3600
STATUS_NAMES: Final = ("not-started", "in-progress", "completed")
STATUS_LABELS: Final = ("Not Started", "In Progress", "Completed")
NOT_STARTED: Final = 0
IN_PROGRESS: Final = 1
COMPLETED: Final = 2

F_MINE: Final = 1
F_ONEOFF: Final = 2
F_PROBLEM: Final = 4

TASK_TYPES: Final = ("task", "approval", "expiring")

ME_TASK_STATUSES: Final = frozenset(
    {"active", "completed", "all", "overdue", "due_soon", "hasproblem"}
)
"""Accepted ``status`` values of ``GET /organizations/{org}/me/tasks``."""
ORG_TASK_STATUSES: Final = frozenset(
    {
        "active",
        "complete",
        "completed",
        "incomplete",
        "inprogress",
        "not-started",
        "overdue",
        "due_soon",
        "hasproblem",
        "all",
    }
)
"""Accepted ``status`` values of ``GET /organizations/{org}/tasks``."""

_VERBS: Final = (
    "Review", "Approve", "Prepare", "Send", "Check", "Update", "Draft", "Verify",
    "Schedule", "Collect", "Sign", "File", "Publish", "Audit", "Confirm", "Archive",
)  # fmt: skip
_NOUNS: Final = (
    "proposal", "invoice", "contract", "onboarding checklist", "expense report",
    "purchase order", "NDA", "welcome email", "budget", "timesheet", "press release",
    "vendor form", "security review", "offer letter", "meeting notes", "quarterly report",
)  # fmt: skip
_FIRST: Final = (
    "Alice", "Bob", "Carla", "Deepak", "Elena", "Farid", "Grace", "Hiro",
    "Ines", "Jonas", "Kemi", "Luca", "Maya", "Nils", "Olga", "Pavel",
)  # fmt: skip
_LAST: Final = (
    "Smith", "Okafor", "Tanaka", "Garcia", "Novak", "Haddad", "Kim", "Jensen",
    "Rossi", "Dubois", "Silva", "Kowalski", "Ahmed", "Larsen", "Moreau", "Patel",
)  # fmt: skip
_COMPANIES: Final = (
    "Acme", "Globex", "Initech", "Umbrella", "Hooli", "Stark", "Wayne", "Wonka",
    "Tyrell", "Cyberdyne", "Soylent", "Vandelay", "Aperture", "Gringotts",
)  # fmt: skip
_INDUSTRIES: Final = ("Technology", "Healthcare", "Finance", "Education", "Retail", "Legal")
_TIMEZONES: Final = ("UTC", "Europe/London", "America/Chicago", "Asia/Tokyo", "Europe/Berlin")
_CHECKLIST_TITLES: Final = (
    "Employee Onboarding", "Client Intake", "Invoice Approval", "Vendor Setup",
    "Content Publishing", "Quarterly Audit",
)  # fmt: skip

DEFAULT_NOW: Final = datetime(2026, 1, 15, 12, 0, 0, tzinfo=UTC)


def iso(ts: float | None) -> str | None:
    """Format a unix timestamp as Tallyfy's ISO-8601 Zulu form ``2025-05-15T14:30:00.000Z``."""
    if ts is None:
        return None
    if isinstance(ts, int):
        return _iso_int(ts)
    return _iso_float(ts)


@functools.lru_cache(maxsize=1 << 16)
def _iso_int(ts: int) -> str:
    return _time.strftime("%Y-%m-%dT%H:%M:%S.000Z", _time.gmtime(ts))


def _iso_float(ts: float) -> str:
    whole = math.floor(ts)
    millis = round((ts - whole) * 1000)
    if millis >= 1000:
        whole, millis = whole + 1, 0
    return _time.strftime("%Y-%m-%dT%H:%M:%S", _time.gmtime(whole)) + f".{millis:03d}Z"


_TITLES: Final = tuple(f"{_VERBS[c & 0xF]} {_NOUNS[c >> 4]}" for c in range(256))
_TITLES_LOWER: Final = tuple(t.lower() for t in _TITLES)


def member_row(
    uid: int,
    first: str,
    last: str,
    *,
    role: str,
    timezone: str,
    created_at: str | None,
    last_login_at: str | None,
) -> dict[str, Any]:
    """A member as the fake serves it: the one place that names a member's fields, for the
    seeded orgs and for ``FakeStore.add_members`` alike."""
    return {
        "id": uid,
        "email": f"{first.lower()}.{last.lower()}.{uid}@example.com",
        "username": f"{first.lower()}{uid}",
        "first_name": first,
        "last_name": last,
        "full_name": f"{first} {last}",
        "profile_pic": None,
        "role": role,
        "status": "active",
        "timezone": timezone,
        "created_at": created_at,
        "last_login_at": last_login_at,
    }


def hex32(rng: random.Random) -> str:
    """A 32-hex-digit id, the shape of Tallyfy's ids, from a seeded RNG."""
    return f"{rng.getrandbits(128):032x}"


def _slug(text: str) -> str:
    out = "".join(c if c.isalnum() else "-" for c in text.lower())
    while "--" in out:
        out = out.replace("--", "-")
    return out.strip("-")


_ALIASES: Final = tuple(_slug(t) for t in _TITLES)


@dataclass(eq=False)
class OrgState:
    """Everything the fake knows about one organization (columnar task storage)."""

    index: int
    org: dict[str, Any]
    forbidden: bool
    members: list[dict[str, Any]]
    member_ids: list[int]
    checklists: list[dict[str, Any]]
    runs: list[dict[str, Any]]
    run_index: dict[str, int]
    # --- task columns (index = position in the org's task order) ---
    ids: list[str] = field(default_factory=list)
    status: bytearray = field(default_factory=bytearray)
    flags: bytearray = field(default_factory=bytearray)
    task_type: bytearray = field(default_factory=bytearray)
    title_code: bytearray = field(default_factory=bytearray)
    owner2: array[int] = field(default_factory=lambda: array("q"))  # second owner or 0
    owner1: array[int] = field(default_factory=lambda: array("q"))  # first owner
    deadline: array[int] = field(default_factory=lambda: array("q"))  # unix seconds
    created: array[int] = field(default_factory=lambda: array("q"))  # unix seconds
    run: array[int] = field(default_factory=lambda: array("l"))  # run index or -1
    position: array[int] = field(default_factory=lambda: array("l"))
    increment_base: int = 1000
    id_index: dict[str, int] = field(default_factory=dict)
    overlay: dict[int, dict[str, Any]] = field(default_factory=dict)
    """Per-task field overrides written by mutations (completed_at, completer_id, ...)."""
    hidden: set[int] = field(default_factory=set)
    """Task indices left out of every list (archived or deleted tasks, ``_fake_task_writes``)."""
    area: Area | None = None
    """The org's guests, groups, tags, folders, steps, ... (``_fake_store.area``; created and
    seeded on first use)."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Module-private state of single route modules (design, watchers, custom-field keys)."""
    _cache: dict[tuple[str, ...], list[int]] = field(default_factory=dict)
    _json_cache: dict[int, bytes] = field(default_factory=dict)

    def forget_lists(self) -> None:
        """Drop every cached filter list: call after a change to columns a filter reads."""
        self._cache.clear()

    def forget_task(self, i: int) -> None:
        """Drop task ``i``'s cached JSON: call after a change to its fields or overlay."""
        self._json_cache.pop(i, None)

    @property
    def id(self) -> str:
        return str(self.org["id"])

    @property
    def task_count(self) -> int:
        return len(self.ids)


Predicate = Callable[[OrgState, int], bool]


class FakeData:
    """The seeded data set served by the fake.

    ``tasks_per_org`` is an int (same count for every org) or a sequence with one count per
    org.  The last ``forbidden_orgs`` organizations are listed by ``GET /me/organizations``
    but answer 403 on every ``/organizations/{org}/...`` route.
    """

    JSON_CACHE_LIMIT: int = 50_000

    def __init__(
        self,
        *,
        orgs: int = 3,
        tasks_per_org: int | Sequence[int] = 25,
        seed: int = 0,
        forbidden_orgs: int = 0,
        now: datetime | None = None,
        members_per_org: int = 4,
        tasks_per_run: int = 5,
    ) -> None:
        if orgs < 0:
            raise ValueError("orgs must be >= 0")
        if isinstance(tasks_per_org, int):
            counts = [tasks_per_org] * orgs
        else:
            counts = [int(c) for c in tasks_per_org]
            if len(counts) != orgs:
                raise ValueError(f"tasks_per_org has {len(counts)} entries, expected {orgs}")
        if any(c < 0 for c in counts):
            raise ValueError("task counts must be >= 0")
        if not 0 <= forbidden_orgs <= orgs:
            raise ValueError("forbidden_orgs must be within [0, orgs]")
        if tasks_per_run < 1:
            raise ValueError("tasks_per_run must be >= 1")
        self.seed = seed
        self.now_dt = now or DEFAULT_NOW
        self.now: int = calendar.timegm(self.now_dt.utctimetuple())
        """Reference instant (unix seconds) for overdue / due-soon filters."""
        self._tasks_per_run = tasks_per_run
        self._members_per_org = max(0, members_per_org)
        self._completions: Counter[str] = Counter()
        self._reopens: Counter[str] = Counter()
        self._preds = self._build_predicates()

        rng = self.rng("me")
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        self.me_id: int = 1000 + rng.randrange(9000)
        self.me: dict[str, Any] = {
            "id": self.me_id,
            "email": f"{first.lower()}.{last.lower()}@example.com",
            "username": f"{first.lower()}{last.lower()}",
            "first_name": first,
            "last_name": last,
            "full_name": f"{first} {last}",
            "profile_pic": None,
            "timezone": rng.choice(_TIMEZONES),
            "created_at": iso(self.now - 400 * 86400),
            "last_login_at": iso(self.now - 3600),
        }
        self._orgs: list[OrgState] = []
        self._by_id: dict[str, OrgState] = {}
        for k, count in enumerate(counts):
            state = self._make_org(k, count, forbidden=k >= orgs - forbidden_orgs)
            self._orgs.append(state)
            self._by_id[state.id] = state

    # ------------------------------------------------------------------ generation
    def rng(self, namespace: str) -> random.Random:
        """A deterministic RNG for ``namespace`` (stable across runs and Python versions)."""
        return random.Random(f"aiotallyfy-fake:{self.seed}:{namespace}")

    def _make_org(self, k: int, n_tasks: int, *, forbidden: bool) -> OrgState:
        rng = self.rng(f"org:{k}")
        org_id = hex32(rng)
        company = f"{_COMPANIES[k % len(_COMPANIES)]}" + (
            f" {k // len(_COMPANIES) + 1}" if k >= len(_COMPANIES) else ""
        )
        name = f"{company} {rng.choice(('Inc', 'Ltd', 'GmbH', 'LLC', 'Group'))}"
        created = self.now - rng.randrange(200, 1500) * 86400
        # members: me + others with unique int ids
        members = [dict(self.me, role="admin" if not forbidden else "light", status="active")]
        member_ids = [self.me_id]
        used = {self.me_id}
        for _ in range(self._members_per_org):
            uid = 10000 + rng.randrange(90000)
            while uid in used:
                uid += 1
            used.add(uid)
            first, last = rng.choice(_FIRST), rng.choice(_LAST)
            member_ids.append(uid)
            members.append(
                member_row(
                    uid,
                    first,
                    last,
                    role=rng.choice(("standard", "standard", "light", "admin")),
                    timezone=rng.choice(_TIMEZONES),
                    created_at=iso(created + rng.randrange(1, 100) * 86400),
                    last_login_at=iso(self.now - rng.randrange(1, 100) * 3600),
                )
            )
        org: dict[str, Any] = {
            "id": org_id,
            "name": name,
            "description": f"{name} workspace",
            "address1": f"{rng.randrange(1, 999)} Main Street",
            "address2": None,
            "slug": _slug(name),
            "industry": rng.choice(_INDUSTRIES),
            "welcome_title": f"Welcome to {name}",
            "welcome_description": None,
            "created_on": iso(created),
            "last_updated": iso(created + 86400 * 30),
            "live_support_enabled": 0,
            "org_logo": None,
            "settings": {},
            "country": "US",
            "state": "NY",
            "city": "New York",
            "zipcode": "10001",
            "users_count": len(members),
            "payment_state": "active",
            "team_size": "11-50",
            "signup_survey": None,
            "timezone": rng.choice(_TIMEZONES),
            "user_status": "active",
            "joined_on": iso(created + 86400),
            "disabled_on": None,
            "last_accessed": iso(self.now - 7200),
            "user_role": "light" if forbidden else "admin",
        }
        checklists = []
        for c in range(3):
            title = _CHECKLIST_TITLES[(k + c) % len(_CHECKLIST_TITLES)]
            checklists.append(
                {
                    "id": hex32(rng),
                    "title": title,
                    "summary": f"{title} procedure",
                    "type": "procedure",
                    "status": "published",
                    "owner_id": member_ids[c % len(member_ids)],
                    "created_by": member_ids[c % len(member_ids)],
                    "alias": _slug(title),
                    "created_at": iso(created + 86400 * (c + 2)),
                    "last_updated": iso(created + 86400 * (c + 40)),
                    "archived_at": None,
                }
            )
        state = OrgState(
            index=k,
            org=org,
            forbidden=forbidden,
            members=members,
            member_ids=member_ids,
            checklists=checklists,
            runs=[],
            run_index={},
            increment_base=1000 + 10 * k,
        )
        self._make_tasks(state, n_tasks)
        return state

    def _make_tasks(self, st: OrgState, n: int) -> None:
        trng = self.rng(f"org:{st.index}:tasks")
        rrng = self.rng(f"org:{st.index}:runs")
        bits = trng.getrandbits
        others = st.member_ids[1:]
        n_others = len(others)
        me = self.me_id
        now = self.now
        per_run = self._tasks_per_run
        ids, status, flags = st.ids, st.status, st.flags
        ttype, tcode = st.task_type, st.title_code
        owner1, owner2 = st.owner1, st.owner2
        deadline, created, run, position = st.deadline, st.created, st.run, st.position
        pattern_status = (IN_PROGRESS, COMPLETED, NOT_STARTED, IN_PROGRESS, COMPLETED, NOT_STARTED)
        process_count = 0
        for i in range(n):
            ids.append(f"{bits(128):032x}")
            a = bits(64)
            if i < 6:
                s = pattern_status[i]
                mine = i % 2 == 0
                oneoff = i in (2, 5)
            else:
                roll = a & 0xFF
                s = COMPLETED if roll < 77 else IN_PROGRESS if roll < 166 else NOT_STARTED
                mine = (a >> 8) & 1 == 1
                oneoff = (a >> 9) & 0xF < 3
            mine = mine or not n_others  # nobody else to own it
            f = (F_MINE if mine else 0) | (F_ONEOFF if oneoff else 0)
            if s != COMPLETED and (a >> 13) & 0x1F == 0:
                f |= F_PROBLEM
            if i == 0:
                dl = now - 2 * 86400  # my overdue active task
            elif i == 2:
                dl = now + 86400  # my due-soon task
            else:
                dl = now + ((a >> 18) & 0xFFFF) % (60 * 24) * 3600 - 30 * 86400
            created.append(dl - (1 + (a >> 34) % 14) * 86400)
            deadline.append(dl)
            other = others[(a >> 38) % n_others] if n_others else me
            if mine:
                owner1.append(me)
                owner2.append(other if (a >> 46) & 3 == 0 else 0)
            else:
                owner1.append(other)
                second = others[(a >> 48) % n_others] if n_others else 0
                owner2.append(second if (a >> 46) & 3 == 0 and second != other else 0)
            status.append(s)
            flags.append(f)
            t = (a >> 50) & 0xF
            ttype.append(1 if t == 0 else 2 if t == 1 else 0)
            tcode.append((a >> 54) & 0xFF)
            if oneoff:
                run.append(-1)
                position.append(1)
            else:
                r = process_count // per_run
                if r == len(st.runs):
                    self._add_run(st, rrng, created[-1])
                run.append(r)
                position.append(process_count % per_run + 1)
                process_count += 1
        st.id_index = {tid: i for i, tid in enumerate(ids)}

    def _add_run(self, st: OrgState, rng: random.Random, started: int) -> None:
        r = len(st.runs)
        checklist = st.checklists[r % len(st.checklists)]
        run_id = hex32(rng)
        owner = st.member_ids[r % len(st.member_ids)]
        st.runs.append(
            {
                "id": run_id,
                "increment_id": 500 + r,
                "checklist_id": checklist["id"],
                "checklist_title": checklist["title"],
                "name": f"{checklist['title']} - #{r + 1}",
                "summary": None,
                "status": "active",
                "owner_id": owner,
                "started_by": owner,
                "type": "procedure",
                "starred": False,
                "is_public": False,
                "collaborators": [],
                "created_at": iso(started),
                "started_at": iso(started),
                "last_updated": iso(started + 3600),
                "completed_at": None,
                "archived_at": None,
            }
        )
        st.run_index[run_id] = r

    # ------------------------------------------------------------------ lookups
    @property
    def org_ids(self) -> list[str]:
        """All org ids the user belongs to (including forbidden ones), in list order."""
        return [s.id for s in self._orgs]

    @property
    def forbidden_org_ids(self) -> list[str]:
        """Org ids that are listed but answer 403."""
        return [s.id for s in self._orgs if s.forbidden]

    @property
    def accessible_org_ids(self) -> list[str]:
        return [s.id for s in self._orgs if not s.forbidden]

    def org_states(self) -> list[OrgState]:
        return list(self._orgs)

    def org_state(self, org_id: str) -> OrgState | None:
        return self._by_id.get(org_id)

    def organizations(self) -> list[dict[str, Any]]:
        return [s.org for s in self._orgs]

    def organization(self, org_id: str) -> dict[str, Any] | None:
        st = self._by_id.get(org_id)
        return None if st is None else st.org

    def members(self, org_id: str) -> list[dict[str, Any]]:
        return list(self._require(org_id).members)

    def runs(self, org_id: str) -> list[dict[str, Any]]:
        return list(self._require(org_id).runs)

    def run(self, org_id: str, run_id: str) -> dict[str, Any] | None:
        st = self._require(org_id)
        r = st.run_index.get(run_id)
        return None if r is None else st.runs[r]

    def task_ids(self, org_id: str) -> list[str]:
        return list(self._require(org_id).ids)

    def task_index(self, org_id: str, task_id: str) -> int | None:
        st = self._by_id.get(org_id)
        return None if st is None else st.id_index.get(task_id)

    def _require(self, org_id: str) -> OrgState:
        st = self._by_id.get(org_id)
        if st is None:
            raise KeyError(f"unknown org {org_id!r}")
        return st

    # ------------------------------------------------------------------ task dicts
    def task_at(self, st: OrgState, i: int) -> dict[str, Any]:
        """Materialize task ``i`` of ``st`` as a fresh Tallyfy-shaped dict."""
        s = st.status[i]
        f = st.flags[i]
        code = st.title_code[i]
        title = _TITLES[code]
        r = st.run[i]
        run = st.runs[r] if r >= 0 else None
        checklist_id = run["checklist_id"] if run is not None else None
        pos = st.position[i]
        step_id = (
            hashlib.md5(f"{checklist_id}:{pos}".encode(), usedforsecurity=False).hexdigest()
            if checklist_id is not None
            else None
        )
        users = [st.owner1[i]]
        if st.owner2[i]:
            users.append(st.owner2[i])
        created = st.created[i]
        dl = st.deadline[i]
        completed = s == COMPLETED
        completed_at = iso(min(dl, self.now) - 3600) if completed else None
        task: dict[str, Any] = {
            "id": st.ids[i],
            "increment_id": st.increment_base + i,
            "title": title,
            "original_title": title,
            "alias": _ALIASES[code] if run is not None else None,
            "run_id": run["id"] if run is not None else None,
            "checklist_id": checklist_id,
            "step_id": step_id,
            "linked_step_id": None,
            "status": STATUS_NAMES[s],
            "status_label": STATUS_LABELS[s],
            "task_type": TASK_TYPES[st.task_type[i]],
            "is_oneoff_task": bool(f & F_ONEOFF),
            "owners": {"users": users, "guests": [], "groups": []},
            "position": pos,
            "blueprint_position": pos if run is not None else None,
            "started_at": iso(created),
            "deadline": iso(dl),
            "created_at": iso(created),
            "last_updated": iso(created + 3600),
            "completed_at": completed_at,
            "archived_at": None,
            "starter_id": st.owner1[i] if run is None else run["started_by"],
            "completer_id": st.owner1[i] if completed else None,
            "completer_guest_id": None,
            "is_completable": True,
            "is_approved": True if completed and st.task_type[i] == 1 else None,
            "everyone_must_complete": False,
            "can_complete_only_assignees": False,
            "prevent_guest_comment": False,
            "problem": bool(f & F_PROBLEM) and not completed,
            "is_soft_start_date": True,
            "has_deadline_dependent_child_tasks": False,
            "allow_guest_owners": False,
            "top_secret": False,
            "max_assignable": 0,
            "taskdata": {},
            "webhook": None,
            "stage_id": None,
            "run_status": run["status"] if run is not None else None,
        }
        over = st.overlay.get(i)
        if over:
            task.update(over)
        return task

    def task_json(self, st: OrgState, i: int) -> bytes:
        """Serialized form of :meth:`task_at` (cached; invalidated by mutations)."""
        cache = st._json_cache
        raw = cache.get(i)
        if raw is None:
            if len(cache) >= self.JSON_CACHE_LIMIT:
                cache.clear()
            # Copied: orjson hands back bytes with kilobytes of spare capacity, which a cache
            # of thousands of entries turns into hundreds of megabytes.
            raw = cache[i] = bytes(memoryview(orjson.dumps(self.task_at(st, i))))
        return raw

    def task(self, org_id: str, task_id: str) -> dict[str, Any] | None:
        """One task by id, or ``None``."""
        st = self._by_id.get(org_id)
        if st is None:
            return None
        i = st.id_index.get(task_id)
        return None if i is None else self.task_at(st, i)

    def title_of(self, st: OrgState, i: int) -> str:
        return _TITLES[st.title_code[i]]

    # ------------------------------------------------------------------ filtering
    def _build_predicates(self) -> dict[str, Predicate]:
        now = self.now
        soon = now + DUE_SOON_SECONDS
        return {
            "mine": lambda st, i: bool(st.flags[i] & F_MINE),
            "all": lambda st, i: True,
            "active": lambda st, i: st.status[i] != COMPLETED,
            "incomplete": lambda st, i: st.status[i] != COMPLETED,
            "completed": lambda st, i: st.status[i] == COMPLETED,
            "complete": lambda st, i: st.status[i] == COMPLETED,
            "inprogress": lambda st, i: st.status[i] == IN_PROGRESS,
            "not-started": lambda st, i: st.status[i] == NOT_STARTED,
            "overdue": lambda st, i: st.status[i] != COMPLETED and st.deadline[i] < now,
            "due_soon": lambda st, i: st.status[i] != COMPLETED and now <= st.deadline[i] < soon,
            "hasproblem": lambda st, i: st.status[i] != COMPLETED and bool(st.flags[i] & F_PROBLEM),
            "oneoff:true": lambda st, i: bool(st.flags[i] & F_ONEOFF),
            "oneoff:false": lambda st, i: not st.flags[i] & F_ONEOFF,
        }

    def _matches(self, st: OrgState, i: int, key: tuple[str, ...]) -> bool:
        preds = self._preds
        return all(preds[k](st, i) for k in key)

    def indices(self, st: OrgState, key: tuple[str, ...]) -> list[int]:
        """Sorted task indices of ``st`` matching every predicate name in ``key`` (cached).

        Names: ``mine``, ``all``, the status names of :data:`ORG_TASK_STATUSES` /
        :data:`ME_TASK_STATUSES`, ``oneoff:true`` / ``oneoff:false``.  Do not mutate the result.
        """
        cached = st._cache.get(key)
        if cached is not None:
            return cached
        names = [k for k in key if k != "all"]
        preds = [self._preds[k] for k in names]
        rng = range(st.task_count)
        if not preds:
            result = list(rng)
        elif len(preds) == 1:
            p = preds[0]
            result = [i for i in rng if p(st, i)]
        else:
            # narrow with the first predicate's cached list, then filter
            base = self.indices(st, (names[0],))
            rest = preds[1:]
            result = [i for i in base if all(p(st, i) for p in rest)]
        st._cache[key] = result
        return result

    def select(
        self,
        org_id: str,
        *,
        mine: bool,
        status: str | None,
        is_oneoff: bool | None = None,
        owners: Iterable[int] | None = None,
        q: str | None = None,
    ) -> list[int]:
        """Task indices for a list route (filters composed; base sets cached)."""
        st = self._require(org_id)
        key: list[str] = ["mine"] if mine else []
        if status is not None and status != "all":
            key.append(status)
        if is_oneoff is not None:
            key.append("oneoff:true" if is_oneoff else "oneoff:false")
        result = self.indices(st, tuple(key) if key else ("all",))
        if owners is not None:
            wanted = set(owners)
            o1, o2 = st.owner1, st.owner2
            result = [i for i in result if o1[i] in wanted or (o2[i] and o2[i] in wanted)]
        if q:
            needle = q.lower()
            hits = [needle in t for t in _TITLES_LOWER]
            codes = st.title_code
            result = [i for i in result if hits[codes[i]]]
        hidden = st.hidden
        if hidden:  # archived / deleted tasks (see _fake_store): left out of lists
            result = [i for i in result if i not in hidden]
        return result

    def counts(self, org_id: str, *, mine: bool) -> tuple[int, int]:
        """``(overdue_tasks, tasks_due_soon)`` for my tasks or all org tasks."""
        st = self._require(org_id)
        base = ("mine",) if mine else ()
        return (
            len(self.indices(st, (*base, "overdue"))),
            len(self.indices(st, (*base, "due_soon"))),
        )

    def my_tasks(self, org_id: str, status: str = "all") -> list[dict[str, Any]]:
        """My tasks in ``org_id`` as dicts (``status`` as for ``/me/tasks``; default all)."""
        if status not in ME_TASK_STATUSES:
            raise ValueError(f"unknown status {status!r}")
        st = self._require(org_id)
        return [self.task_at(st, i) for i in self.select(org_id, mine=True, status=status)]

    def org_tasks(
        self,
        org_id: str,
        status: str | None = None,
        *,
        is_oneoff: bool | None = None,
        owners: Iterable[int] | None = None,
        q: str | None = None,
    ) -> list[dict[str, Any]]:
        """All tasks of ``org_id`` as dicts, filtered like ``GET /organizations/{org}/tasks``."""
        if status is not None and status not in ORG_TASK_STATUSES:
            raise ValueError(f"unknown status {status!r}")
        st = self._require(org_id)
        idx = self.select(
            org_id, mine=False, status=status, is_oneoff=is_oneoff, owners=owners, q=q
        )
        return [self.task_at(st, i) for i in idx]

    # ------------------------------------------------------------------ mutation
    def set_status(self, st: OrgState, i: int, status: int, overlay: dict[str, Any] | None) -> None:
        """Change a task's status, keeping every cached filter list consistent."""
        before = {key: self._matches(st, i, key) for key in st._cache}
        st.status[i] = status
        if overlay is None:
            st.overlay.pop(i, None)
        else:
            st.overlay[i] = {**st.overlay.get(i, {}), **overlay}
        st._json_cache.pop(i, None)
        for key, lst in st._cache.items():
            now_in = self._matches(st, i, key)
            if now_in == before[key]:
                continue
            pos = bisect.bisect_left(lst, i)
            if now_in:
                lst.insert(pos, i)
            elif pos < len(lst) and lst[pos] == i:
                del lst[pos]

    def complete_task(
        self,
        org_id: str,
        task_id: str,
        *,
        completer_id: int,
        completed_at: str,
        is_approved: bool | None = None,
    ) -> dict[str, Any]:
        """Mark a task completed (counts a completion). Raises ``KeyError``/``ValueError``."""
        st = self._require(org_id)
        i = st.id_index[task_id]
        if st.status[i] == COMPLETED:
            raise ValueError("already completed")
        self.set_status(
            st,
            i,
            COMPLETED,
            {
                "completed_at": completed_at,
                "completer_id": completer_id,
                "last_updated": completed_at,
                "is_approved": is_approved,
                "problem": False,
            },
        )
        self._completions[task_id] += 1
        return self.task_at(st, i)

    def reopen_task(self, org_id: str, task_id: str, *, updated_at: str) -> dict[str, Any]:
        """Reopen a completed task (status ``in-progress``). Raises ``KeyError``/``ValueError``."""
        st = self._require(org_id)
        i = st.id_index[task_id]
        if st.status[i] != COMPLETED:
            raise ValueError("not completed")
        self.set_status(
            st,
            i,
            IN_PROGRESS,
            {
                "completed_at": None,
                "completer_id": None,
                "completer_guest_id": None,
                "is_approved": None,
                "last_updated": updated_at,
            },
        )
        self._reopens[task_id] += 1
        return self.task_at(st, i)

    def completion_count(self, task_id: str) -> int:
        """How many times the fake completed ``task_id`` (successful POSTs)."""
        return self._completions[task_id]

    def reopen_count(self, task_id: str) -> int:
        """How many times the fake reopened ``task_id`` (successful DELETEs)."""
        return self._reopens[task_id]

    @property
    def completions(self) -> Counter[str]:
        """Copy of the completion counter (task id -> count)."""
        return Counter(self._completions)
