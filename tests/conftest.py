"""Shared test configuration: async tests marked ``virtual_time`` run on a virtual clock; the
``fake``/``client`` pair the resource tests share (a module may define its own ``fake``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import pytest
import pytest_asyncio

from aiotallyfy import TallyfyClient
from aiotallyfy.testing import FakeTallyfy
from aiotallyfy.testing._virtual_time import virtual_time_loop_factories


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "virtual_time: run this async test on a VirtualTimeLoop")


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> Mapping[str, Callable[[], Any]]:
    return virtual_time_loop_factories(item)


@pytest.fixture
def fake_tasks_per_org() -> int:
    """Tasks seeded in the one org of ``fake``; a module needing more pages overrides this."""
    return 5


@pytest_asyncio.fixture
async def fake(fake_tasks_per_org: int) -> AsyncIterator[FakeTallyfy]:
    async with FakeTallyfy(orgs=1, tasks_per_org=fake_tasks_per_org) as f:
        yield f


@pytest_asyncio.fixture
async def client(fake: FakeTallyfy) -> AsyncIterator[TallyfyClient]:
    async with TallyfyClient(fake.token, base_url=fake.base_url) as c:
        yield c
