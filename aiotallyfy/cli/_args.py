"""The command line grammar: global options before the command, then the command's own.

Abbreviated long options are off (``allow_abbrev=False``): with them ``--token SECRET`` would be
read as ``--token-file SECRET``, and the secret would end up in an error message. For the same
reason no error message repeats a value from argv: a token pasted in the wrong place would
otherwise be printed on stderr (and land in logs and CI output). Messages name the option
(``argument --concurrency: expected a whole number``) or the unknown option, never a value.

Secrets never go on the command line (any local user can read a process's arguments): the
token comes from ``TALLYFY_API_TOKEN`` or ``--token-file``, and a Redis URL that holds a
password from ``TALLYFY_REDIS_URL`` or ``--redis-url-file`` (``--redis-url`` refuses one).
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, NoReturn
from urllib.parse import parse_qs, urlsplit

from .._version import __version__
from ._errors import UsageError
from ._export import CSV_COLUMNS
from ._load_args import add_load_parser

if TYPE_CHECKING:
    from .._limits import RateLimit

__all__ = ["CSV_HELP", "build_parser", "parse_args"]

CSV_HELP = (
    "csv columns (stable; new ones are only ever appended): "
    + ", ".join(CSV_COLUMNS)
    + ". Nested values (owners, taskdata) are JSON, booleans true/false, null or missing "
    "fields empty. Text cells starting with = + - @, a tab or a carriage return get a leading "
    "' so that spreadsheets do not run them as formulas."
)

_EPILOG = """\
The API token is read from the environment variable TALLYFY_API_TOKEN or from --token-file;
it is never taken on the command line (other users can read a process's arguments).

exit codes: 0 every organization succeeded; 1 some or all organizations failed (the others'
tasks are still written); 2 usage or configuration error; 3 the token was rejected (401);
130 interrupted (Ctrl-C; 143 on SIGTERM).
"""


# argparse's own messages that quote the value the user typed, rewritten without it.
_ECHOES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"invalid choice: .* (\(choose from [^()]*\))$", re.S), r"invalid choice \1"),
    (re.compile(r"invalid (\S+) value: .*$", re.S), r"invalid \1 value"),
    (re.compile(r"ignored explicit argument .*$", re.S), "takes no value"),
)


class _Parser(argparse.ArgumentParser):
    """Raises ``UsageError`` instead of printing and exiting, so ``amain`` owns all output."""

    def error(self, message: str) -> NoReturn:
        for pattern, replacement in _ECHOES:
            message = pattern.sub(replacement, message)
        raise UsageError(f"{message} (see '{self.prog} --help')")


# The type functions below say what was expected, never what was typed (see the module doc).
def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("expected a whole number") from None


def _positive_int(text: str) -> int:
    if _int(text) < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return int(text)


def _non_negative_int(text: str) -> int:
    if _int(text) < 0:
        raise argparse.ArgumentTypeError("must be at least 0")
    return int(text)


def _float(text: str, expected: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {expected}") from None


def _positive_float(text: str) -> float:
    value = _float(text, "a number of seconds")
    if not value > 0:
        raise argparse.ArgumentTypeError("must be more than 0")
    return value


def _non_negative_float(text: str) -> float:
    value = _float(text, "a number")
    if not value >= 0:
        raise argparse.ArgumentTypeError("must be at least 0")
    return value


def _probability(text: str) -> float:
    value = _non_negative_float(text)
    if value > 1:
        raise argparse.ArgumentTypeError("must be between 0 and 1")
    return value


def rate_limit(text: str) -> RateLimit:
    # Imported here: the limiter module pulls in aiolimiter, which --version and --help
    # do not need (start-up time, issue 11).
    from .._limits import RateLimit

    try:
        return RateLimit.parse(text)
    except ValueError:  # its message quotes the text
        raise argparse.ArgumentTypeError(
            "expected N/SECONDS such as 600/60, or N/SECONDS/BURST such as 600/60/60"
        ) from None


def _server_rate_limit(text: str) -> RateLimit | None:
    if text.lower() in ("off", "none", "0"):
        return None
    return rate_limit(text)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="aiotallyfy",
        description="Bulk export from the Tallyfy API: every task of every organization, "
        "rate-limited, retried and streamed in constant memory.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    parser.add_argument("--version", action="version", version=f"aiotallyfy {__version__}")
    g = parser.add_argument_group("global options (before the command)")
    g.add_argument(
        "--base-url",
        metavar="URL",
        help="API root (env TALLYFY_BASE_URL; default https://go.tallyfy.com/api)",
    )
    g.add_argument(
        "--token-file",
        metavar="PATH",
        help="read the API token from PATH (surrounding whitespace is trimmed); "
        "otherwise env TALLYFY_API_TOKEN",
    )
    g.add_argument(
        "--rate",
        metavar="N/SECONDS[/BURST]",
        action="append",
        type=rate_limit,
        help="per-token limit, repeatable (default 600/60: Tallyfy's documented per-user limit; "
        "any 600 may leave at once; 600/60/60 paces after 60)",
    )
    g.add_argument(
        "--org-rate",
        metavar="N/SECONDS",
        action="append",
        type=rate_limit,
        help="per-organization limit, repeatable (default none; e.g. 100/60 --org-rate 1000/3600)",
    )
    g.add_argument(
        "--concurrency",
        metavar="N",
        type=_positive_int,
        default=16,
        help="requests in flight at once, and organizations read at once (default 16)",
    )
    g.add_argument(
        "--max-retries",
        metavar="N",
        type=_non_negative_int,
        help="retries per request after a 429, a 502/503/504 or a dropped connection",
    )
    g.add_argument(
        "--timeout",
        metavar="SECONDS",
        type=_positive_float,
        default=60.0,
        help="time limit for one attempt, send to last byte (default 60)",
    )
    redis = g.add_mutually_exclusive_group()
    redis.add_argument(
        "--redis-url",
        metavar="URL",
        default=None,
        help="share the rate limits with every process using this Redis (needs the redis "
        "extra); a URL with a password is refused here: use env TALLYFY_REDIS_URL or "
        "--redis-url-file",
    )
    redis.add_argument(
        "--redis-url-file",
        metavar="PATH",
        default=None,
        help="read the Redis URL (which may hold a password) from PATH",
    )
    g.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="log each request on stderr: method, path, status, attempt, wait (never headers "
        "or the token)",
    )
    g.add_argument(
        "-q", "--quiet", action="store_true", help="no progress display and no summary line"
    )

    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    sub.add_parser(
        "orgs",
        help="list your organizations, one JSON object per line",
        description="Every organization of the token's user (all pages), one JSON object "
        "per line on stdout.",
        allow_abbrev=False,
    )
    sub.add_parser(
        "me",
        help="show the token's user (checks a token)",
        description="The token's user as one JSON line (GET /me): a cheap way to check a token.",
        allow_abbrev=False,
    )

    tasks = sub.add_parser(
        "tasks",
        help="export every task of the selected organizations",
        description="Stream every task of every selected organization (all pages, "
        "organizations read concurrently) to FILE or stdout, in constant memory. jsonl lines "
        "are the task objects as the API returned them plus an organization_id key. With -o, "
        "the output is written to a hidden temporary file next to FILE and renamed to FILE "
        "once every organization has finished: an interrupted or killed export never leaves "
        "a FILE that looks complete. When any organization fails (including a list the server "
        "cut short of the total it announced), FILE is not written and a previous FILE is "
        "left unchanged; stderr names each failed organization and what is missing, and the "
        "exit code is 1. To stdout, tasks already written stay written; the exit code is 1.",
        epilog=CSV_HELP,
        allow_abbrev=False,
    )
    which = tasks.add_mutually_exclusive_group()
    which.add_argument(
        "--org",
        metavar="ID",
        action="append",
        dest="orgs",
        help="an organization id (repeatable)",
    )
    which.add_argument(
        "--all-orgs", action="store_true", help="every organization of the token's user"
    )
    scope = tasks.add_mutually_exclusive_group()
    scope.add_argument(
        "--mine",
        dest="scope",
        action="store_const",
        const="mine",
        help="only the tasks assigned to you (GET /organizations/{org}/me/tasks)",
    )
    scope.add_argument(
        "--org-wide",
        dest="scope",
        action="store_const",
        const="org",
        help="every task of the organization (GET /organizations/{org}/tasks; the default)",
    )
    tasks.set_defaults(scope="org")
    tasks.add_argument(
        "--status",
        metavar="S",
        help="task status filter (--mine: all [default], active, completed, overdue, "
        "due_soon, hasproblem; org-wide: as Tallyfy's API accepts; by default every "
        "task, read as the incomplete and complete views, each task once)",
    )
    tasks.add_argument(
        "--format", choices=("jsonl", "csv"), default="jsonl", help="output format (jsonl)"
    )
    tasks.add_argument(
        "-o", "--output", metavar="FILE", help="write to FILE instead of stdout ('-': stdout)"
    )

    add_load_parser(sub)

    demo = sub.add_parser(
        "demo",
        help="export from a local fake Tallyfy: no account needed",
        description="Start the bundled fake Tallyfy on 127.0.0.1 with realistic latency, "
        "Tallyfy's documented 600 requests/minute per-user limit (enforced by the fake) and a "
        "few injected 503s and dropped connections, export every task of its organizations "
        "with the progress display, check the export is exact, and print a summary.",
        allow_abbrev=False,
    )
    demo.add_argument(
        "what",
        nargs="?",
        choices=("export", "load"),
        default="export",
        help="export (default) to JSONL, or load into a DuckDB file (needs the load extra)",
    )
    demo.add_argument("--orgs", metavar="N", type=_positive_int, default=25, help="(25)")
    demo.add_argument(
        "--tasks-per-org",
        metavar="N",
        type=_non_negative_int,
        default=None,
        help="tasks in each org (default: 250 to 550, varying by org)",
    )
    demo.add_argument("--seed", metavar="S", type=_int, default=7, help="data seed (7)")
    demo.add_argument(
        "--latency-ms",
        metavar="MS",
        type=_non_negative_float,
        default=20.0,
        help="server latency per request; up to 20 ms of jitter is added (20)",
    )
    demo.add_argument(
        "--fault-rate",
        metavar="P",
        type=_probability,
        default=0.03,
        help="share of requests answered with an HTML 503 or a dropped connection (0.03)",
    )
    demo.add_argument(
        "-o", "--output", metavar="FILE", help="keep the export in FILE (default: discarded)"
    )

    fake = sub.add_parser(
        "fake-server",
        help="run the fake Tallyfy in the foreground",
        description="Run the bundled fake Tallyfy API until Ctrl-C, and print its base URL "
        "and token so you can point your own code at it.",
        allow_abbrev=False,
    )
    fake.add_argument("--host", default="127.0.0.1", help="listen address (127.0.0.1)")
    fake.add_argument(
        "--port", metavar="N", type=_non_negative_int, default=0, help="(0: a free port)"
    )
    fake.add_argument("--orgs", metavar="N", type=_non_negative_int, default=3, help="(3)")
    fake.add_argument(
        "--tasks-per-org", metavar="N", type=_non_negative_int, default=25, help="(25)"
    )
    fake.add_argument(
        "--forbidden-orgs",
        metavar="N",
        type=_non_negative_int,
        default=0,
        help="the last N orgs answer 403 (0)",
    )
    fake.add_argument("--seed", metavar="S", type=_int, default=0, help="data seed (0)")
    fake.add_argument(
        "--rate-limit",
        metavar="N/SECONDS",
        type=_server_rate_limit,
        default="600/60",  # a string default goes through ``type`` (argparse), lazily
        help="per-token limit the fake enforces with 429 + Retry-After "
        "(default 600/60, Tallyfy's documented limit; 'off' for none)",
    )
    fake.add_argument(
        "--latency-ms", metavar="MS", type=_non_negative_float, default=0.0, help="(0)"
    )
    fake.add_argument(
        "--fault-rate",
        metavar="P",
        type=_probability,
        default=0.0,
        help="share of requests answered with an HTML 503 or a dropped connection (0)",
    )
    return parser


_TOKEN_OPTIONS = ("--token", "--api-key", "--api-token", "--access-token")
_NO_TOKEN_ON_ARGV = (
    "the token is never taken on the command line (other users can read it): "
    "set TALLYFY_API_TOKEN or use --token-file PATH"
)


_NO_PASSWORD_ON_ARGV = (
    "--redis-url must not hold a password on the command line (other users can read it): "
    "set TALLYFY_REDIS_URL or use --redis-url-file PATH"
)


def _has_password(url: str) -> bool:
    """Whether ``url`` carries a password (``scheme://user:PASSWORD@host`` or
    ``?password=``); an unparseable URL counts, since we cannot tell."""
    try:
        parts = urlsplit(url)
        return bool(parts.password) or "password" in parse_qs(parts.query)
    except ValueError:
        return True


def _choices(parser: argparse.ArgumentParser) -> set[str]:
    """Every command name and choice: words of our own, safe to show in a message."""
    words: set[str] = set()
    for action in parser._actions:
        for choice in action.choices or ():
            words.add(str(choice))
            sub = action.choices[choice] if isinstance(action.choices, dict) else None
            if isinstance(sub, argparse.ArgumentParser):
                words |= _choices(sub)
    return words


def _without_values(message: str, argv: Sequence[str], known: set[str]) -> str:
    """``message`` with any quoted argv value removed: the last line of defence behind the
    value-free messages above (an argparse message we did not foresee)."""
    for arg in argv:
        for value in {arg, arg.split("=", 1)[-1]} - known:
            if value:
                message = message.replace(repr(value), "(value not shown)")
    return message


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """Parse ``argv``; ``UsageError`` on any mistake, without echoing argument values."""
    for arg in argv:
        if arg == "--":
            break
        if arg.split("=", 1)[0].lower() in _TOKEN_OPTIONS:
            # Caught before argparse, which would echo the value as an unknown command.
            raise UsageError(f"there is no {arg.split('=', 1)[0]} option: {_NO_TOKEN_ON_ARGV}")
    parser = build_parser()
    try:
        args, extras = parser.parse_known_args(list(argv))
    except UsageError as exc:
        raise UsageError(_without_values(str(exc), argv, _choices(parser))) from None
    if extras:
        names = [a.split("=", 1)[0] for a in extras if a.startswith("-")]
        shown = ", ".join(dict.fromkeys(names)) or "positional values"
        raise UsageError(f"unrecognized arguments: {shown} (values not shown)")
    if args.redis_url and _has_password(args.redis_url):
        raise UsageError(_NO_PASSWORD_ON_ARGV)
    return args
