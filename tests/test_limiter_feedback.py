"""What the server says about its limit, and what the local limiter makes of it.

``X-RateLimit-Remaining`` closes the gate before the server would answer 429. The count it is
compared with must be exactly the requests this client really sent since: not the admissions
that were cancelled before they left (L9), not another scope's requests, and never a number
the client does not understand (negative, NaN-like, another script's digits).
"""

from __future__ import annotations

import asyncio

import pytest
from _hostile import hostile_server
from aiohttp import web

from aiotallyfy import LimitScope, LocalRateLimiter, RateLimit, TallyfyClient

pytestmark = pytest.mark.virtual_time

TOKEN = "feedback-token"
FAST = [RateLimit(1000, 60.0, burst=1000)]  # pacing out of the way: only the gate decides


# ------------------------------------------------------------------------ cancelled admissions
async def test_a_released_admission_gives_its_place_back() -> None:
    limiter = LocalRateLimiter(FAST, probe_initial=0.5)
    scope = LimitScope(LimitScope.token_key_for(TOKEN))
    first = await limiter.acquire(scope)
    await limiter.commit(first)
    limiter.observe(first, status=200, remaining=3, retry_after=None)
    for _ in range(3):
        cancelled = await limiter.acquire(scope)
        limiter.release(cancelled)  # never committed: it was not sent
    loop = asyncio.get_running_loop()
    for _ in range(3):  # the three places are still there
        admission = await limiter.acquire(scope)
        await limiter.commit(admission)
        assert loop.time() == 0.0
    # A committed admission is sent: releasing it gives nothing back.
    limiter.release(admission)
    waiting = asyncio.ensure_future(limiter.acquire(scope))
    await asyncio.sleep(0.25)
    assert not waiting.done()
    await waiting
    assert loop.time() == 0.5  # the probe


async def test_requests_cancelled_while_queued_for_a_connection_are_not_counted() -> None:
    """L9 end to end: the server reports 3 remaining; 3 requests queued for the only
    connection are cancelled; the next request leaves at once instead of waiting 0.5 s."""
    loop = asyncio.get_running_loop()
    remaining = 5
    times: dict[str, float] = {}

    async def handler(request: web.Request) -> web.Response:
        nonlocal remaining
        remaining -= 1
        times[request.path] = loop.time()
        if request.path.endswith("/slow"):
            await asyncio.sleep(1.0)
        return web.json_response({"data": {}}, headers={"X-RateLimit-Remaining": str(remaining)})

    async with (
        hostile_server(handler) as server,
        TallyfyClient(
            TOKEN, base_url=server.base_url, max_concurrency=1, rate_limits=FAST
        ) as client,
    ):
        await client.request("GET", "/first")  # remaining 4
        slow = asyncio.ensure_future(client.request("GET", "/slow"))  # holds the connection
        await asyncio.sleep(0.01)
        queued = [asyncio.ensure_future(client.request("GET", f"/queued{i}")) for i in range(3)]
        await asyncio.sleep(0.1)
        for task in queued:
            task.cancel()
        await asyncio.gather(*queued, return_exceptions=True)
        await slow  # its answer, at t=1.0: 3 remaining
        await client.request("GET", "/next")
    assert server.paths() == ["/api/first", "/api/slow", "/api/next"]
    assert times["/api/next"] == pytest.approx(1.0)
    assert all(t.cancelled() for t in queued)


# ------------------------------------------------------------------------ one count per scope
async def test_remaining_counts_are_kept_per_scope() -> None:
    """Requests of one organization must not use up another's reported remaining count."""
    limiter = LocalRateLimiter(FAST, FAST, feedback_scope="org")
    token = LimitScope.token_key_for(TOKEN)
    a, b = LimitScope(token, "org-a"), LimitScope(token, "org-b")
    first = await limiter.acquire(a)
    await limiter.commit(first)
    limiter.observe(first, status=200, remaining=5, retry_after=None)
    for _ in range(10):  # org-b's traffic, no headers
        await limiter.commit(await limiter.acquire(b))
    loop = asyncio.get_running_loop()
    for _ in range(5):  # org-a's five remaining requests all leave at once
        await limiter.commit(await limiter.acquire(a))
    assert loop.time() == 0.0


# ------------------------------------------------------------------------ hostile header values
@pytest.mark.parametrize(
    "value",
    ["-1", "-5", "-99999999999999999999", " -3 ", "NaN", "inf", "1e3", "3.5", "", "abc", "0x10"],
)
async def test_rate_limit_headers_the_client_does_not_understand_are_ignored(value: str) -> None:
    """A negative or non-numeric X-RateLimit-Remaining/-Limit is not a count: the answer is
    still used, and the next request is not held by a gate that such a value closed."""
    loop = asyncio.get_running_loop()
    times: list[float] = []

    async def handler(request: web.Request) -> web.Response:
        times.append(loop.time())
        headers = {"X-RateLimit-Remaining": value, "X-RateLimit-Limit": value}
        return web.json_response({"data": {"id": 7}}, headers=headers)

    async with (
        hostile_server(handler) as server,
        TallyfyClient(TOKEN, base_url=server.base_url, rate_limits=FAST) as client,
    ):
        first = await client.request("GET", "/me")
        second = await client.request("GET", "/me")
    assert first.data == second.data == {"data": {"id": 7}}
    assert times == [0.0, 0.0]
