"""Request hooks (``aiotallyfy._hooks``): the exact facts a hook receives for each attempt and
each call, against FakeTallyfy on the virtual clock; failures, cancellation and pages; a hook
that raises; no hooks means the plain request loop; and OpenTelemetry is never imported unless
``aiotallyfy.otel`` is."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import textwrap
from collections.abc import Coroutine
from typing import Any

import pytest
from _observability import ROUTE, Top, get_after_429_and_503

from aiotallyfy import (
    AttemptInfo,
    CallInfo,
    CallResult,
    ClientCredentialsGrant,
    NotFoundError,
    OutcomeUnknownError,
    RequestHooks,
    TallyfyClient,
)
from aiotallyfy._http import HTTPCore
from aiotallyfy.testing import FakeTallyfy, enable_applications, enable_oauth

pytestmark = pytest.mark.virtual_time


class Recorder(RequestHooks[str]):
    def __init__(self) -> None:
        self.seen: list[tuple[str, Any, Any]] = []

    def on_call_start(self, call: CallInfo) -> str:
        self.seen.append(("start", call, None))
        return f"state:{call.route}"

    def on_attempt(self, state: str, attempt: AttemptInfo) -> None:
        self.seen.append(("attempt", attempt, state))

    def on_call_end(self, state: str, result: CallResult) -> None:
        self.seen.append(("end", result, state))


def client_for(fake: FakeTallyfy, *hooks: RequestHooks[Any], **options: Any) -> TallyfyClient:
    return TallyfyClient(fake.token, base_url=fake.base_url, rng=Top(), hooks=hooks, **options)


async def test_a_429_then_a_503_then_success_as_a_hook_sees_it() -> None:
    recorder = Recorder()
    org, port = await get_after_429_and_503(recorder)
    call = CallInfo("GET", ROUTE, org, "127.0.0.1", port)
    kinds = [kind for kind, _, _ in recorder.seen]
    assert kinds == ["start", "attempt", "attempt", "attempt", "end"]
    assert recorder.seen[0][1] == call
    assert {state for kind, _, state in recorder.seen if kind != "start"} == {f"state:{ROUTE}"}
    first, second, third = (info for kind, info, _ in recorder.seen if kind == "attempt")
    assert first == AttemptInfo(
        call, 1, 429, None, pytest.approx(0.05), 0.0, "retry", pytest.approx(1.1), True, 0,
        first.response_bytes,
    )  # fmt: skip
    # Retry-After 1 s plus its jitter (10% at the ceiling) pauses the scope: the next attempt
    # queues 1.1 s in the limiter.
    assert second == AttemptInfo(
        call, 2, 503, None, pytest.approx(0.05), pytest.approx(1.1), "retry", 1.0, False, 0,
        second.response_bytes,
    )  # fmt: skip
    # The 503's backoff (1.0 s) is slept in the loop, not the limiter; the limiter then holds
    # the third attempt 0.5 s more: the 429 told it the server reports its count, and the
    # HTML 503 carried none, so its gate waits for a probe (the limiter's own rule).
    assert third == AttemptInfo(
        call, 3, 200, None, pytest.approx(0.05), pytest.approx(0.5), "success", None, False, 0,
        third.response_bytes,
    )  # fmt: skip
    for info in (first, second, third):
        assert info.response_bytes is not None
        assert info.response_bytes > 0
    result = recorder.seen[-1][1]
    assert result == CallResult(
        call, "success", 200, None, 3, 2, 1, pytest.approx(2.75), pytest.approx(1.6), 0,
        third.response_bytes, pytest.approx(0.5),
    )  # fmt: skip


class NotToldOfSuccesses(Recorder):
    successful_attempts = False


async def test_a_hook_not_told_of_successful_attempts_reads_the_last_one_from_the_result() -> None:
    quiet, told = NotToldOfSuccesses(), Recorder()
    org, port = await get_after_429_and_503(quiet, told)  # two hooks: each is told its own way
    call = CallInfo("GET", ROUTE, org, "127.0.0.1", port)
    assert [kind for kind, _, _ in told.seen] == ["start", "attempt", "attempt", "attempt", "end"]
    assert [kind for kind, _, _ in quiet.seen] == ["start", "attempt", "attempt", "end"]
    quiet_attempts = [info for kind, info, _ in quiet.seen if kind == "attempt"]
    told_attempts = [info for kind, info, _ in told.seen if kind == "attempt"]
    assert quiet_attempts == told_attempts[:2]  # the 429 and the 503, the same records
    assert [(a.number, a.status, a.verdict) for a in quiet_attempts] == [
        (1, 429, "retry"),
        (2, 503, "retry"),
    ]
    last = told_attempts[2]
    result = quiet.seen[-1][1]
    assert result is told.seen[-1][1]
    # The successful attempt's facts, from the result: its number, status, sizes, limiter wait.
    assert (result.attempts, result.status, result.request_bytes, result.response_bytes) == (
        last.number, last.status, last.request_bytes, last.response_bytes,
    )  # fmt: skip
    assert result.last_limiter_wait == last.limiter_wait == pytest.approx(0.5)
    assert result == CallResult(
        call, "success", 200, None, 3, 2, 1, pytest.approx(2.75), pytest.approx(1.6), 0,
        last.response_bytes, pytest.approx(0.5),
    )  # fmt: skip


async def test_a_hook_not_told_of_successful_attempts_is_told_of_a_failing_last_one() -> None:
    quiet = NotToldOfSuccesses()
    async with FakeTallyfy(orgs=1, tasks_per_org=1) as fake:
        org = fake.data.org_ids[0]
        async with client_for(fake, quiet) as client:
            task = fake.data.task_ids(org)[0]
            await client.tasks.get(org, task)
            with pytest.raises(NotFoundError):
                await client.tasks.get(org, "0" * 32)
    assert [kind for kind, _, _ in quiet.seen] == ["start", "end", "start", "attempt", "end"]
    failed = quiet.seen[3][1]
    assert (failed.number, failed.status, failed.verdict) == (1, 404, "fail")
    ended = quiet.seen[4][1]
    assert (ended.outcome, ended.status, ended.attempts) == ("error", 404, 1)
    assert ended.last_limiter_wait == failed.limiter_wait


async def test_outcome_unknown_not_found_and_a_write_body() -> None:
    recorder = Recorder()
    async with FakeTallyfy(orgs=1, tasks_per_org=1) as fake:
        org = fake.data.org_ids[0]
        fake.inject("reset_after_apply", method="POST")
        async with client_for(fake, recorder) as client:
            with pytest.raises(OutcomeUnknownError):
                await client.request("POST", f"/organizations/{org}/tasks", json={"title": "x"})
            with pytest.raises(NotFoundError):
                await client.tasks.get(org, "0" * 32)
        assert fake.count("POST", "/tasks") == 1  # never re-sent
    attempts = [info for kind, info, _ in recorder.seen if kind == "attempt"]
    ends = [info for kind, info, _ in recorder.seen if kind == "end"]
    assert [(a.number, a.status, a.error, a.verdict) for a in attempts] == [
        (1, None, "disconnected", "outcome_unknown"),
        (1, 404, None, "fail"),
    ]
    assert attempts[0].request_bytes == len(b'{"title":"x"}')
    assert attempts[0].response_bytes is None  # no answer
    summary = [
        (e.call.method, e.call.route, e.outcome, e.status, e.error_type, e.attempts) for e in ends
    ]
    assert summary == [
        ("POST", "/organizations/{org}/tasks", "outcome_unknown", None, "OutcomeUnknownError", 1),
        ("GET", ROUTE, "error", 404, "NotFoundError", 1),
    ]  # fmt: skip


async def cancelled_after(seconds: float, call: Coroutine[Any, Any, Any]) -> None:
    """Run ``call`` as a task, cancel it ``seconds`` (virtual) later, see it raise."""
    pending = asyncio.create_task(call)
    await asyncio.sleep(seconds)
    pending.cancel()
    with pytest.raises(asyncio.CancelledError):
        await pending


async def test_a_cancelled_call_ends_as_cancelled_and_the_next_call_is_observed() -> None:
    recorder = Recorder()
    async with FakeTallyfy(orgs=1, tasks_per_org=2) as fake:
        org = fake.data.org_ids[0]
        slow, fast = fake.data.task_ids(org)
        fake.inject("hang", path_contains=slow, hang_seconds=30)
        async with client_for(fake, recorder) as client:
            await cancelled_after(5, client.tasks.get(org, slow))
            await client.tasks.get(org, fast)
    assert [kind for kind, _, _ in recorder.seen] == ["start", "end", "start", "attempt", "end"]
    cancelled, done = recorder.seen[1][1], recorder.seen[4][1]
    assert (cancelled.outcome, cancelled.error_type, cancelled.attempts, cancelled.status) == (
        "cancelled", "CancelledError", 0, None,
    )  # fmt: skip
    assert cancelled.duration == pytest.approx(5.0)
    assert (done.outcome, done.attempts, done.status) == ("success", 1, 200)


async def test_each_page_of_a_list_is_one_call() -> None:
    recorder = Recorder()
    async with FakeTallyfy(orgs=1, tasks_per_org=250) as fake:
        org = fake.data.org_ids[0]
        async with client_for(fake, recorder) as client:
            tasks = await client.tasks.list_mine(org).to_list()
        pages = fake.count("GET", "/me/tasks")
    assert len(tasks) == len(fake.data.my_tasks(org, "all"))
    ends = [info for kind, info, _ in recorder.seen if kind == "end"]
    assert pages >= 2
    assert len(ends) == pages
    assert {(e.call.route, e.outcome, e.attempts) for e in ends} == {
        ("/organizations/{org}/me/tasks", "success", 1)
    }


class Broken(RequestHooks[None]):
    def __init__(self) -> None:
        self.ends = 0

    def on_attempt(self, state: None, attempt: AttemptInfo) -> None:
        raise RuntimeError("dashboard down")

    def on_call_end(self, state: None, result: CallResult) -> None:
        self.ends += 1


async def test_a_hook_that_raises_is_logged_once_and_never_fails_a_call(
    caplog: pytest.LogCaptureFixture,
) -> None:
    broken, recorder = Broken(), Recorder()
    async with FakeTallyfy(orgs=1, tasks_per_org=2) as fake:
        org = fake.data.org_ids[0]
        async with client_for(fake, broken, recorder) as client:
            with caplog.at_level(logging.WARNING, logger="aiotallyfy"):
                for task in fake.data.task_ids(org):
                    assert (await client.tasks.get(org, task))["id"] == task
    warnings = [r for r in caplog.records if "request hook" in r.getMessage()]
    assert [r.getMessage() for r in warnings] == [
        "request hook Broken raised RuntimeError; ignored (further errors from it are not logged)"
    ]
    assert broken.ends == 2
    assert [kind for kind, _, _ in recorder.seen].count("attempt") == 2  # later hooks still run


async def test_without_hooks_the_plain_loop_runs(fake: FakeTallyfy) -> None:
    async with TallyfyClient(fake.token, base_url=fake.base_url) as client:
        assert type(client._core) is HTTPCore
        assert client._core.observer is None
        await client.me()
    async with client_for(fake, Recorder()) as observed:
        assert type(observed._core) is HTTPCore  # the same loop, told to report
        assert observed._core.observer is not None


def test_opentelemetry_is_not_imported_unless_asked_for() -> None:
    script = textwrap.dedent(
        """
        import sys
        import aiotallyfy
        from aiotallyfy import TallyfyClient, RequestHooks
        from aiotallyfy.testing import FakeTallyfy, run_virtual

        async def main():
            async with FakeTallyfy(orgs=1, tasks_per_org=3) as fake:
                org = fake.data.org_ids[0]
                hooked = TallyfyClient(fake.token, base_url=fake.base_url, hooks=[RequestHooks()])
                async with TallyfyClient(fake.token, base_url=fake.base_url) as plain, hooked:
                    await plain.me()
                    await plain.tasks.list_mine(org).to_list()
                    await hooked.me()

        run_virtual(main())
        print(sorted(m for m in sys.modules if m.split(".")[0] == "opentelemetry"))
        import aiotallyfy.otel
        print(any(m.split(".")[0] == "opentelemetry" for m in sys.modules))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.splitlines() == ["[]", "True"]


