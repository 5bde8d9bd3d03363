"""The core client end to end: real loopback sockets to FakeTallyfy, on virtual time.

Every figure asserted here is seen by the server (``fake.requests``) or is the exact data the
server holds (``fake.data``): nothing is checked against the client's own view of itself.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from aiotallyfy import (
    AuthenticationError,
    InvalidArgument,
    NotFoundError,
    OutcomeUnknownError,
    PermissionDeniedError,
    RateLimit,
    RateLimitedError,
    ServerError,
    TallyfyClient,
    TransportError,
    ValidationError,
)
from aiotallyfy.testing import FakeTallyfy, FaultPlan

pytestmark = pytest.mark.virtual_time

# Uneven org sizes: empty, exactly one page, one over, several pages.
SIZES_30 = [0, 1, 99, 100, 101, 200, 250, 7, 333, 64] * 3


def client_for(fake: FakeTallyfy, **kwargs: Any) -> TallyfyClient:
    return TallyfyClient(fake.token, base_url=kwargs.pop("base_url", fake.base_url), **kwargs)


async def export_mine(
    client: TallyfyClient, status: str = "all"
) -> tuple[list[dict[str, Any]], dict[str, Exception]]:
    org_ids = await client.all_org_ids()
    items: list[dict[str, Any]] = []
    errors: dict[str, Exception] = {}
    async for result in client.fan_out(org_ids, lambda o: client.tasks.list_mine(o, status=status)):
        if result.error is not None:
            errors[result.org_id] = result.error
        for task in result.items:
            items.append({**task, "organization_id": result.org_id})
    return items, errors


def expected_mine(fake: FakeTallyfy, status: str = "all") -> list[tuple[str, str]]:
    return sorted(
        (org, t["id"])
        for org in fake.data.accessible_org_ids
        for t in fake.data.my_tasks(org, status)
    )


def pages(n: int, per_page: int = 100) -> int:
    return max(1, math.ceil(n / per_page))


def minimal_requests(fake: FakeTallyfy) -> int:
    """One org-list page, plus ceil(tasks/100) task pages per org (1 for an empty org)."""
    return 1 + sum(pages(len(fake.data.my_tasks(o, "all"))) for o in fake.data.org_ids)


@pytest.mark.parametrize("root", ["base_url", "root_url"])
async def test_export_of_30_orgs_is_exact_minimal_and_fully_headed(root: str) -> None:
    async with FakeTallyfy(orgs=30, tasks_per_org=SIZES_30, seed=7) as fake:
        async with client_for(fake, base_url=getattr(fake, root)) as client:
            items, errors = await export_mine(client)
        assert errors == {}
        got = sorted((t["organization_id"], t["id"]) for t in items)
        assert got == expected_mine(fake)
        assert len(set(got)) == len(got)  # no duplicates
        # Minimal: one org-list page plus ceil(tasks/100) task pages per org (1 for an empty org).
        assert len(fake.requests) == minimal_requests(fake)
        for request in fake.requests:
            assert request.headers["Authorization"] == f"Bearer {fake.token}"
            assert request.headers["Accept"] == "application/json"
            assert request.headers["X-Tallyfy-Client"] == "APIClient"
            assert request.status == 200
            if "/me/tasks" in request.path:
                assert request.query["status"] == "all"
                assert request.query["per_page"] == "100"
        assert {r.root for r in fake.requests} == {"api" if root == "base_url" else "root"}


async def test_org_list_of_several_pages_when_the_server_clamps_per_page() -> None:
    async with FakeTallyfy(orgs=30, tasks_per_org=SIZES_30, seed=3, max_per_page=10) as fake:
        async with client_for(fake) as client:
            items, errors = await export_mine(client)
        assert errors == {}
        assert sorted((t["organization_id"], t["id"]) for t in items) == expected_mine(fake)
        assert fake.count(path_contains="/me/organizations") == 3
        task_pages = sum(pages(len(fake.data.my_tasks(o, "all")), 10) for o in fake.data.org_ids)
        assert len(fake.requests) == 3 + task_pages


async def test_my_tasks_always_sends_status_so_the_active_default_never_hides_tasks() -> None:
    async with FakeTallyfy(orgs=1, tasks_per_org=60, seed=1) as fake:
        org = fake.data.org_ids[0]
        async with client_for(fake) as client:
            every = await client.tasks.list_mine(org).to_list()
            active = await client.tasks.list_mine(org, status="active").to_list()
        assert [t["id"] for t in every] == [t["id"] for t in fake.data.my_tasks(org, "all")]
        assert [t["id"] for t in active] == [t["id"] for t in fake.data.my_tasks(org, "active")]
        assert len(active) < len(every)
        assert [r.query.get("status") for r in fake.requests] == ["all", "active"]


async def test_told_the_limit_zero_429s_and_never_more_than_n_in_any_window() -> None:
    async with FakeTallyfy(orgs=12, tasks_per_org=1200, rate_limit=(20, 1.0), seed=2) as fake:
        async with client_for(fake, rate_limits=[RateLimit(20, 1.0)]) as client:
            loop = asyncio.get_running_loop()
            items, errors = await export_mine(client)
            elapsed = loop.time()
        assert errors == {}
        assert sorted((t["organization_id"], t["id"]) for t in items) == expected_mine(fake)
        assert fake.count(status=429) == 0
        assert len(fake.requests) == minimal_requests(fake)
        assert len(fake.requests) > 60  # several windows' worth: the limit is really exercised
        assert fake.max_admitted_in_window(1.0) == 20  # saturated, never exceeded
        # Close to the allowed rate: at most a window's margin and one burst slower than ideal.
        ideal = len(fake.requests) / 20.0
        assert elapsed <= ideal * 1.1 + 1.0, (elapsed, ideal)


@pytest.mark.parametrize(
    "headers", [True, False], ids=["with-ratelimit-headers", "retry-after-only"]
)
async def test_not_told_a_stricter_limit_completes_exactly_with_few_429s(headers: bool) -> None:
    async with FakeTallyfy(
        orgs=40, tasks_per_org=600, rate_limit=(25, 2.0), rate_limit_headers=headers, seed=4
    ) as fake:
        # The client believes the documented 600/min; the server allows 25 per 2 s.
        async with client_for(fake, retry_budget=600.0, max_retries=20) as client:
            items, errors = await export_mine(client)
        assert errors == {}
        assert sorted((t["organization_id"], t["id"]) for t in items) == expected_mine(fake)
        total = len(fake.requests)
        refused = fake.count(status=429)
        assert total > 100
        assert refused <= 0.15 * total, (refused, total)
        assert fake.max_admitted_in_window(2.0) <= 25


async def test_a_429_pauses_the_whole_scope_not_just_one_request() -> None:
    async with FakeTallyfy(orgs=1, tasks_per_org=5, seed=5) as fake:
        org = fake.data.org_ids[0]
        task_ids = [t["id"] for t in fake.data.org_tasks(org)]
        fake.inject("429", method="GET", path_contains=task_ids[0], retry_after=30)
        async with client_for(fake) as client:
            loop = asyncio.get_running_loop()
            first = asyncio.ensure_future(client.tasks.get(org, task_ids[0]))
            await asyncio.sleep(0.5)  # the 429 has arrived and paused the token scope
            rest = await asyncio.gather(*(client.tasks.get(org, t) for t in task_ids[1:]))
            assert loop.time() >= 30.0  # queued requests waited too
            assert (await first)["id"] == task_ids[0]
        assert [t["id"] for t in rest] == task_ids[1:]
        assert fake.count(status=429) == 1
        assert len(fake.requests) == 6  # the 429, its retry, and the four queued calls
        assert len(task_ids) == 5
        assert all(r.time >= 30.0 for r in fake.requests if r.status == 200)


async def test_retry_after_within_the_cap_is_honoured_past_the_budget() -> None:
    """M5: the README promises waits up to ``retry_after_cap`` (120 s); the 45 s budget bounds
    our own backoff, not the server's schedule. Beyond the cap the call fails at once."""
    async with FakeTallyfy(orgs=1, tasks_per_org=1, seed=5) as fake:
        fake.inject("429", method="GET", path_contains="/me", retry_after=100, times=2)
        async with client_for(fake, retry_budget=45.0) as client:
            assert (await client.me())["email"] == fake.data.me["email"]
        assert fake.count(path_contains="/me") == 3
        assert [r.time >= 200.0 for r in fake.requests] == [False, False, True]

        fake.inject("429", method="GET", path_contains="/me", retry_after=130, times=1)
        async with client_for(fake, retry_budget=45.0) as client:
            with pytest.raises(RateLimitedError) as caught:
                await client.me()
        err = caught.value
        assert err.status == 429
        assert err.retry_after == 130.0
        assert err.attempts == 1
        assert err.code == "RATE_LIMIT_EXCEEDED"
        assert fake.count(path_contains="/me") == 4


