"""Shared by the hooks and OpenTelemetry tests."""

from __future__ import annotations

import random
from typing import Any

from aiotallyfy import RequestHooks, TallyfyClient
from aiotallyfy.testing import FakeTallyfy

ROUTE = "/organizations/{org}/tasks/{task}"


class Top(random.Random):
    """Jitter at its ceiling, so every wait is a number a test can write down."""

    def uniform(self, a: float, b: float) -> float:
        return b


async def get_after_429_and_503(*hooks: RequestHooks[Any]) -> tuple[str, int]:
    """``client.tasks.get`` of one task that FakeTallyfy (50 ms latency) answers 429
    (``Retry-After: 1``), then with an HTML 503, then 200; jitter at its ceiling. Returns the
    org id and the fake's port."""
    async with FakeTallyfy(orgs=1, tasks_per_org=3, latency=0.05) as fake:
        org = fake.data.org_ids[0]
        task = fake.data.task_ids(org)[0]
        fake.inject("429", path_contains=task, retry_after=1)
        fake.inject("html_503", path_contains=task)
        async with TallyfyClient(
            fake.token, base_url=fake.base_url, rng=Top(), hooks=hooks
        ) as client:
            assert (await client.tasks.get(org, task))["id"] == task
        assert [r.status for r in fake.requests] == [429, 503, 200]
        return org, fake.port