async def test_a_member_client_inherits_hooks_and_nested_calls_are_told_apart() -> None:
    """``as_member`` passes the hooks on; the member's call mints its token through the app
    client inside it, and each attempt is reported against its own call."""
    recorder = Recorder()
    async with FakeTallyfy(orgs=1, tasks_per_org=1) as fake:
        org = fake.data.org_ids[0]
        oauth = enable_oauth(fake, client_id="15", client_secret="app-secret")
        enable_applications(fake, oauth, org_id=org)

        def grant() -> ClientCredentialsGrant:
            return ClientCredentialsGrant(
                client_id="15", client_secret="app-secret", token_url=oauth.token_url
            )

        async with TallyfyClient(grant(), base_url=fake.base_url) as app:
            await app.applications.create_user(
                org, email="kim@example.com", first_name="K", last_name="L"
            )
            async with app.as_member(org, "kim@example.com", hooks=[recorder]) as member:
                assert member._hooks == (recorder,)
                await member.me()
            inherited = app.as_member(org, "kim@example.com")
            assert inherited._hooks == ()
            await inherited.aclose()
        async with TallyfyClient(grant(), base_url=fake.base_url, hooks=[recorder]) as app:
            recorder.seen.clear()
            async with app.as_member(org, "kim@example.com") as member:
                assert member._hooks == (recorder,)
                await member.me()
    token_route = "/applications/{org}/users/{user}/token"
    seen = [(k, info.route if k == "start" else state) for k, info, state in recorder.seen]
    assert seen == [
        ("start", "/me"),
        ("start", token_route),
        ("attempt", f"state:{token_route}"),
        ("end", f"state:{token_route}"),
        ("attempt", "state:/me"),
        ("end", "state:/me"),
    ]  # fmt: skip


