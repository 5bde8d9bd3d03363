"""The exception hierarchy: every failure a caller can see is a ``TallyfyError``.

Each error carries what a person needs to act on it (HTTP status, Tallyfy's ``message`` and
``code``, the request id, the method and path, how many attempts were made, how long we waited)
and never the credentials: the path is the only part of the request we keep, and it holds ids,
not secrets.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
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
]


class TallyfyError(Exception):
    """Root of every error raised by aiotallyfy."""

    def __init__(
        self,
        message: str,
        *,
        method: str | None = None,
        path: str | None = None,
        attempts: int = 0,
        waited: float = 0.0,
        org_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.method = method
        self.path = path
        self.attempts = attempts
        self.waited = waited
        self.org_id = org_id

    def _where(self) -> str:
        if self.method and self.path:
            return f"{self.method} {self.path}"
        return ""

    def __str__(self) -> str:
        parts = [self.message]
        where = self._where()
        if where:
            parts.append(f"[{where}]")
        if self.attempts > 1:
            parts.append(f"after {self.attempts} attempts")
        return " ".join(parts)


class APIStatusError(TallyfyError):
    """The server answered with an error status. ``status`` is that HTTP status code."""

    status: int = 0

    def __init__(
        self,
        message: str,
        *,
        status: int,
        code: str | None = None,
        request_id: str | None = None,
        errors: Mapping[str, list[str]] | None = None,
        body: Any = None,
        method: str | None = None,
        path: str | None = None,
        attempts: int = 0,
        waited: float = 0.0,
        org_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(
            message, method=method, path=path, attempts=attempts, waited=waited, org_id=org_id
        )
        self.status = status
        self.code = code
        self.request_id = request_id
        self.errors: dict[str, list[str]] = dict(errors or {})
        self.body = body
        self.retry_after = retry_after

    def __str__(self) -> str:
        head = f"HTTP {self.status}"
        if self.code:
            head += f" {self.code}"
        text = f"{head}: {super().__str__()}"
        if self.errors:
            fields = "; ".join(f"{k}: {', '.join(v)}" for k, v in sorted(self.errors.items()))
            text += f" ({fields})"
        if self.request_id:
            text += f" (request id {self.request_id})"
        return text


class BadRequestError(APIStatusError):
    """400: the request was malformed."""


class AuthenticationError(APIStatusError):
    """401: the token is missing, wrong, expired, or was revoked by logging out of the web app."""


class PermissionDeniedError(APIStatusError):
    """403: the token's user may not do this in this organization."""


class NotFoundError(APIStatusError):
    """404: no such resource, or no such route."""


class ConflictError(APIStatusError):
    """409: e.g. Tallyfy's ``SEAT_POOL_EXHAUSTED``."""


class ValidationError(APIStatusError):
    """422: the server rejected the input; ``errors`` maps field names to messages.

    Input rejected locally, before anything is sent, is an ``InvalidArgument`` instead.
    """


class RateLimitedError(APIStatusError):
    """429 after every retry allowed by the policy and the time budget was spent."""


class ServerError(APIStatusError):
    """5xx that was not retried, or still failed after retries."""


class RedirectError(APIStatusError):
    """A 3xx that was not followed, so the request got no answer (``status`` is the 3xx).

    Redirects are followed only within the base URL (same scheme, host and port, under its
    path), and only where HTTP says the request is repeated as it was: any 301/302/303/307/308
    for GET, 307/308 for writes. Everything else ends here: another origin (its answer is not
    API data, and the token never goes there), an https→http downgrade, a missing or malformed
    ``Location``, 300/304/305/306, a loop, and 301/302/303 after a write, which may or may not
    have been applied (a 303 usually means it was). ``location`` is the target without any
    userinfo or query, or ``None``.
    """

    def __init__(self, message: str, *, location: str | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.location = location


class InvalidArgument(TallyfyError, ValueError):
    """An argument rejected locally, before anything was sent: input the API would refuse,
    silently drop or mishandle (a list-shaped ``prerun``, a naive ``datetime``, an id with a
    ``/``). No request was made, so there is no status and ``attempts`` is 0; the message
    says what is wrong, never "HTTP ...".

    It is a ``ValueError`` as well, the usual type for a bad argument. ``errors`` maps the
    argument's name to the message, the shape of ``ValidationError.errors`` (a server 422),
    so one handler can show both; ``field`` is that name, when there is one.
    """

    def __init__(
        self,
        message: str,
        *,
        errors: Mapping[str, list[str]] | None = None,
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        super().__init__(message, method=method, path=path)
        self.errors: dict[str, list[str]] = dict(errors or {})
        self.field: str | None = next(iter(self.errors), None)


class TransportError(TallyfyError):
    """The request failed below HTTP: connection refused or reset, timeout, malformed body.

    ``sent`` says whether the request may have reached the server.
    """

    def __init__(self, message: str, *, sent: bool, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.sent = sent


class OutcomeUnknownError(TransportError):
    """A non-idempotent request (a POST) may have been applied, and we do not know.

    The connection failed after the request was written, so re-sending could apply it twice
    (Tallyfy has no idempotency keys). Check the resource's state before trying again.
    """

    def __init__(self, message: str, **kwargs: Any) -> None:
        kwargs.pop("sent", None)
        super().__init__(message, sent=True, **kwargs)


class ResponseTooLargeError(TransportError):
    """The answer's decoded body passed ``max_response_bytes``; reading stopped there.

    Never retried: the same request would get the same answer. For a write, the server
    answered, so the write may have been applied. ``limit`` is the cap in bytes.
    """

    def __init__(self, message: str, *, limit: int, **kwargs: Any) -> None:
        kwargs.pop("sent", None)
        super().__init__(message, sent=True, **kwargs)
        self.limit = limit


class FileTooLargeError(TallyfyError):
    """A file download passed the caller's ``max_bytes``; reading stopped, nothing was kept.

    ``declared`` is the size the server announced (``Content-Length``), if it did.
    """

    def __init__(
        self, message: str, *, max_bytes: int, declared: int | None = None, **kwargs: Any
    ) -> None:
        super().__init__(message, **kwargs)
        self.max_bytes = max_bytes
        self.declared = declared


class PaginationError(TallyfyError):
    """The server's pagination broke its own contract: a page loop, a page the client cannot
    read in full, or missing items. ``received`` is how many items the list handed out
    before this was raised and ``expected`` the total its first page announced (``None``
    where unknown), so a caller can say what is missing."""

    def __init__(
        self,
        message: str,
        *,
        received: int | None = None,
        expected: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(message, **kwargs)
        self.received = received
        self.expected = expected


_STATUS_ERRORS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: ValidationError,
    429: RateLimitedError,
}


def error_class_for_status(status: int) -> type[APIStatusError]:
    """The exception type for an HTTP status that is not a success."""
    if status >= 500:
        return ServerError
    if 300 <= status < 400:
        return RedirectError
    return _STATUS_ERRORS.get(status, APIStatusError)