async def test_faults_html_503_resets_and_hangs_still_give_exact_data() -> None:
    plan = FaultPlan(seed=11, html_503=0.05, reset=0.03, hang=0.01, hang_seconds=120.0)
    sizes = [4 * n for n in SIZES_30]
    async with FakeTallyfy(orgs=30, tasks_per_org=sizes, faults=plan, seed=9) as fake:
        async with client_for(fake, timeout=10.0, retry_budget=300.0, max_retries=8) as client:
            items, errors = await export_mine(client)
            stats = client.stats
        assert errors == {}
        assert sorted((t["organization_id"], t["id"]) for t in items) == expected_mine(fake)
        faults = Counter(r.fault for r in fake.requests if r.fault)
        assert len(fake.requests) > 90
        assert faults["html_503"] >= 3, faults
        assert faults["reset"] >= 2, faults
        assert faults["hang"] >= 1, faults
        assert stats.retries >= faults["html_503"]


async def test_every_fault_kind_mid_pagination_is_retried_inside_the_iterator() -> None:
    async with FakeTallyfy(orgs=1, tasks_per_org=1000, seed=12) as fake:
        org = fake.data.org_ids[0]
        for fault in ("html_503", "reset", "malformed_json", "hang", "429"):
            fake.inject(fault, method="GET", path_contains="/me/tasks", times=1, retry_after=3)
        async with client_for(fake, timeout=5.0) as client:
            tasks = await client.tasks.list_mine(org).to_list()
        assert [t["id"] for t in tasks] == [t["id"] for t in fake.data.my_tasks(org, "all")]