class EndsOnly(RequestHooks[None]):
    """Overrides one method: the observer skips the others (no AttemptInfo is built for it)."""

    def __init__(self) -> None:
        self.results: list[tuple[Any, CallResult]] = []

    def on_call_end(self, state: None, result: CallResult) -> None:
        self.results.append((state, result))


class AttemptsOnly(RequestHooks[None]):
    def __init__(self) -> None:
        self.attempts: list[tuple[Any, AttemptInfo]] = []

    def on_attempt(self, state: None, attempt: AttemptInfo) -> None:
        self.attempts.append((state, attempt))


async def test_hooks_overriding_some_methods_get_exactly_those_with_state_none() -> None:
    ends, attempts, recorder = EndsOnly(), AttemptsOnly(), Recorder()
    org, port = await get_after_429_and_503(ends, attempts, recorder)
    call = CallInfo("GET", ROUTE, org, "127.0.0.1", port)
    # The same records the full recorder got, in the same order, state None (the default
    # ``on_call_start`` returns None, and is not called).
    assert ends.results == [(None, info) for kind, info, _ in recorder.seen if kind == "end"]
    assert attempts.attempts == [
        (None, info) for kind, info, _ in recorder.seen if kind == "attempt"
    ]
    assert [a.status for _, a in attempts.attempts] == [429, 503, 200]
    (_, result) = ends.results[0]
    assert (result.call, result.outcome, result.status, result.attempts, result.retries) == (
        call,
        "success",
        200,
        3,
        2,
    )
    assert result.rate_limited == 1


