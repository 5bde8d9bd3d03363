"""The ``aiotallyfy`` command line: bulk export across organizations, a credential-free demo,
and the fake server. ``main(argv)`` is the console script; ``amain(argv, ...)`` is the same as
a coroutine with injectable environment and streams, for tests and embedding.

Exit codes: 0 ok; 1 some or all organizations failed (or an API/network error); 2 usage or
configuration error; 3 authentication failure; 130 interrupted (143 on SIGTERM).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import BinaryIO, Final, TextIO

from .._errors import AuthenticationError, TallyfyError
from ._args import parse_args
from ._context import Context
from ._errors import (
    EXIT_AUTH,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    CommandFailed,
    UsageError,
    describe,
)
from ._logging import request_log

__all__ = ["amain", "main"]

EXIT_TERMINATED: Final = 143

_COMMANDS: Final[dict[str, tuple[str, str]]] = {
    "orgs": ("_commands", "run_orgs"),
    "me": ("_commands", "run_me"),
    "tasks": ("_commands", "run_tasks"),
    "load": ("_load_cmd", "run_load"),
    "demo": ("_demo", "run_demo"),
    "fake-server": ("_fake_server_cmd", "run_fake_server"),
}
"""Command -> (module, function). A command's module is imported only when it runs, so
``--version``, ``--help`` and usage errors never import aiohttp, the client, the fake
server or dlt (start-up time, issue 11)."""


def _command(name: str) -> Callable[[Context], Awaitable[int]]:
    module, function = _COMMANDS[name]
    run: Callable[[Context], Awaitable[int]] = getattr(
        importlib.import_module(f".{module}", __name__), function
    )
    return run


async def amain(
    argv: Sequence[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    stdout: BinaryIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Run one command and return its exit code. Errors become one line on ``stderr``.

    Cancellation (Ctrl-C under ``main``) propagates after every command has cleaned up: the
    export's temporary file is deleted and the client's connections are closed.
    """
    err = stderr if stderr is not None else sys.stderr
    out = stdout if stdout is not None else sys.stdout.buffer
    env = environ if environ is not None else os.environ
    try:
        args = parse_args(sys.argv[1:] if argv is None else argv)
    except UsageError as exc:
        err.write(f"aiotallyfy: error: {exc}\n")
        return EXIT_USAGE
    except SystemExit as exc:  # --help, --version: argparse printed them
        return exc.code if isinstance(exc.code, int) else 0
    ctx = Context(args=args, environ=env, stdout=out, stderr=err)
    with request_log(err, enabled=args.verbose) as handler:
        ctx.log_handler = handler
        try:
            return await _command(args.command)(ctx)
        except UsageError as exc:
            ctx.error(f"error: {exc}")
            return EXIT_USAGE
        except AuthenticationError as exc:
            ctx.error(
                f"authentication failed: {describe(exc)}. Check TALLYFY_API_TOKEN or "
                "--token-file (a personal access token ends when you log out of the web app)"
            )
            return EXIT_AUTH
        except TallyfyError as exc:
            ctx.error(describe(exc))
            return EXIT_FAILED
        except CommandFailed as exc:
            ctx.error(str(exc))
            return EXIT_FAILED
        except BrokenPipeError:
            # The reader went away (e.g. `| head`): stop quietly, as other tools do.
            if stdout is None:
                _silence_stdout()
            return EXIT_FAILED
        except OSError as exc:  # writing the output: disk full, permission denied, ...
            ctx.error(
                f"error: {exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else "")
            )
            return EXIT_FAILED


def _silence_stdout() -> None:
    """Point fd 1 at /dev/null so the interpreter's final flush cannot raise again."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


async def _amain_with_sigterm(argv: Sequence[str] | None) -> int:
    """``amain``, with SIGTERM handled like Ctrl-C (clean up, then exit 143)."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    terminated = False

    def on_term() -> None:
        nonlocal terminated
        terminated = True
        if task is not None:
            task.cancel()

    installed = False
    with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
        loop.add_signal_handler(signal.SIGTERM, on_term)
        installed = True
    try:
        return await amain(argv)
    except asyncio.CancelledError:
        if terminated:
            return EXIT_TERMINATED
        raise
    finally:
        if installed:
            with contextlib.suppress(Exception):
                loop.remove_signal_handler(signal.SIGTERM)


def main(argv: Sequence[str] | None = None) -> int:
    """The console script: ``aiotallyfy [global options] COMMAND [options]``."""
    try:
        return asyncio.run(_amain_with_sigterm(argv))
    except KeyboardInterrupt:
        with contextlib.suppress(Exception):
            sys.stderr.write("aiotallyfy: interrupted\n")
            sys.stderr.flush()
        return EXIT_INTERRUPTED
