"""The command line, end to end against FakeTallyfy: ``amain(argv)`` awaited in the fake's loop.

Subprocess runs (``python -m aiotallyfy``: exit codes, SIGINT, the fake-server command) are in
``test_cli_subprocess.py``.
"""

from __future__ import annotations

import asyncio
import csv
import io
import re
from pathlib import Path
from typing import Any

import orjson
import pytest

from aiotallyfy.cli import _progress, amain
from aiotallyfy.cli._export import CSV_COLUMNS, AtomicOutput
from aiotallyfy.testing import FakeTallyfy, enable_oauth

TOKEN_ENV = "TALLYFY_API_TOKEN"


class TTY(io.StringIO):
    """A stderr that says it is a terminal."""

    def isatty(self) -> bool:
        return True


class Run:
    def __init__(self, code: int, out: bytes, err: str) -> None:
        self.code = code
        self.out = out
        self.err = err

    def lines(self) -> list[dict[str, Any]]:
        return [orjson.loads(line) for line in self.out.splitlines()]


async def cli(
    *argv: str,
    fake: FakeTallyfy | None = None,
    token: str | None = None,
    env: dict[str, str] | None = None,
    stderr: io.StringIO | None = None,
) -> Run:
    environ = dict(env or {})
    if fake is not None:
        environ.setdefault("TALLYFY_BASE_URL", fake.base_url)
        environ.setdefault(TOKEN_ENV, fake.token if token is None else token)
    out = io.BytesIO()
    err = stderr if stderr is not None else io.StringIO()
    code = await amain(list(argv), environ=environ, stdout=out, stderr=err)
    return Run(code, out.getvalue(), err.getvalue())


def expected_tasks(fake: FakeTallyfy, org_ids: list[str], *, mine: bool = False) -> list[Any]:
    rows = []
    for org_id in org_ids:
        tasks = fake.data.my_tasks(org_id, "all") if mine else fake.data.org_tasks(org_id)
        rows += [dict(t, organization_id=org_id) for t in tasks]
    return rows