def test_the_clock_readers_read_the_loops_own_clock() -> None:
    """``LoopClock.now`` (the observer's, the limiter's) and ``reader_for`` (the request
    loop's) read ``time.monotonic`` directly on the standard loop (whose ``time()`` it is)
    and ask any other loop: a virtual clock's calls are timed in virtual seconds. Another
    clock is read through its own ``now``."""
    import time

    from aiotallyfy._clock import LoopClock, reader_for
    from aiotallyfy.testing import VirtualTimeLoop

    class FixedClock:
        def now(self) -> float:
            return 42.0

        async def sleep(self, seconds: float) -> None:
            return None

    async def read() -> tuple[float, float, float, float]:
        loop = asyncio.get_running_loop()
        assert type(loop).time is asyncio.BaseEventLoop.time
        assert reader_for(LoopClock()) is time.monotonic
        assert reader_for(FixedClock())() == 42.0
        before = loop.time()
        now, read_now = LoopClock().now(), reader_for(LoopClock())()
        return before, now, read_now, loop.time()

    before, now, read_now, after = asyncio.run(read())  # the standard loop
    assert before <= now <= read_now <= after
    virtual = VirtualTimeLoop()
    try:

        async def later() -> tuple[float, float]:
            await asyncio.sleep(1000)
            return LoopClock().now(), reader_for(LoopClock())()

        start = virtual.time()
        assert virtual.run_until_complete(later()) == (start + 1000, start + 1000)
    finally:
        virtual.close()


async def test_a_call_cancelled_while_waiting_to_retry_counts_that_retry() -> None:
    """A 429 (``Retry-After: 30``) is judged ``retry``; the call is cancelled while the scope is
    paused, before a second attempt: one attempt, one retry, one 429, the last status kept."""
    recorder = Recorder()
    async with FakeTallyfy(orgs=1, tasks_per_org=1) as fake:
        org = fake.data.org_ids[0]
        (task,) = fake.data.task_ids(org)
        fake.inject("429", path_contains=task, retry_after=30)
        async with client_for(fake, recorder) as client:
            await cancelled_after(5, client.tasks.get(org, task))
    assert [kind for kind, _, _ in recorder.seen] == ["start", "attempt", "end"]
    attempt, result = recorder.seen[1][1], recorder.seen[2][1]
    assert (attempt.status, attempt.verdict, attempt.scope_paused) == (429, "retry", True)
    assert (
        result.outcome, result.status, result.attempts, result.retries, result.rate_limited,
    ) == ("cancelled", 429, 1, 1, 1)  # fmt: skip
    assert result.duration == pytest.approx(5.0)