async def test_one_forbidden_org_among_many() -> None:
    async with FakeTallyfy(orgs=10, tasks_per_org=120, forbidden_orgs=1, seed=13) as fake:
        async with client_for(fake) as client:
            items, errors = await export_mine(client)
        forbidden = fake.data.forbidden_org_ids
        assert list(errors) == forbidden
        err = errors[forbidden[0]]
        assert isinstance(err, PermissionDeniedError)
        assert err.status == 403
        assert err.attempts == 1
        assert err.path == f"/organizations/{forbidden[0]}/me/tasks"
        assert sorted((t["organization_id"], t["id"]) for t in items) == expected_mine(fake)


async def test_complete_sends_exactly_one_post_when_the_connection_dies_after_sending() -> None:
    async with FakeTallyfy(orgs=1, tasks_per_org=20, seed=14) as fake:
        org = fake.data.org_ids[0]
        task = next(
            t for t in fake.data.org_tasks(org) if t["run_id"] and t["status"] != "completed"
        )
        fake.inject("reset_after_apply", method="POST", path_contains="completed-tasks")
        async with client_for(fake) as client:
            with pytest.raises(OutcomeUnknownError) as caught:
                await client.tasks.complete(org, task["id"], task["run_id"])
        assert fake.count(method="POST") == 1
        assert fake.data.completion_count(task["id"]) == 1
        err = caught.value
        assert err.sent is True
        assert err.method == "POST"
        assert "not re-sent" in str(err)