def org_wide_requests(fake: FakeTallyfy) -> int:
    """Requests of an org-wide export (``tasks.list_every``) of every org of ``fake``: the
    pages of ``status=incomplete`` and ``status=complete`` (an empty view is one page) and one
    probe of the default view per org."""
    count = 0
    for org_id in fake.data.org_ids:
        done = len(fake.data.org_tasks(org_id, "complete"))
        rest = len(fake.data.org_tasks(org_id)) - done
        count += max(1, -(-rest // 100)) + max(1, -(-done // 100)) + 1
    return count


def names(directory: Path, prefix: str = "") -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith(prefix))


def by_key(rows: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    keyed = {(r["organization_id"], r["id"]): r for r in rows}
    assert len(keyed) == len(rows), "a task was written twice"
    return keyed


# ----------------------------------------------------------------------------- tasks
async def test_tasks_all_orgs_jsonl_to_stdout_is_exact() -> None:
    async with FakeTallyfy(orgs=3, tasks_per_org=[250, 0, 101]) as fake:
        run = await cli("tasks", "--all-orgs", fake=fake)
        assert run.code == 0, run.err
        rows = run.lines()
        assert by_key(rows) == by_key(expected_tasks(fake, fake.data.org_ids))
        assert len(rows) == 351
        # The API's objects as sent, plus organization_id, nothing else.
        assert set(rows[0]) == {*fake.data.org_tasks(fake.data.org_ids[0])[0], "organization_id"}
        assert fake.count("GET", "/me/organizations") == 1
        # Every task whatever /tasks does without status (tasks.list_every): per org, the
        # pages of status=incomplete and of status=complete (100 per page, an empty view is
        # one page), plus one probe of the default view (one item), each sent once.
        assert fake.count("GET", "/tasks") == org_wide_requests(fake)
        per_page = [r.query.get("per_page") for r in fake.requests if "/tasks" in r.path]
        assert per_page.count("1") == 3  # the probes
        assert set(per_page) == {"100", "1"}
        assert (
            run.err
            == "aiotallyfy: exported 351 tasks from 3 organizations to stdout in "
            + (run.err.split(" in ")[1])
        )


async def test_tasks_mine_csv_to_file(tmp_path: Path) -> None:
    async with FakeTallyfy(orgs=2, tasks_per_org=[60, 30]) as fake:
        a, b = fake.data.org_ids
        out = tmp_path / "tasks.csv"
        run = await cli(
            "-q", "tasks", "--org", a, "--org", b, "--mine", "--format", "csv", "-o", str(out),
            fake=fake,
        )  # fmt: skip
        assert (run.code, run.out, run.err) == (0, b"", "")
        assert [r.query["status"] for r in fake.requests if "/me/tasks" in r.path] == ["all", "all"]
        with out.open(newline="", encoding="utf-8") as fh:
            table = list(csv.reader(fh))
        assert tuple(table[0]) == CSV_COLUMNS
        expected = expected_tasks(fake, [a, b], mine=True)
        assert len(table) - 1 == len(expected)
        first = dict(zip(CSV_COLUMNS, table[1], strict=True))
        task = expected[0]
        assert first["organization_id"] == a
        assert first["id"] == task["id"]
        assert first["title"] == task["title"]
        assert orjson.loads(first["owners"]) == task["owners"]
        assert first["is_oneoff_task"] == ("true" if task["is_oneoff_task"] else "false")
        assert first["completed_at"] == (task["completed_at"] or "")
        assert {r[1] for r in table[1:]} == {t["id"] for t in expected}
        assert names(tmp_path) == ["tasks.csv"]


async def test_forbidden_org_exit_1_commits_no_file(tmp_path: Path) -> None:
    async with FakeTallyfy(orgs=3, tasks_per_org=[120, 40, 10], forbidden_orgs=1) as fake:
        ok_orgs, bad = fake.data.org_ids[:2], fake.data.org_ids[2]
        out = tmp_path / "t.jsonl"
        run = await cli("tasks", "--all-orgs", "-o", str(out), fake=fake)
        assert run.code == 1
        # The ok orgs were read in full, but a file without the failed org's tasks would look
        # complete: nothing is committed (H3).
        assert names(tmp_path) == []
        # Each ok org read in full: `tasks.list_every` reads the incomplete and the complete
        # views (one page each here), then one probe of the default
        # view.
        assert fake.count("GET", f"/organizations/{ok_orgs[0]}/tasks", 200) == 3
        assert fake.count("GET", f"/organizations/{ok_orgs[1]}/tasks", 200) == 3
        failure = [line for line in run.err.splitlines() if bad in line]
        [refused] = [r for r in fake.requests if r.status == 403]
        assert failure == [
            f"aiotallyfy: org {bad} failed: HTTP 403: You don't have permission to access "
            f"this organization. [GET /organizations/{bad}/tasks] "
            f"(request id {refused.request_id})"
        ]
        assert f"aiotallyfy: {out} not written: 1 of 3 organizations failed" in run.err
        assert run.err.endswith(" s (1 failed); nothing exported\n")
        assert "Traceback" not in run.err


async def test_bad_token_exit_3_and_missing_token_exit_2(tmp_path: Path) -> None:
    async with FakeTallyfy(orgs=2) as fake:
        bad = await cli("tasks", "--all-orgs", "-o", str(tmp_path / "x"), fake=fake, token="nope")
        assert bad.code == 3
        assert bad.err.startswith("aiotallyfy: authentication failed: HTTP 401: Unauthenticated.")
        assert bad.err.count("\n") == 1
        assert names(tmp_path) == []  # nothing written, no temporary file left
        # Explicit orgs: every org refuses the token, so still 3.
        a, b = fake.data.org_ids
        both = await cli("tasks", "--org", a, "--org", b, fake=fake, token="nope")
        assert both.code == 3
        assert (await cli("me", fake=fake, token="nope")).code == 3
        assert (await cli("orgs", fake=fake, token="nope")).code == 3
        fake.reset_records()
        missing = await cli("tasks", "--all-orgs", env={"TALLYFY_BASE_URL": fake.base_url})
        assert missing.code == 2
        assert "no API token: set TALLYFY_API_TOKEN, pass --token-file PATH" in missing.err
        assert fake.requests == []


async def test_oauth_settings_from_the_environment_never_show_a_secret() -> None:
    async with FakeTallyfy(orgs=2, tasks_per_org=[30, 12]) as fake:
        oauth = enable_oauth(fake, client_secret="cs-oauth-secret-777", users={"a@b.co": "pw-999"})
        env = {
            "TALLYFY_BASE_URL": fake.base_url,
            "TALLYFY_TOKEN_URL": oauth.token_url,
            "TALLYFY_CLIENT_ID": "15",
            "TALLYFY_CLIENT_SECRET": "cs-oauth-secret-777",
            "TALLYFY_USERNAME": "a@b.co",
            "TALLYFY_PASSWORD": "pw-999",
        }
        run = await cli("-v", "tasks", "--all-orgs", env=env)
        assert run.code == 0
        assert len(run.lines()) == 42
        assert oauth.grant_counts == {"password": 1}
        secrets = ["cs-oauth-secret-777", "pw-999", oauth.issued[0].token]
        for secret in secrets:
            assert secret not in run.err
            assert secret.encode() not in run.out
        # Client credentials when no user is given; a half-set environment is a usage error.
        env.pop("TALLYFY_USERNAME")
        env.pop("TALLYFY_PASSWORD")
        assert (await cli("orgs", env=env)).code == 0
        assert oauth.grant_counts == {"password": 1, "client_credentials": 1}
        half = await cli("orgs", env={"TALLYFY_BASE_URL": fake.base_url, "TALLYFY_CLIENT_ID": "15"})
        assert half.code == 2
        assert "TALLYFY_CLIENT_SECRET" in half.err


@pytest.mark.virtual_time
async def test_faults_are_retried_and_the_data_is_exact() -> None:
    async with FakeTallyfy(orgs=2, tasks_per_org=[330, 170]) as fake:
        fake.inject("html_503", path_contains="/tasks", times=3)
        fake.inject("reset", path_contains="/tasks", times=2)
        fake.inject("html_503", path_contains="/me/organizations")
        run = await cli("tasks", "--all-orgs", fake=fake)
        assert run.code == 0, run.err
        assert by_key(run.lines()) == by_key(expected_tasks(fake, fake.data.org_ids))
        assert len(run.lines()) == 500
        assert fake.count(fault="html_503") == 4
        assert fake.count(fault="reset") == 2
        # The task pages (see org_wide_requests) + 1 org list answered 200 exactly once each.
        assert fake.count("GET", status=200) == org_wide_requests(fake) + 1
        assert fake.faults.pending == 0


async def test_verbose_logs_requests_and_never_the_token(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    async with FakeTallyfy(orgs=2, tasks_per_org=5, token="s3cret-token-value-xyz") as fake:
        token_file.write_text(f"  \n{fake.token}\n\n")
        fake.inject("429", path_contains="/tasks", retry_after=0)
        env = {"TALLYFY_BASE_URL": fake.base_url}
        for argv in (["orgs"], ["me"], ["tasks", "--all-orgs"]):
            run = await cli("-v", "--token-file", str(token_file), *argv, env=env)
            assert run.code == 0, run.err
            assert fake.token not in run.err
            assert fake.token.encode() not in run.out
            assert "Authorization" not in run.err
            assert "Bearer" not in run.err
        assert "aiotallyfy: GET /me/organizations -> 200 attempt=1" in run.err
        assert re.search(
            r"GET /organizations/\w+/tasks -> 200 attempt=1 queued=\d\.\d{3}s", run.err
        )
        # the 429 (Retry-After: 0) and its retry, with the wait
        assert " -> 429 attempt=1 queued=" in run.err
        assert " -> 200 attempt=2 queued=" in run.err


async def test_orgs_and_me() -> None:
    async with FakeTallyfy(orgs=12, tasks_per_org=0, org_list_per_page_default=5) as fake:
        orgs = await cli("orgs", fake=fake)
        assert orgs.code == 0
        assert orgs.lines() == fake.data.organizations()
        me = await cli("me", fake=fake)
        assert me.code == 0
        assert me.lines() == [
            {k: fake.data.me[k] for k in ("id", "email", "username", "first_name", "last_name")}
            | {
                "full_name": fake.data.me["full_name"],
                "timezone": fake.data.me["timezone"],
                "profile_pic": None,
            }
        ]


# ----------------------------------------------------------------------------- usage errors
@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "the following arguments are required: COMMAND"),
        (["tasks"], "tasks needs --org ID (repeatable) or --all-orgs"),
        (["tasks", "--org", "a/../b"], "an --org value is not a valid Tallyfy id (value not"),
        (["tasks", "--all-orgs", "--org", "x"], "not allowed with argument"),
        (["tasks", "--all-orgs", "--mine", "--status", "bogus"], "--status with --mine"),
        (["tasks", "--all-orgs", "--format", "xml"], "--format: invalid choice (choose from"),
        (["--rate", "ten", "orgs"], "expected N/SECONDS such as 600/60"),
        (["--concurrency", "0", "orgs"], "must be at least 1"),
        (["--base-url", "http://example.com/api", "orgs"], "refusing plain http://"),
        (["--token-file", "/nonexistent/tok", "orgs"], "cannot read --token-file"),
        (["tasks", "--all-orgs", "-o", "/nonexistent/dir/x.jsonl"], "cannot write"),
        (["orgs", "--tok", "v"], "unrecognized arguments: --tok (values not shown)"),
    ],
)
async def test_usage_errors_exit_2(argv: list[str], message: str) -> None:
    # Port 9 on loopback (discard): a request would fail fast, never reach the internet.
    run = await cli(*argv, env={TOKEN_ENV: "t0k", "TALLYFY_BASE_URL": "http://127.0.0.1:9/api"})
    assert run.code == 2
    assert message in run.err
    assert run.err.startswith("aiotallyfy: error: ")
    assert run.err.count("\n") == 1
    assert run.out == b""


