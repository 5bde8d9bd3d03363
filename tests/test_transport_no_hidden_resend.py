"""Regression: aiohttp re-sends a PUT or DELETE on its own, once, when the server drops the
connection (``ClientSession._retry_connection``, RFC 9112 §9.3.1 "idempotent" methods). Our
retry layer decides what is re-sent: a write it marks not idempotent (a delete whose repeat
answers 404, a conversion) must reach the server exactly once and end in
``OutcomeUnknownError``, never in a second send behind our back."""

from __future__ import annotations

import pytest
from _resources_helpers import org

from aiotallyfy import OutcomeUnknownError, TallyfyClient
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