async def test_complete_and_reopen_process_and_one_off_tasks() -> None:
    async with FakeTallyfy(orgs=1, tasks_per_org=40, seed=15) as fake:
        org = fake.data.org_ids[0]
        open_tasks = [t for t in fake.data.org_tasks(org) if t["status"] != "completed"]
        process = next(t for t in open_tasks if t["run_id"])
        oneoff = next(t for t in open_tasks if not t["run_id"])
        async with client_for(fake) as client:
            done = await client.tasks.complete(org, process["id"], process["run_id"])
            assert done["status"] == "completed"
            done_oneoff = await client.tasks.complete(org, oneoff["id"])
            assert done_oneoff["status"] == "completed"
            with pytest.raises(ValidationError) as caught:
                await client.tasks.complete(org, oneoff["id"])
            assert caught.value.status == 422
            reopened = await client.tasks.reopen(org, process["id"], process["run_id"])
            assert reopened["status"] == "in-progress"
            assert (await client.tasks.get(org, process["id"]))["status"] == "in-progress"
        assert fake.data.completion_count(process["id"]) == 1
        assert fake.data.completion_count(oneoff["id"]) == 1
        assert fake.count(method="POST") == 3


async def test_post_is_not_retried_on_503_but_get_is() -> None:
    async with FakeTallyfy(orgs=1, tasks_per_org=10, seed=16) as fake:
        org = fake.data.org_ids[0]
        task = next(
            t for t in fake.data.org_tasks(org) if t["run_id"] and t["status"] != "completed"
        )
        fake.inject("html_503", method="POST")
        fake.inject("html_503", method="GET", path_contains="/tasks/", times=2)
        async with client_for(fake) as client:
            with pytest.raises(ServerError) as caught:
                await client.tasks.complete(org, task["id"], task["run_id"])
            got = await client.tasks.get(org, task["id"])
        err = caught.value
        assert (err.status, err.attempts) == (503, 1)
        assert "non-JSON text/html body" in str(err)
        assert fake.data.completion_count(task["id"]) == 0
        assert got["id"] == task["id"]
        assert fake.count(method="GET", path_contains="/tasks/") == 3


async def test_errors_carry_status_code_message_request_id_method_path_attempts() -> None:
    async with FakeTallyfy(orgs=1, tasks_per_org=3, seed=17) as fake:
        org = fake.data.org_ids[0]
        async with client_for(fake) as client:
            with pytest.raises(NotFoundError) as caught:
                await client.tasks.get(org, "0" * 32)
        err = caught.value
        recorded = fake.requests[-1]
        assert (err.status, err.code, err.message) == (
            404,
            "RESOURCE_NOT_FOUND",
            "Resource not found",
        )
        assert err.request_id == recorded.request_id
        assert (err.method, err.path, err.attempts) == (
            "GET",
            f"/organizations/{org}/tasks/{'0' * 32}",
            1,
        )


async def test_bad_token_is_authentication_error_and_never_shows_the_token() -> None:
    async with FakeTallyfy(orgs=1, seed=18) as fake:
        async with TallyfyClient("wrong-token-value-123", base_url=fake.base_url) as client:
            with pytest.raises(AuthenticationError) as caught:
                await client.me()
        assert caught.value.status == 401
        assert "wrong-token-value-123" not in str(caught.value)
        assert "wrong-token-value-123" not in repr(caught.value)


