"""Start-up cost: ``import aiotallyfy`` and the CLI's ``--version`` / ``--help`` / usage errors
import neither aiohttp nor the client (issue 11: ``aiotallyfy --version`` within 1.15x of
``python -c "import aiohttp"``); every public name still resolves on first use.

The import checks run in a fresh interpreter: this test process has imported everything.
"""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import aiotallyfy

HEAVY = ("aiohttp", "aiolimiter", "redis", "rich", "dlt", "aiotallyfy._client")
"""Modules --version must not pay for (orjson, a 6 ms C extension, comes with the CLI's writers
through ``cli._args`` importing their column list, and is allowed)."""


def _modules_after(code: str) -> list[str]:
    seen = f"','.join(m for m in {HEAVY!r} if m in sys.modules)"
    probe = f"{code}\nimport sys\nprint('MODULES:' + {seen})"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    line = next(x for x in out.stdout.splitlines() if x.startswith("MODULES:"))
    return [m for m in line.removeprefix("MODULES:").split(",") if m]


def test_every_public_name_resolves_to_its_home_module() -> None:
    homes = aiotallyfy._HOME
    assert set(aiotallyfy.__all__) - {"__version__"} <= set(homes)
    for name in [*aiotallyfy.__all__, "RedisRateLimiter", "RateLimiterUnavailableError"]:
        value = getattr(aiotallyfy, name)
        if name != "__version__":
            module = importlib.import_module(f"aiotallyfy.{homes[name]}")
            assert value is getattr(module, name), name
    assert set(aiotallyfy.__all__) <= set(dir(aiotallyfy))


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="has no attribute 'NoSuchThing'"):
        _ = aiotallyfy.NoSuchThing  # type: ignore[attr-defined]
    with pytest.raises(ImportError):
        from aiotallyfy import NoSuchThing  # type: ignore[attr-defined]  # noqa: F401


def test_import_aiotallyfy_imports_nothing_heavy() -> None:
    assert _modules_after("import aiotallyfy") == []
    assert _modules_after("import aiotallyfy, sys; assert 'orjson' not in sys.modules") == []


@pytest.mark.parametrize(
    "argv",
    [["--version"], ["--help"], ["tasks", "--help"], ["load", "--help"], ["no-such-command"]],
)
def test_cli_without_a_command_to_run_imports_nothing_heavy(argv: list[str]) -> None:
    code = (
        "import sys\n"
        f"sys.argv = ['aiotallyfy', *{argv!r}]\n"
        "from aiotallyfy.cli import main\n"
        "code = main()\n"
        "assert code in (0, 2), code\n"
    )
    assert _modules_after(code) == []


def test_a_command_imports_what_it_needs() -> None:
    code = (
        "import asyncio, io, sys\n"
        "from aiotallyfy.cli import amain\n"
        "err = io.StringIO()\n"
        "code = asyncio.run(amain(['me'], environ={}, stdout=io.BytesIO(), stderr=err))\n"
        "assert code == 2, (code, err.getvalue())\n"
    )
    assert _modules_after(code) == ["aiohttp", "aiotallyfy._client"]


def test_the_load_command_imports_dlt_only_when_it_loads() -> None:
    """``load`` without ``--org``/``--all-orgs`` is a usage error found after its module is
    imported (the client) but before dlt is."""
    code = (
        "import asyncio, io, sys\n"
        "from aiotallyfy.cli import amain\n"
        "err = io.StringIO()\n"
        "code = asyncio.run(amain(['load'], environ={}, stdout=io.BytesIO(), stderr=err))\n"
        "assert code == 2, (code, err.getvalue())\n"
        "assert 'load needs --org' in err.getvalue(), err.getvalue()\n"
    )
    assert _modules_after(code) == ["aiohttp", "aiotallyfy._client"]


def test_aiolimiter_is_imported_only_for_an_explicit_burst() -> None:
    """Its leaky bucket paces an explicit ``burst``; the default limits never need it (its
    import reads its version through importlib.metadata, ~8 ms of every CLI export)."""
    make = "import asyncio\nfrom aiotallyfy import *\n"
    default = "TallyfyClient('t', base_url='http://127.0.0.1:9')\n"
    default += "asyncio.run(LocalRateLimiter([RateLimit(6, 1.0)]).acquire(LimitScope('k')))\n"
    burst = "limiter = LocalRateLimiter([RateLimit(6, 1.0, burst=2)])\n"
    burst += "asyncio.run(limiter.acquire(LimitScope('k')))\n"
    assert _modules_after(make + default) == ["aiohttp", "aiotallyfy._client"]
    assert _modules_after(make + default + burst) == [
        "aiohttp", "aiolimiter", "aiotallyfy._client",
    ]  # fmt: skip
