"""``python -m aiotallyfy`` in a real child process: exit codes, stderr, SIGINT and SIGTERM.

The fake runs in the test's event loop; the child talks to it over loopback. Real time (a
child process cannot share a virtual clock), so every wait here is a short poll.
"""

from __future__ import annotations

import asyncio
import io
import os
import signal
import sys
from pathlib import Path

import pytest

from aiotallyfy.cli import amain
from aiotallyfy.testing import FakeTallyfy


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TALLYFY_")}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


async def spawn(*argv: str, env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "aiotallyfy",
        *argv,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def run(*argv: str, env: dict[str, str]) -> tuple[int, bytes, str]:
    proc = await spawn(*argv, env=env)
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode is not None
    return proc.returncode, out, err.decode()


def names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


async def test_exit_codes_1_2_3_in_a_child_process(tmp_path: Path) -> None:
    async with FakeTallyfy(orgs=3, tasks_per_org=[150, 60, 5], forbidden_orgs=1) as fake:
        out = tmp_path / "tasks.jsonl"
        env = child_env(TALLYFY_BASE_URL=fake.base_url, TALLYFY_API_TOKEN=fake.token)
        code, stdout, err = await run("tasks", "--all-orgs", "-o", str(out), env=env)
        assert code == 1
        assert stdout == b""
        bad = fake.data.org_ids[2]
        [line] = [x for x in err.splitlines() if "failed:" in x]
        assert line.startswith(f"aiotallyfy: org {bad} failed: HTTP 403: ")
        assert "Traceback" not in err
        # An export missing an org's tasks would look complete: no file at all (H3).
        assert f"aiotallyfy: {out} not written: 1 of 3 organizations failed" in err
        assert names(tmp_path) == []

        env_bad = child_env(TALLYFY_BASE_URL=fake.base_url, TALLYFY_API_TOKEN="wrong")
        code, stdout, err = await run("tasks", "--all-orgs", env=env_bad)
        assert (code, stdout) == (3, b"")
        assert err.startswith("aiotallyfy: authentication failed: HTTP 401")
        assert "Traceback" not in err

        fake.reset_records()
        code, stdout, err = await run("me", env=child_env(TALLYFY_BASE_URL=fake.base_url))
        assert (code, stdout) == (2, b"")
        assert err.startswith("aiotallyfy: error: no API token")
        assert fake.requests == []


@pytest.mark.parametrize(("sig", "expected"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
async def test_interrupted_export_exits_cleanly(
    tmp_path: Path, sig: signal.Signals, expected: int
) -> None:
    async with FakeTallyfy(orgs=4, tasks_per_org=2000, latency=0.05) as fake:
        out = tmp_path / "tasks.jsonl"
        env = child_env(TALLYFY_BASE_URL=fake.base_url, TALLYFY_API_TOKEN=fake.token)
        proc = await spawn("tasks", "--all-orgs", "-o", str(out), env=env)
        for _ in range(1000):  # until the export is under way (a few pages answered)
            if fake.count("GET", "/tasks", status=200) >= 6:
                break
            await asyncio.sleep(0.01)
        assert fake.count("GET", "/tasks", status=200) >= 6
        assert proc.returncode is None
        proc.send_signal(sig)
        stdout, err = await asyncio.wait_for(proc.communicate(), 20)
        assert proc.returncode == expected
        assert stdout == b""
        assert "Traceback" not in err.decode()
        if sig == signal.SIGINT:
            assert err.decode() == "aiotallyfy: interrupted\n"
        assert names(tmp_path) == []  # no output file, and no temporary file left behind
        assert fake.count("GET", "/tasks", status=200) < 80  # it stopped early


async def test_fake_server_command_serves_until_ctrl_c(tmp_path: Path) -> None:
    proc = await spawn(
        "fake-server", "--orgs", "3", "--tasks-per-org", "130", "--seed", "5",
        "--forbidden-orgs", "1", "--rate-limit", "off",
        env=child_env(),
    )  # fmt: skip
    assert proc.stdout is not None
    header = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode()
    assert header.startswith("aiotallyfy fake server: 3 organizations x 130 tasks, seed 5")
    settings = {}
    for _ in range(2):
        name, _, value = (await proc.stdout.readline()).decode().strip().partition("=")
        settings[name] = value
    assert settings["TALLYFY_BASE_URL"].startswith("http://127.0.0.1:")
    assert settings["TALLYFY_API_TOKEN"].startswith("fake-token-")
    out = io.BytesIO()  # to stdout: with -o, a failed org means no file is written
    code = await amain(
        ["-q", "tasks", "--all-orgs", "--format", "csv"], environ=settings, stdout=out
    )
    assert code == 1  # the forbidden org
    assert len(out.getvalue().splitlines()) == 1 + 2 * 130
    proc.send_signal(signal.SIGINT)
    rest, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 0
    assert rest == b"Press Ctrl-C to stop.\n"
    assert err.decode() == "aiotallyfy: fake server stopped\n"
