"""Test against a faithful fake Tallyfy over real loopback sockets, optionally on virtual time.

- ``FakeTallyfy``: an aiohttp.web server on 127.0.0.1 serving Tallyfy's routes, envelope,
  quirks, errors, rate limits and injectable faults, recording every request.
- ``VirtualTimeLoop`` / ``run_virtual``: an event loop whose clock jumps when idle, so that
  Retry-After, backoff, rate-limit windows and timeouts are tested in milliseconds.
- ``enable_oauth(fake, ...)``: ``/oauth/token`` with the password, refresh_token and
  client_credentials grants, and access tokens that expire on the loop's clock.
- The pytest plugin (installed with the package) provides ``fake_tallyfy`` and
  ``fake_tallyfy_factory`` fixtures.
"""

from ._fake_applications import FakeApplications, enable_applications
from ._fake_data import FakeData
from ._fake_files import FakeFiles, fake_files
from ._fake_oauth import FakeOAuth, IssuedAccessToken, enable_oauth
from ._fake_server import FakeTallyfy, RecordedRequest
from ._faults import FAULT_NAMES, FaultPlan
from ._virtual_time import VirtualTimeLoop, run_virtual, virtual_time_loop_factories

__all__ = [
    "FAULT_NAMES",
    "FakeApplications",
    "FakeData",
    "FakeFiles",
    "FakeOAuth",
    "FakeTallyfy",
    "FaultPlan",
    "IssuedAccessToken",
    "RecordedRequest",
    "VirtualTimeLoop",
    "enable_applications",
    "enable_oauth",
    "fake_files",
    "run_virtual",
    "virtual_time_loop_factories",
]
