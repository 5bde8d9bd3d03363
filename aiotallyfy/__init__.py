"""aiotallyfy: the asyncio client for the Tallyfy REST API.

Every public name is loaded on first use (PEP 562 module ``__getattr__``): ``import aiotallyfy``
imports nothing else, so the CLI's ``--version`` and ``--help`` never pay for aiohttp, and a
program pays only for what it touches. ``from aiotallyfy import TallyfyClient`` works as
always; type checkers read the imports under ``TYPE_CHECKING``. The Redis limiter (an
optional extra) is loaded the same way, so importing ``aiotallyfy`` never imports redis.
"""

from importlib import import_module as _import_module
from typing import TYPE_CHECKING

from ._version import __version__

if TYPE_CHECKING:
    from ._auth import CallableTokenProvider, IssuedToken, PerOrgTokens, StaticToken, TokenProvider
    from ._client import TallyfyClient
    from ._clock import Clock, LoopClock
    from ._design_types import Activity, Automation, Capture, RunFormFields, TagAssociation
    from ._errors import (
        APIStatusError,
        AuthenticationError,
        BadRequestError,
        ConflictError,
        FileTooLargeError,
        InvalidArgument,
        NotFoundError,
        OutcomeUnknownError,
        PaginationError,
        PermissionDeniedError,
        RateLimitedError,
        RedirectError,
        ResponseTooLargeError,
        ServerError,
        TallyfyError,
        TransportError,
        ValidationError,
    )
    from ._fanout import FanOutStream, OrgResult
    from ._health import HealthStatus
    from ._hooks import AttemptInfo, CallInfo, CallResult, RequestHooks
    from ._http import ClientStats, Response
    from ._limits import (
        DEFAULT_TOKEN_RATE_LIMITS,
        PACED_TOKEN_RATE_LIMITS,
        SUPPORT_DOC_ORG_RATE_LIMITS,
        Admission,
        FeedbackScope,
        LimitScope,
        LocalRateLimiter,
        RateLimit,
        RateLimiter,
    )
    from ._oauth import DEFAULT_TOKEN_URL, ClientCredentialsGrant, OAuthGrant, PasswordGrant
    from ._pagination import AsyncPager, Page, PageSource, SupportsPages
    from ._redis_limiter import RateLimiterUnavailableError as RateLimiterUnavailableError
    from ._redis_limiter import RedisRateLimiter as RedisRateLimiter
    from ._resources import (
        ApplicationMemberToken,
        CustomFieldKey,
        SearchHit,
        SearchResults,
        Watcher,
    )
    from ._resources._files import Asset, DownloadedFile, UploadSource
    from ._retry import RetryPolicy
    from ._secrets import Secret
    from ._transport import Timeouts
    from ._types import (
        Blueprint,
        BlueprintFormFields,
        Comment,
        CompletedTask,
        Folder,
        FolderObject,
        FormField,
        Group,
        Guest,
        KickoffField,
        Me,
        Organization,
        Run,
        RunProgress,
        Step,
        Tag,
        Task,
        TaskOwners,
        User,
    )

__all__ = [
    "DEFAULT_TOKEN_RATE_LIMITS",
    "DEFAULT_TOKEN_URL",
    "PACED_TOKEN_RATE_LIMITS",
    "SUPPORT_DOC_ORG_RATE_LIMITS",
    "APIStatusError",
    "Activity",
    "Admission",
    "AsyncPager",
    "AuthenticationError",
    "Automation",
    "BadRequestError",
    "Blueprint",
    "BlueprintFormFields",
    "CallableTokenProvider",
    "Capture",
    "ClientCredentialsGrant",
    "ClientStats",
    "Clock",
    "Comment",
    "CompletedTask",
    "ConflictError",
    "FanOutStream",
    "FeedbackScope",
    "Folder",
    "FolderObject",
    "FormField",
    "Group",
    "Guest",
    "IssuedToken",
    "KickoffField",
    "LimitScope",
    "LocalRateLimiter",
    "LoopClock",
    "Me",
    "NotFoundError",
    "OAuthGrant",
    "OrgResult",
    "Organization",
    "OutcomeUnknownError",
    "Page",
    "PageSource",
    "PaginationError",
    "PasswordGrant",
    "PerOrgTokens",
    "PermissionDeniedError",
    "RateLimit",
    "RateLimitedError",
    "RateLimiter",
    "RedirectError",
    "Response",
    "ResponseTooLargeError",
    "RetryPolicy",
    "Run",
    "RunFormFields",
    "RunProgress",
    "SearchHit",
    "SearchResults",
    "Secret",
    "ServerError",
    "StaticToken",
    "Step",
    "SupportsPages",
    "Tag",
    "TagAssociation",
    "TallyfyClient",
    "TallyfyError",
    "Task",
    "TaskOwners",
    "Timeouts",
    "TokenProvider",
    "TransportError",
    "User",
    "ValidationError",
    "__version__",
]