async def test_token_absent_from_repr_logs_and_exception_text(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="aiotallyfy")
    async with FakeTallyfy(orgs=2, tasks_per_org=30, forbidden_orgs=1, seed=19) as fake:
        fake.inject("reset_after_apply", method="POST")
        fake.inject("html_503", method="GET", path_contains="/me/tasks")
        errors: list[BaseException] = []
        async with client_for(fake) as client:
            texts = [
                repr(client),
                str(client),
                repr(client.tasks),
                repr(client.limiter),
                repr(client._core.auth),
                repr(client._transport),
            ]
            _, org_errors = await export_mine(client)
            errors.extend(org_errors.values())
            org = fake.data.accessible_org_ids[0]
            task = next(
                t for t in fake.data.org_tasks(org) if t["run_id"] and t["status"] != "completed"
            )
            try:
                await client.tasks.complete(org, task["id"], task["run_id"])
            except OutcomeUnknownError as exc:
                errors.append(exc)
        assert len(errors) == 2
        texts += [str(e) for e in errors] + [repr(e) for e in errors]
        texts += [r.getMessage() for r in caplog.records]
        assert any("GET /me/organizations" in t for t in texts)  # the log did say things
        for text in texts:
            assert fake.token not in text


async def test_limiter_and_connection_queueing_do_not_count_against_the_timeout() -> None:
    # One request per 5 s, and one connection at a time with 0.8 s answers: the later requests
    # queue for many seconds, far longer than the 1 s timeout, and none of them times out.
    async with FakeTallyfy(orgs=1, tasks_per_org=6, latency=0.8, seed=20) as fake:
        org = fake.data.org_ids[0]
        ids = [t["id"] for t in fake.data.org_tasks(org)]
        async with client_for(
            fake, rate_limits=[RateLimit(1, 5.0)], max_concurrency=1, timeout=1.0, max_retries=0
        ) as client:
            loop = asyncio.get_running_loop()
            got = await asyncio.gather(*(client.tasks.get(org, t) for t in ids))
            assert loop.time() >= 5 * 5.0
        assert [t["id"] for t in got] == ids
        assert fake.count(status=200) == 6


async def test_a_hung_response_times_out_and_a_get_is_retried() -> None:
    async with FakeTallyfy(orgs=1, tasks_per_org=3, seed=21) as fake:
        fake.inject("hang", method="GET", path_contains="/me", hang_seconds=600)
        async with client_for(fake, timeout=10.0) as client:
            loop = asyncio.get_running_loop()
            me = await client.me()
            assert 10.0 <= loop.time() < 30.0
        assert me["id"] == fake.data.me_id
        assert fake.count(path_contains="/me") == 2


async def test_connection_refused_is_a_transport_error_after_retries() -> None:
    async with FakeTallyfy(orgs=1, seed=22) as fake:
        url = fake.base_url
    # The server is gone: nothing listens on that port any more.
    async with TallyfyClient("t0k3n", base_url=url, max_retries=2) as client:
        with pytest.raises(TransportError) as caught:
            await client.me()
    assert caught.value.sent is False
    assert caught.value.attempts == 3
    assert not isinstance(caught.value, OutcomeUnknownError)


async def test_retries_stop_at_the_time_budget() -> None:
    async with FakeTallyfy(orgs=1, seed=23) as fake:
        fake.inject("html_503", method="GET", times=1000)
        async with client_for(fake, max_retries=1000, retry_budget=20.0) as client:
            loop = asyncio.get_running_loop()
            with pytest.raises(ServerError) as caught:
                await client.me()
            assert loop.time() <= 20.0
        assert caught.value.attempts == len(fake.requests)
        assert caught.value.attempts > 3