async def test_a_token_on_the_command_line_is_refused_and_not_echoed(tmp_path: Path) -> None:
    secret = "tok_VERY_SECRET_123"
    for argv in (
        ["--token", secret, "orgs"],
        ["--token=" + secret, "orgs"],
        ["me", "--api-key", secret],
    ):
        run = await cli(*argv, env={})
        assert run.code == 2
        assert secret not in run.err
        assert "the token is never taken on the command line" in run.err
    empty = tmp_path / "empty"
    empty.write_text(" \n")
    run = await cli("--token-file", str(empty), "me", env={})
    assert (run.code, run.err.strip()) == (2, "aiotallyfy: error: --token-file: the file is empty")


async def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    run = await cli("--help")
    assert run.code == 0
    text = capsys.readouterr().out
    assert "TALLYFY_API_TOKEN" in text
    assert "exit codes" in text


# ----------------------------------------------------------------------------- progress
async def test_progress_on_a_terminal_only() -> None:
    async with FakeTallyfy(orgs=2, tasks_per_org=[150, 20], latency=0.01) as fake:
        tty = TTY()
        run = await cli("tasks", "--all-orgs", fake=fake, stderr=tty)
        assert run.code == 0
        for shown in ("orgs 2/2", "170 tasks", "req/s", "429s 0", "retries 0", "ETA"):
            assert shown in run.err
        assert len(run.lines()) == 170
        quiet = await cli("-q", "tasks", "--all-orgs", fake=fake, stderr=TTY())
        assert (quiet.code, quiet.err) == (0, "")
        piped = await cli("tasks", "--all-orgs", fake=fake)  # a StringIO: not a terminal
        assert piped.code == 0
        assert piped.err.startswith("aiotallyfy: exported 170 tasks")
        assert piped.err.count("\n") == 1


