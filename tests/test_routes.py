"""Route templates (``aiotallyfy._routes``): every route FakeTallyfy serves maps back to its
own pattern, and nothing that is not a known literal word (an id, an e-mail, a query value)
ever survives into a template."""

from __future__ import annotations

import re

import pytest

from aiotallyfy._routes import _LITERALS, route_template
from aiotallyfy.testing import FakeTallyfy

HEX = "3f9c2a6d1e8b4c7fa0b1c2d3e4f5a6b7"
EMAIL = "kim%2Bx%40example.com"
ORG = f"/organizations/{HEX}"


def concrete(pattern: str) -> str:
    """The pattern with every parameter filled: hex ids, a numeric id, an encoded e-mail."""
    values = iter([HEX, "1234", EMAIL, HEX.upper(), "42"] * 4)
    return re.sub(r"\{[^}]+\}", lambda _: next(values), pattern)


def fake_patterns() -> list[str]:
    fake = FakeTallyfy(orgs=1, tasks_per_org=1)  # never started: only its route table is read
    return sorted({route.pattern for route in fake.router.routes})


def test_every_fake_route_maps_back_to_its_pattern() -> None:
    patterns = fake_patterns()
    assert len(patterns) >= 80
    for pattern in patterns:
        template = route_template(concrete(pattern))
        # the fake names a guest by e-mail or by id; one name is enough for a template
        assert template == pattern.replace("{email}", "{guest}"), pattern


def test_vocabulary_is_exactly_the_fake_routes_words_plus_application_routes() -> None:
    words = {s for p in fake_patterns() for s in p.split("/") if s and not s.startswith("{")}
    assert words | {"applications", "token"} == set(_LITERALS)


@pytest.mark.parametrize(
    ("path", "template"),
    [
        ("/me", "/me"),
        ("/organizations/abc", "/organizations/{org}"),
        (f"{ORG}/runs/{HEX}/tasks/{HEX}", "/organizations/{org}/runs/{run}/tasks/{task}"),
        (f"{ORG}/guests/{EMAIL}/to/member", "/organizations/{org}/guests/{guest}/to/member"),
        (f"{ORG}/tags/12", "/organizations/{org}/tags/{tag}"),
        (f"{ORG}/checklists/tags/12", "/organizations/{org}/checklists/tags/{association}"),
        (f"/applications/{HEX}/users/{EMAIL}/token", "/applications/{org}/users/{user}/token"),
        (f"/organizations/{HEX}/search?search=secret+words&on=task", "/organizations/{org}/search"),
        # unknown words are placeholders too: deny by default
        (f"/organizations/{HEX}/some-new-thing/xyz", "/organizations/{org}/{id}/{id}"),
        ("organizations/o1/tasks/t1/", "/organizations/{org}/tasks/{task}"),
    ],
)  # fmt: skip
def test_examples(path: str, template: str) -> None:
    assert route_template(path) == template


def test_no_path_segment_outside_the_vocabulary_survives() -> None:
    for path in ["/x/kim@example.com/y", "/organizations/a/b/c/d/e/f", "/../../etc/passwd"]:
        for segment in route_template(path).strip("/").split("/"):
            assert segment in _LITERALS or re.fullmatch(r"\{[a-z]+\}", segment), (path, segment)