async def test_failed_responses_are_released_before_waiting() -> None:
    # One connection only: if a failed attempt kept its connection during the backoff, the
    # other calls could never get one.
    async with FakeTallyfy(orgs=1, tasks_per_org=8, seed=24) as fake:
        org = fake.data.org_ids[0]
        ids = [t["id"] for t in fake.data.org_tasks(org)]
        fake.inject("html_503", method="GET", times=8)
        async with client_for(fake, max_concurrency=1) as client:
            got = await asyncio.wait_for(
                asyncio.gather(*(client.tasks.get(org, t) for t in ids)), timeout=60
            )
        assert [t["id"] for t in got] == ids
        assert fake.count(status=503) == 8


async def test_cancelling_a_call_mid_backoff_propagates_and_sends_nothing_more() -> None:
    async with FakeTallyfy(orgs=1, seed=25) as fake:
        fake.inject("429", method="GET", retry_after=30, times=5)
        async with client_for(fake) as client:
            call = asyncio.ensure_future(client.me())
            await asyncio.sleep(5.0)
            call.cancel()
            with pytest.raises(asyncio.CancelledError):
                await call
            await asyncio.sleep(60.0)
            assert len(fake.requests) == 1
            fake.faults.clear_scripted()
            assert (await client.me())["id"] == fake.data.me_id


async def test_cancelling_the_fan_out_consumer_cancels_every_worker() -> None:
    async with FakeTallyfy(orgs=8, tasks_per_org=2000, latency=5.0, seed=26) as fake:
        async with client_for(fake) as client:
            org_ids = await client.all_org_ids()
            seen: list[str] = []

            async def consume() -> None:
                async for org_id, _task in client.fan_out_stream(
                    org_ids, client.tasks.list_mine, buffer=10
                ):
                    seen.append(org_id)

            consumer = asyncio.ensure_future(consume())
            await asyncio.sleep(12.5)
            consumer.cancel()
            with pytest.raises(asyncio.CancelledError):
                await consumer
            sent = len(fake.requests)
            await asyncio.sleep(30.0)
            assert len(fake.requests) == sent  # nothing kept running behind the caller
            assert (await client.me())["id"] == fake.data.me_id
        assert seen


async def test_leaving_the_item_loop_and_closing_it_cancels_every_worker() -> None:
    # The item iterator is a class over the page stream (not an async generator): leaving
    # its loop and closing it must still reach the stream's cleanup and stop every worker.
    async with (
        FakeTallyfy(orgs=6, tasks_per_org=1000, latency=5.0, seed=26) as fake,
        client_for(fake) as client,
    ):
        org_ids = await client.all_org_ids()
        items = aiter(client.fan_out_stream(org_ids, client.tasks.list_mine, buffer=10))
        taken = [item async for item in _first(items, 150)]
        assert len(taken) == 150
        assert len({task["id"] for _, task in taken}) == 150
        await items.aclose()  # type: ignore[attr-defined]
        workers = [t for t in asyncio.all_tasks() if t.get_name().startswith("aiotallyfy-stream")]
        assert workers == []
        sent = len(fake.requests)
        await asyncio.sleep(60.0)
        assert len(fake.requests) == sent  # nothing kept running behind the caller
        with pytest.raises(StopAsyncIteration):
            await anext(items)


async def _first(items: Any, n: int) -> Any:
    async for item in items:
        yield item
        n -= 1
        if n == 0:
            return


async def test_stream_export_is_exact_and_reports_failed_orgs() -> None:
    async with FakeTallyfy(
        orgs=6, tasks_per_org=[0, 5, 150, 260, 40, 99], forbidden_orgs=1, seed=27
    ) as fake:
        done: list[str] = []
        async with client_for(fake) as client:
            org_ids = await client.all_org_ids()
            stream = client.fan_out_stream(
                org_ids,
                client.tasks.list_mine,
                buffer=5,
                on_org_done=lambda r: done.append(r.org_id),
            )
            got = sorted([(org, task["id"]) async for org, task in stream])
        assert got == expected_mine(fake)
        assert sorted(done) == sorted(org_ids)
        assert [r.org_id for r in stream.failed] == fake.data.forbidden_org_ids
        assert isinstance(stream.failed[0].error, PermissionDeniedError)
        for org in fake.data.accessible_org_ids:
            assert stream.results[org].count == len(fake.data.my_tasks(org, "all"))


