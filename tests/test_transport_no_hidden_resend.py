"""Regression: aiohttp re-sends a PUT or DELETE on its own, once, when the server drops the
connection (``ClientSession._retry_connection``, RFC 9112 §9.3.1 "idempotent" methods). Our
retry layer decides what is re-sent: a write it marks not idempotent (a delete whose repeat
answers 404, a conversion) must reach the server exactly once and end in
``OutcomeUnknownError``, never in a second send behind our back."""

from __future__ import annotations

import asyncio

import pytest
from _hostile import raw_server
from _resources_helpers import org

from aiotallyfy import OutcomeUnknownError, TallyfyClient
from aiotallyfy._transport import disable_hidden_resend
from aiotallyfy.testing import FakeTallyfy, area_of

pytestmark = pytest.mark.virtual_time


async def test_delete_not_marked_idempotent_is_sent_once(
    fake: FakeTallyfy, client: TallyfyClient
) -> None:
    email = next(iter(area_of(fake, org(fake)).guests.values()))["email"]
    fake.inject("reset_after_apply", method="DELETE", path_contains="/guests/")
    with pytest.raises(OutcomeUnknownError):
        await client.guests.delete(org(fake), email)
    assert fake.count("DELETE", "/guests/") == 1


async def test_put_not_marked_idempotent_is_sent_once(
    fake: FakeTallyfy, client: TallyfyClient
) -> None:
    uid = fake.data.members(org(fake))[1]["id"]
    fake.inject("reset_after_apply", method="PUT", path_contains="/to/guest")
    with pytest.raises(OutcomeUnknownError):
        await client.users.to_guest(org(fake), uid)
    assert fake.count("PUT", "/to/guest") == 1


# -------------------------------------------------------------- stale keep-alive connection
async def test_get_on_a_stale_keep_alive_connection_is_retried_at_once() -> None:
    """With aiohttp's own re-send turned off, our layer must still retry a GET promptly when
    the server closes a kept-alive connection just as the next request goes out (its idle
    timeout racing our reuse). That request never reached the application, and the fresh
    connection is a new one: the retry is sent at once, not after a backoff."""
    body = b'{"data": {"id": 1}}'
    answer = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    )
    connections: list[int] = []  # requests read on each connection

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        index = len(connections)
        connections.append(0)
        try:
            while True:
                await reader.readuntil(b"\r\n\r\n")
                connections[index] += 1
                if index == 0 and connections[index] == 2:
                    break  # stale: closed as the second request arrives, unanswered
                writer.write(answer)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async with raw_server(handle) as url, TallyfyClient("tok", base_url=f"{url}/api") as client:
        await client.me()
        loop = asyncio.get_running_loop()
        started = loop.time()
        assert (await client.me())["id"] == 1
        elapsed = loop.time() - started
        stats = client.stats
    assert connections == [2, 1]  # the stale one, then a fresh one for the retry
    assert (stats.requests, stats.retries, stats.transport_errors) == (3, 1, 1)
    assert elapsed == 0.0  # virtual time: no backoff before the retry


def test_hidden_resend_guard_fails_loudly_if_aiohttp_renames_the_switch() -> None:
    class Renamed:  # a session whose private switch has another name
        pass

    with pytest.raises(RuntimeError, match="_retry_connection"):
        disable_hidden_resend(Renamed())  # type: ignore[arg-type]
