"""Shared test configuration: async tests marked ``virtual_time`` run on a virtual clock."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest

from aiotallyfy.testing._virtual_time import virtual_time_loop_factories


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "virtual_time: run this async test on a VirtualTimeLoop")


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> Mapping[str, Callable[[], Any]]:
    return virtual_time_loop_factories(item)