async def test_org_rate_limits_hold_per_org_during_fan_out() -> None:
    async with FakeTallyfy(
        orgs=5, tasks_per_org=500, rate_limit=(6, 1.0), rate_limit_scope="org", seed=28
    ) as fake:
        async with client_for(
            fake, org_rate_limits=[RateLimit(6, 1.0)], rate_limit_feedback="org"
        ) as client:
            items, errors = await export_mine(client)
        assert errors == {}
        assert sorted((t["organization_id"], t["id"]) for t in items) == expected_mine(fake)
        assert fake.count(status=429) == 0
        for org in fake.data.org_ids:
            assert fake.max_admitted_in_window(1.0, key=org) <= 6


async def test_one_session_per_client_and_clean_close() -> None:
    async with FakeTallyfy(orgs=2, tasks_per_org=10, seed=29) as fake:
        client = client_for(fake)
        await client.me()
        session = client._transport.session
        await client.organizations.get(fake.data.org_ids[0])
        assert client._transport.session is session
        assert session.connector is not None
        assert session.connector.limit == client.max_concurrency
        await client.aclose()
        await client.aclose()  # idempotent
        assert session.closed
        with pytest.raises(RuntimeError, match="closed"):
            await client.me()


async def test_invalid_ids_are_rejected_before_sending() -> None:
    async with FakeTallyfy(orgs=1, seed=30) as fake:
        async with client_for(fake) as client:
            for bad in ("../me", "a/b", "", "x" * 300, "a b"):
                with pytest.raises(InvalidArgument):
                    await client.tasks.get(fake.data.org_ids[0], bad)
        assert fake.requests == []


async def test_bad_list_and_download_arguments_are_invalid_arguments_naming_the_field(
    tmp_path: Path,
) -> None:
    async with FakeTallyfy(orgs=1, seed=30) as fake:
        org = fake.data.org_ids[0]
        async with client_for(fake) as client:
            caught: list[InvalidArgument] = []
            # A list refuses its arguments at the call, before any iteration.
            for make in (
                lambda: client.tasks.list_mine(org, status="done"),
                lambda: client.tasks.list_every(org, status="active"),
            ):
                with pytest.raises(InvalidArgument) as raised:
                    make()
                caught.append(raised.value)
            with pytest.raises(InvalidArgument) as raised:
                await client.files.download(org, "0" * 32, tmp_path / "f", chunk_size=0)
            caught.append(raised.value)
        assert [e.field for e in caught] == ["status", "status", "chunk_size"]
        assert [e.attempts for e in caught] == [0, 0, 0]
        assert not any(str(e).startswith("HTTP") for e in caught)
        assert fake.requests == []


async def test_stream_pages_give_each_orgs_pages_in_order_and_exactly() -> None:
    async with FakeTallyfy(orgs=4, tasks_per_org=[0, 250, 420, 99], seed=31) as fake:
        async with client_for(fake) as client:
            org_ids = await client.all_org_ids()
            stream = client.fan_out_stream(org_ids, client.tasks.list_mine, buffer=100)
            per_org: dict[str, list[str]] = {o: [] for o in org_ids}
            sizes: list[int] = []
            async for org_id, page in stream.pages():
                sizes.append(len(page))
                per_org[org_id].extend(t["id"] for t in page)
        for org in org_ids:
            assert per_org[org] == [t["id"] for t in fake.data.my_tasks(org, "all")]
            assert stream.results[org].count == len(per_org[org])
        assert 0 not in sizes  # an empty org yields no empty page
        assert max(sizes) <= 100
        with pytest.raises(RuntimeError, match="once"):
            stream.pages()
