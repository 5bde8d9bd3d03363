"""Helpers the resource test modules share (their ``fake``/``client`` fixtures are in
conftest.py)."""

from __future__ import annotations

from aiotallyfy.testing import FakeTallyfy


def org(fake: FakeTallyfy) -> str:
    """The id of the fake's one organization (the shared ``fake`` seeds exactly one)."""
    return fake.data.org_ids[0]
