"""pytest plugin: fixtures that run a :class:`~aiotallyfy.testing.FakeTallyfy` per test.

Registered automatically through the ``pytest11`` entry point of the ``aiotallyfy``
distribution (disable with ``-p no:aiotallyfy``).

Fixtures (function-scoped, async; they need **pytest-asyncio**):

``fake_tallyfy``
    A started ``FakeTallyfy()`` with default settings, closed after the test::

        async def test_my_code(fake_tallyfy):
            await my_sync_job(base_url=fake_tallyfy.base_url, token=fake_tallyfy.token)
            assert fake_tallyfy.count("POST", "/completed-tasks") == 3

``fake_tallyfy_factory``
    A callable taking the same keyword arguments as ``FakeTallyfy``; it returns an (unstarted)
    fake that is an async context manager.  Every fake it made is closed at teardown, so
    ``fake = await fake_tallyfy_factory(rate_limit=(5, 1.0)).start()`` is fine too::

        async def test_rate_limited(fake_tallyfy_factory):
            async with fake_tallyfy_factory(rate_limit=(5, 1.0), orgs=2) as fake:
                ...

If pytest-asyncio is not installed, importing this plugin does not fail: the fixtures are
simply not defined (install ``pytest-asyncio`` to use them).  The fake server module itself
is imported lazily, when a fixture is first used.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._server import FakeTallyfy

__all__ = ["FakeTallyfyFactory"]

FakeTallyfyFactory = Callable[..., "FakeTallyfy"]
"""Type of the ``fake_tallyfy_factory`` fixture value."""

try:
    import pytest_asyncio
except ImportError:  # pragma: no cover - depends on the user's environment
    _HAVE_PYTEST_ASYNCIO = False
else:
    _HAVE_PYTEST_ASYNCIO = True


if _HAVE_PYTEST_ASYNCIO:

    @pytest_asyncio.fixture
    async def fake_tallyfy() -> AsyncIterator[FakeTallyfy]:
        """A started default :class:`FakeTallyfy`, closed after the test."""
        from ._server import FakeTallyfy

        async with FakeTallyfy() as fake:
            yield fake

    @pytest_asyncio.fixture
    async def fake_tallyfy_factory() -> AsyncIterator[FakeTallyfyFactory]:
        """Factory of :class:`FakeTallyfy` instances (same kwargs); all closed at teardown."""
        from ._server import FakeTallyfy

        made: list[FakeTallyfy] = []

        def factory(**kwargs: Any) -> FakeTallyfy:
            fake = FakeTallyfy(**kwargs)
            made.append(fake)
            return fake

        try:
            yield factory
        finally:
            for fake in reversed(made):
                await fake.close()
