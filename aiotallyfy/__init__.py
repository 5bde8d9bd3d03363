"""aiotallyfy: the asyncio client for the Tallyfy REST API."""

from ._auth import CallableTokenProvider, IssuedToken, PerOrgTokens, StaticToken, TokenProvider
from ._client import TallyfyClient
from ._clock import Clock, LoopClock
from ._errors import (
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    NotFoundError,
    OutcomeUnknownError,
    PaginationError,
    PermissionDeniedError,
    RateLimitedError,
    ServerError,
    TallyfyError,
    TransportError,
    ValidationError,
)
from ._fanout import FanOutStream, OrgResult
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
from ._retry import RetryPolicy
from ._secrets import Secret
from ._transport import Timeouts
from ._types import CompletedTask, Me, Organization, Task, TaskOwners
from ._version import __version__

__all__ = [
    "DEFAULT_TOKEN_RATE_LIMITS",
    "DEFAULT_TOKEN_URL",
    "SUPPORT_DOC_ORG_RATE_LIMITS",
    "APIStatusError",
    "Admission",
    "AsyncPager",
    "AuthenticationError",
    "BadRequestError",
    "CallableTokenProvider",
    "ClientCredentialsGrant",
    "ClientStats",
    "Clock",
    "CompletedTask",
    "ConflictError",
    "FanOutStream",
    "IssuedToken",
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
    "Response",
    "RetryPolicy",
    "Secret",
    "ServerError",
    "StaticToken",
    "TallyfyClient",
    "TallyfyError",
    "Task",
    "TaskOwners",
    "Timeouts",
    "TokenProvider",
    "TransportError",
    "ValidationError",
    "__version__",
]
