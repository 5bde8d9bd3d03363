"""The request loop (``HTTPCore``) against a scripted in-memory ``Transport``: no sockets, so
each rule of token → limiter → send → classify → decide is seen in isolation, with the exact
attempts the transport received (gidgethub's sans-I/O test style). Waits run on virtual time.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping
from typing import Any

import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from aiotallyfy import (
    LocalRateLimiter,
    NotFoundError,
    OutcomeUnknownError,
    RedirectError,
    ResponseTooLargeError,
    RetryPolicy,
    ServerError,
    StaticToken,
    TransportError,
)
from aiotallyfy._auth import IssuedToken, RenewingTokenProvider
from aiotallyfy._http import HTTPCore
from aiotallyfy._retry import FailureKind
from aiotallyfy._secrets import Secret
from aiotallyfy._transport import Body, Consume, RawResponse, Transport, TransportFailure

pytestmark = pytest.mark.virtual_time

BASE = "https://api.test/api"
Step = RawResponse | TransportFailure


class ScriptedTransport:
    """Answers each attempt with the next scripted step; records what was sent."""

    base_url = BASE

    def __init__(self, *steps: Step) -> None:
        self.steps = list(steps)
        self.sent: list[tuple[str, str, str | None]] = []

    async def send(
        self,
        method: str,
        url: str,
        *,
        token: Secret | None,
        body: Body = None,
        extra_headers: Mapping[str, str] | None = None,
        consume: Consume | None = None,
        follow_redirects: bool = True,
        total_timeout: float | None = None,
    ) -> RawResponse:
        self.sent.append((method, url, None if token is None else token.reveal()))
        step = self.steps.pop(0)
        if isinstance(step, TransportFailure):
            raise step
        return step

    async def aclose(self) -> None:
        return None


def answer(status: int, body: bytes = b"", **headers: str) -> RawResponse:
    return RawResponse(status, CIMultiDictProxy(CIMultiDict(headers)), body, f"{BASE}/x")


def core_for(transport: Transport, auth: Any = None) -> HTTPCore:
    return HTTPCore(
        transport=transport,
        auth=auth or StaticToken("tok"),
        limiter=LocalRateLimiter((), ()),
        policy=RetryPolicy(),
        max_concurrency=4,
        rng=random.Random(7),
    )


async def test_success_decodes_once_and_counts_one_call() -> None:
    wire = ScriptedTransport(answer(200, b'{"data": {"id": 1}}', **{"X-Request-Id": "r1"}))
    core = core_for(wire)
    response = await core.request("GET", "/me", params={"q": "a b"})
    assert (response.status, response.data, response.request_id) == (200, {"data": {"id": 1}}, "r1")
    assert wire.sent == [("GET", f"{BASE}/me?q=a%20b", "tok")]
    assert (core.stats.calls, core.stats.requests, core.stats.errors) == (1, 1, 0)


async def test_503_is_retried_for_a_read_until_it_succeeds() -> None:
    wire = ScriptedTransport(answer(503), answer(503), answer(200, b"{}"))
    core = core_for(wire)
    response = await core.request("GET", "/me")
    assert response.attempts == 3
    assert len(wire.sent) == 3
    assert (core.stats.retries, core.stats.server_errors, core.stats.by_status) == (
        2,
        2,
        {503: 2, 200: 1},
    )


async def test_503_on_a_write_is_not_retried_and_carries_where() -> None:
    wire = ScriptedTransport(answer(503, b'{"message": "down"}'))
    core = core_for(wire)
    with pytest.raises(ServerError) as info:
        await core.request("POST", "/organizations/o1/runs", org_id="o1", json={"a": 1})
    err = info.value
    assert (err.status, err.message, err.method, err.path, err.attempts, err.org_id) == (
        503,
        "down",
        "POST",
        "/organizations/o1/runs",
        1,
        "o1",
    )
    assert len(wire.sent) == 1
    assert core.stats.errors == 1


async def test_a_dropped_write_is_sent_once_and_its_outcome_unknown() -> None:
    wire = ScriptedTransport(TransportFailure(FailureKind.DISCONNECTED, "reset"))
    core = core_for(wire)
    with pytest.raises(OutcomeUnknownError) as info:
        await core.request("POST", "/organizations/o1/runs", org_id="o1", json={})
    err = info.value
    assert (err.method, err.path, err.attempts, err.org_id, err.sent) == (
        "POST",
        "/organizations/o1/runs",
        1,
        "o1",
        True,
    )
    assert len(wire.sent) == 1
    assert (core.stats.transport_errors, core.stats.errors) == (1, 1)


async def test_a_write_that_never_connected_is_retried() -> None:
    wire = ScriptedTransport(
        TransportFailure(FailureKind.CONNECT, "refused"), answer(201, b'{"data": {}}')
    )
    response = await core_for(wire).request("POST", "/x", json={})
    assert (response.status, response.attempts, len(wire.sent)) == (201, 2, 2)


async def test_tls_failure_is_not_retried_and_was_not_sent() -> None:
    wire = ScriptedTransport(
        TransportFailure(FailureKind.TLS, "TLS certificate verification failed")
    )
    with pytest.raises(TransportError, match="certificate verification failed") as info:
        await core_for(wire).request("GET", "/me", org_id="o1")
    assert (info.value.sent, info.value.attempts, info.value.org_id) == (False, 1, "o1")
    assert len(wire.sent) == 1


async def test_too_large_carries_the_transport_limit() -> None:
    wire = ScriptedTransport(TransportFailure(FailureKind.TOO_LARGE, "too big", limit=1000))
    with pytest.raises(ResponseTooLargeError) as info:
        await core_for(wire).request("GET", "/me")
    assert (info.value.limit, info.value.attempts, len(wire.sent)) == (1000, 1, 1)


async def test_a_refused_redirect_is_a_redirect_error_with_where() -> None:
    refused = RawResponse(
        302,
        CIMultiDictProxy(CIMultiDict()),
        b"",
        f"{BASE}/me",
        refused="redirect to another origin refused",
        location="https://elsewhere.test/me",
    )
    wire = ScriptedTransport(refused)
    with pytest.raises(RedirectError) as info:
        await core_for(wire).request("GET", "/me", org_id="o1")
    err = info.value
    assert (err.status, err.location, err.method, err.path, err.attempts, err.org_id) == (
        302,
        "https://elsewhere.test/me",
        "GET",
        "/me",
        1,
        "o1",
    )
    assert len(wire.sent) == 1  # a 3xx is never retried


async def test_a_2xx_that_is_not_json_is_refetched_then_an_error() -> None:
    html = answer(200, b"<html>login</html>", **{"Content-Type": "text/html"})
    wire = ScriptedTransport(html, answer(200, b'{"ok": true}'))
    response = await core_for(wire).request("GET", "/me")
    assert (response.data, response.attempts) == ({"ok": True}, 2)


class Renewing(RenewingTokenProvider):
    def __init__(self) -> None:
        super().__init__(refresh_margin=0, clock=None)
        self.issued = 0

    async def _fetch(self, org_id: str | None, stale: Secret | None) -> IssuedToken:
        self.issued += 1
        return IssuedToken(f"tok-{self.issued}")


async def test_a_401_renews_the_token_once_and_retries_with_the_new_one() -> None:
    wire = ScriptedTransport(answer(401), answer(200, b"{}"))
    response = await core_for(wire, Renewing()).request("GET", "/me")
    assert [token for _, _, token in wire.sent] == ["tok-1", "tok-2"]
    assert response.attempts == 1  # a renewed credential gets a fresh attempt


async def test_every_attempt_and_the_failure_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="aiotallyfy")
    wire = ScriptedTransport(answer(503), answer(404, b'{"message": "gone"}'))
    with pytest.raises(NotFoundError, match="gone"):
        await core_for(wire).request("GET", "/things/1")
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0].startswith("GET /things/1 -> 503 attempt=1")
    assert lines[1].startswith("GET /things/1 -> 404 attempt=2")
    assert lines[2] == "GET /things/1 failed: NotFoundError"
    assert "tok" not in caplog.text


async def test_send_unmetered_counts_and_logs_without_token_or_budget(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="aiotallyfy")
    wire = ScriptedTransport(answer(503), TransportFailure(FailureKind.CONNECT, "refused"))
    core = core_for(wire)
    raw = await core.send_unmetered("POST", "https://auth.test/oauth/token?x=1", body=b"s")
    assert raw.status == 503
    with pytest.raises(TransportFailure):
        await core.send_unmetered("POST", "https://auth.test/oauth/token", attempt=2)
    assert [token for _, _, token in wire.sent] == [None, None]
    assert (core.stats.requests, core.stats.server_errors, core.stats.transport_errors) == (2, 1, 1)
    assert [r.getMessage() for r in caplog.records] == [
        "POST /oauth/token -> 503 attempt=1",
        "POST /oauth/token -> connect attempt=2",
    ]
