"""Test against a faithful fake Tallyfy over real loopback sockets, optionally on virtual time.

- ``FakeTallyfy``: an aiohttp.web server on 127.0.0.1 serving Tallyfy's routes, envelope,
  quirks, errors, rate limits and injectable faults, recording every request.
- ``VirtualTimeLoop`` / ``run_virtual``: an event loop whose clock jumps when idle, so that
  Retry-After, backoff, rate-limit windows and timeouts are tested in milliseconds.
- ``enable_oauth(fake, ...)``: ``/oauth/token`` with the password, refresh_token and
  client_credentials grants, and access tokens that expire on the loop's clock.
- ``FakeTallyfy(areas=DEFAULT_AREAS)``: each ``FakeArea`` carries its routes, task includes
  and hooks; pass ``CORE_AREAS`` plus your own ``FakeArea`` for a smaller or extended fake, or
  ``fake.router.add(...)`` for one route on one fake. ``area_of(fake, org_id)`` seeds and
  inspects an org's guests, tags, steps, ... directly.
- The pytest plugin (installed with the package) provides ``fake_tallyfy`` and
  ``fake_tallyfy_factory`` fixtures.
"""

from ._core_routes import CORE_AREAS
from ._envelope import FakeHTTPError, json_response, paginated_response
from ._fake_applications import FakeApplications, enable_applications
from ._fake_areas import DEFAULT_AREAS
from ._fake_data import FakeData
from ._fake_files import FakeFiles, fake_files
from ._fake_oauth import FakeOAuth, IssuedAccessToken, enable_oauth
from ._fake_store import Area, area_of
from ._faults import FAULT_NAMES, FaultPlan
from ._router import FakeArea, RouteContext, Router
from ._server import FakeTallyfy, RecordedRequest
from ._virtual_time import VirtualTimeLoop, run_virtual, virtual_time_loop_factories

__all__ = [
    "CORE_AREAS",
    "DEFAULT_AREAS",
    "FAULT_NAMES",
    "Area",
    "FakeApplications",
    "FakeArea",
    "FakeData",
    "FakeFiles",
    "FakeHTTPError",
    "FakeOAuth",
    "FakeTallyfy",
    "FaultPlan",
    "IssuedAccessToken",
    "RecordedRequest",
    "RouteContext",
    "Router",
    "VirtualTimeLoop",
    "area_of",
    "enable_applications",
    "enable_oauth",
    "fake_files",
    "json_response",
    "paginated_response",
    "run_virtual",
    "virtual_time_loop_factories",
]
