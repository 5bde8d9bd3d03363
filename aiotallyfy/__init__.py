"""aiotallyfy: the asyncio client for the Tallyfy REST API."""

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
    SUPPORT_DOC_ORG_RATE_LIMITS,
    Admission,
    LimitScope,
    LocalRateLimiter,
    RateLimit,
    RateLimiter,
)
from ._oauth import DEFAULT_TOKEN_URL, ClientCredentialsGrant, OAuthGrant, PasswordGrant
from ._pagination import AsyncPager
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
from ._version import __version__

__all__ = [
    "DEFAULT_TOKEN_RATE_LIMITS",
    "DEFAULT_TOKEN_URL",
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

# The Redis limiter is an optional extra (``pip install aiotallyfy[redis]``): importing
# ``aiotallyfy`` must not import redis, so these names are loaded on first access.
import typing as _typing

if _typing.TYPE_CHECKING:
    from ._redis_limiter import RateLimiterUnavailableError as RateLimiterUnavailableError
    from ._redis_limiter import RedisRateLimiter as RedisRateLimiter

_LAZY_REDIS_NAMES = frozenset({"RedisRateLimiter", "RateLimiterUnavailableError"})


def __getattr__(name: str) -> object:
    if name in _LAZY_REDIS_NAMES:
        from . import _redis_limiter

        return getattr(_redis_limiter, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# Issue 10 part 3b: files, application tokens, members, watchers, misc.
__all__ += [
    "ApplicationMemberToken",
    "Asset",
    "CustomFieldKey",
    "DownloadedFile",
    "FileTooLargeError",
    "HealthStatus",
    "UploadSource",
    "Watcher",
]

# Issue 14: request hooks (OpenTelemetry is ``aiotallyfy.otel``, imported only on demand).
__all__ += ["AttemptInfo", "CallInfo", "CallResult", "RequestHooks"]