async def test_without_rich_there_is_no_display(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_progress, "_import_rich", lambda: None)
    async with FakeTallyfy(orgs=1, tasks_per_org=30) as fake:
        run = await cli("tasks", "--all-orgs", fake=fake, stderr=TTY())
        assert run.code == 0
        assert run.err.startswith("aiotallyfy: exported 30 tasks from 1 organization to stdout")
        assert run.err.count("\n") == 1


async def test_verbose_lines_print_above_the_display() -> None:
    async with FakeTallyfy(orgs=1, tasks_per_org=30) as fake:
        run = await cli("-v", "tasks", "--all-orgs", fake=fake, stderr=TTY())
        assert run.code == 0
        org = fake.data.org_ids[0]
        assert f"aiotallyfy: GET /organizations/{org}/tasks -> 200 attempt=1" in run.err
        assert "orgs 1/1" in run.err
        assert fake.token not in run.err


# ----------------------------------------------------------------------------- interruption
async def test_cancelled_export_leaves_the_target_untouched(tmp_path: Path) -> None:
    target = tmp_path / "tasks.jsonl"
    target.write_bytes(b"previous export\n")
    async with FakeTallyfy(orgs=2, tasks_per_org=600, latency=0.05) as fake:
        task = asyncio.create_task(cli("tasks", "--all-orgs", "-o", str(target), fake=fake))
        for _ in range(500):
            if fake.count("GET", "/tasks", status=200) >= 2:
                break
            await asyncio.sleep(0.01)
        [part] = names(tmp_path, ".tasks.jsonl.")  # the export is under way
        assert part.endswith(".part")
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert target.read_bytes() == b"previous export\n"
    assert names(tmp_path) == ["tasks.jsonl"]


def test_atomic_output_commit_and_discard(tmp_path: Path) -> None:
    target = tmp_path / "x.csv"
    with AtomicOutput(target) as out:
        out.file.write(b"a,b\r\n")
        assert not target.exists()
        out.commit()
    assert target.read_bytes() == b"a,b\r\n"
    with AtomicOutput(target) as out:
        out.file.write(b"partial")
    assert target.read_bytes() == b"a,b\r\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.csv"]


# ----------------------------------------------------------------------------- demo
async def test_demo_small_is_exact() -> None:
    run = await cli(
        "-q", "demo", "--orgs", "3", "--tasks-per-org", "120", "--latency-ms", "1",
        "--fault-rate", "0.2",
    )  # fmt: skip
    assert run.code == 0, run.err
    text = run.out.decode()
    assert "tasks       360 exported, 360 on the server: every one exactly once" in text
    assert "orgs        3 (3 ok, 0 failed)" in text
    assert "429s        0" in text
    assert run.err == ""
