"""Hostile token endpoints: what the OAuth grants make of servers that echo secrets, fail for
a moment, or fail for good. Every endpoint here is a plain aiohttp handler on 127.0.0.1
(``tests/_hostile.py``); the assertions are on the exact error and the exact requests seen."""

from __future__ import annotations

import pytest
from _hostile import hostile_server
from aiohttp import web

from aiotallyfy import AuthenticationError, PasswordGrant, Secret

pytestmark = pytest.mark.virtual_time

CLIENT_ID = "15"
CLIENT_SECRET = "CS-bbbbSECRETbbbb-0001"
USER = "ada@example.com"
PASSWORD = "PW-ccccSECRETcccc-0002"


def password_grant(token_url: str, **kwargs: object) -> PasswordGrant:
    return PasswordGrant(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        username=USER,
        password=PASSWORD,
        token_url=token_url,
        **kwargs,  # type: ignore[arg-type]
    )


# ----------------------------------------------------------------------------- L1 scrubbing
@pytest.mark.parametrize("start", [0, 480, 485, 492, 499, 500, 510])
async def test_a_secret_echoed_near_the_cut_leaves_no_part_of_itself(start: int) -> None:
    # L1: the message was cut at 500 characters first and scrubbed second, so a secret that
    # straddled the cut was no longer recognised and its head leaked ("... CS-bbbbS").
    message = "a" * start + CLIENT_SECRET + " and " + PASSWORD

    async def echo(request: web.Request) -> web.StreamResponse:
        return web.json_response({"error": "invalid_client", "message": message}, status=401)

    async with hostile_server(echo) as server:
        grant = password_grant(f"{server.url}/oauth/token")
        try:
            with pytest.raises(AuthenticationError) as info:
                await grant.get_token(None)
        finally:
            await grant.aclose()
    expected = ("a" * start + "**********" + " and " + "**********")[:500]
    assert info.value.message == f"password grant failed: {expected}"
    text = str(info.value)
    for secret in (CLIENT_SECRET, PASSWORD):
        for head in range(4, len(secret) + 1):
            assert secret[:head] not in text
    assert len(server.seen) == 1


def test_scrub_then_truncate_scrubs_first_and_longest_first() -> None:
    from aiotallyfy._secrets import scrub, scrub_then_truncate

    secret = Secret("abcdef")
    assert scrub_then_truncate("xxxxabcdef", [secret], 7) == "xxxx***"
    assert scrub_then_truncate("abcdef", [secret, None, ""], 100) == "**********"
    # One secret containing another: the longer one is replaced whole.
    assert scrub("k=abcdef", ["abc", secret]) == "k=**********"
    assert scrub("nothing here", [secret]) == "nothing here"
    with pytest.raises(ValueError, match="limit"):
        scrub_then_truncate("x", [secret], -1)