# Issue 10 part 3b: files, application tokens, members, watchers, misc.
__all__ += [
    "ApplicationMemberToken",
    "Asset",
    "CustomFieldKey",
    "DownloadedFile",
    "FileTooLargeError",
    "HealthStatus",
    "InvalidArgument",
    "UploadSource",
    "Watcher",
]

# Issue 14: request hooks (OpenTelemetry is ``aiotallyfy.otel``, imported only on demand).
__all__ += ["AttemptInfo", "CallInfo", "CallResult", "RequestHooks"]

_BY_MODULE: dict[str, tuple[str, ...]] = {
    "_auth": (
        "CallableTokenProvider",
        "IssuedToken",
        "PerOrgTokens",
        "StaticToken",
        "TokenProvider",
    ),
    "_client": ("TallyfyClient",),
    "_clock": ("Clock", "LoopClock"),
    "_design_types": ("Activity", "Automation", "Capture", "RunFormFields", "TagAssociation"),
    "_errors": (
        "APIStatusError",
        "AuthenticationError",
        "BadRequestError",
        "ConflictError",
        "FileTooLargeError",
        "InvalidArgument",
        "NotFoundError",
        "OutcomeUnknownError",
        "PaginationError",
        "PermissionDeniedError",
        "RateLimitedError",
        "RedirectError",
        "ResponseTooLargeError",
        "ServerError",
        "TallyfyError",
        "TransportError",
        "ValidationError",
    ),
    "_fanout": ("FanOutStream", "OrgResult"),
    "_health": ("HealthStatus",),
    "_hooks": ("AttemptInfo", "CallInfo", "CallResult", "RequestHooks"),
    "_http": ("ClientStats", "Response"),
    "_limits": (
        "DEFAULT_TOKEN_RATE_LIMITS",
        "PACED_TOKEN_RATE_LIMITS",
        "SUPPORT_DOC_ORG_RATE_LIMITS",
        "Admission",
        "FeedbackScope",
        "LimitScope",
        "LocalRateLimiter",
        "RateLimit",
        "RateLimiter",
    ),
    "_oauth": ("DEFAULT_TOKEN_URL", "ClientCredentialsGrant", "OAuthGrant", "PasswordGrant"),
    "_pagination": ("AsyncPager", "Page", "PageSource", "SupportsPages"),
    "_resources": (
        "ApplicationMemberToken",
        "CustomFieldKey",
        "SearchHit",
        "SearchResults",
        "Watcher",
    ),
    "_resources._files": ("Asset", "DownloadedFile", "UploadSource"),
    "_retry": ("RetryPolicy",),
    "_secrets": ("Secret",),
    "_transport": ("Timeouts",),
    "_types": (
        "Blueprint",
        "BlueprintFormFields",
        "Comment",
        "CompletedTask",
        "Folder",
        "FolderObject",
        "FormField",
        "Group",
        "Guest",
        "KickoffField",
        "Me",
        "Organization",
        "Run",
        "RunProgress",
        "Step",
        "Tag",
        "Task",
        "TaskOwners",
        "User",
    ),
    "_redis_limiter": ("RateLimiterUnavailableError", "RedisRateLimiter"),
}
"""Where each public name lives. Keep it in step with the ``TYPE_CHECKING`` imports above
(``tests/test_lazy_imports.py`` checks that every name of ``__all__`` resolves)."""
_HOME: dict[str, str] = {name: mod for mod, names in _BY_MODULE.items() for name in names}


def __getattr__(name: str) -> object:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(_import_module(f".{home}", __name__), name)
    globals()[name] = value  # later lookups are plain module attributes
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
