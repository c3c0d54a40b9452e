"""The project's exceptions, each of which knows how it is answered over HTTP.

Every error that reaches a caller is one of these. Each class carries its HTTP
status and its ``error_code``; the message is a sentence that says what went
wrong and, where there is something to do, what to do next. The tree::

    AgentOSError                      500 INTERNAL_ERROR
    ├── BadRequest                    400 VALIDATION_ERROR
    │   ├── MalformedJSON             400 MALFORMED_JSON
    │   ├── UnknownAction             400 UNKNOWN_ACTION
    │   └── InvalidIdempotencyKey     400 INVALID_IDEMPOTENCY_KEY
    ├── Unauthorized                  401 UNAUTHORIZED
    │   ├── TokenExpired              401 TOKEN_EXPIRED
    │   ├── TokenRevoked              401 TOKEN_REVOKED
    │   └── SessionExpired            401 SESSION_EXPIRED
    ├── Forbidden                     403 FORBIDDEN
    │   └── IPNotAllowed              403 IP_NOT_ALLOWED
    ├── NotFound                      404 NOT_FOUND
    ├── MethodNotAllowed              405 METHOD_NOT_ALLOWED
    ├── Conflict                      409 CONFLICT
    │   └── IdempotencyInProgress     409 IDEMPOTENCY_IN_PROGRESS
    ├── PayloadTooLarge               413 PAYLOAD_TOO_LARGE
    ├── HeadersTooLarge               431 HEADERS_TOO_LARGE
    ├── UnsupportedMediaType          415 UNSUPPORTED_MEDIA_TYPE
    ├── IdempotencyKeyReused          422 IDEMPOTENCY_KEY_REUSED
    ├── RetryLater (abstract)             carries Retry-After
    │   ├── RateLimited               429 RATE_LIMITED
    │   ├── LockedOut                 429 LOCKED_OUT
    │   ├── CircuitOpen               503 CIRCUIT_OPEN
    │   ├── Maintenance               503 MAINTENANCE
    │   └── DependencyDown            503 DEPENDENCY_DOWN
    ├── InsufficientStorage           507 INSUFFICIENT_STORAGE
    └── ActionTimedOut                504 ACTION_TIMEOUT

    ConfigError                       not an HTTP error: stops the start
    MigrationError                    not an HTTP error: stops the start

Driver exceptions (asyncpg, sqlite3, redis) are translated into
``DependencyDown`` or ``Conflict`` at the store adapters, with ``raise ...
from exc``; nothing above the adapters ever sees a driver exception.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

Detail = Mapping[str, Any]


class AgentOSError(Exception):
    """Base of every error a caller can be answered with."""

    status: ClassVar[int] = 500
    error_code: ClassVar[str] = "INTERNAL_ERROR"
    default_message: ClassVar[str] = (
        "The server failed to handle the request; retry, and report the trace id "
        "if it keeps failing."
    )

    def __init__(
        self,
        message: str | None = None,
        *,
        details: Sequence[Detail] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.message = message or self.default_message
        self.details = list(details)
        self.headers = dict(headers or {})
        super().__init__(self.message)


class BadRequest(AgentOSError):
    """The request is not valid; ``details`` names each field at fault."""

    status = 400
    error_code = "VALIDATION_ERROR"
    default_message = "The request is not valid; correct the fields named in details."


class MalformedJSON(BadRequest):
    """The body claims to be JSON and is not."""

    error_code = "MALFORMED_JSON"
    default_message = "The request body is not valid JSON."


class UnknownAction(BadRequest):
    """The named admin action is not in the registry."""

    error_code = "UNKNOWN_ACTION"
    default_message = "No such action; GET /api/admin/action/status lists them."


class InvalidIdempotencyKey(BadRequest):
    """The idempotency key header is missing where required, or malformed."""

    error_code = "INVALID_IDEMPOTENCY_KEY"


class Unauthorized(AgentOSError):
    """No credentials, or credentials that do not verify."""

    status = 401
    error_code = "UNAUTHORIZED"
    default_message = "Authentication required: send 'Authorization: Bearer <token>'."

    def __init__(self, message: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"WWW-Authenticate": 'Bearer realm="agentos"'})
        super().__init__(message, **kwargs)


class TokenExpired(Unauthorized):
    """The token verified but its ``exp`` has passed."""

    error_code = "TOKEN_EXPIRED"
    default_message = "The token has expired; refresh it or sign in again."


class TokenRevoked(Unauthorized):
    """The token was revoked, or its user is disabled."""

    error_code = "TOKEN_REVOKED"
    default_message = "The token has been revoked; sign in again."


class SessionExpired(Unauthorized):
    """The refresh token is valid but its family outlived its absolute lifetime."""

    error_code = "SESSION_EXPIRED"
    default_message = "The session has expired and cannot be renewed; sign in again."


class Forbidden(AgentOSError):
    """The caller is known but may not do this."""

    status = 403
    error_code = "FORBIDDEN"
    default_message = "Your roles do not permit this request."


class IPNotAllowed(Forbidden):
    """The client address is outside the allowlist for this request."""

    error_code = "IP_NOT_ALLOWED"
    default_message = "Requests from this address are not allowed here."


class NotFound(AgentOSError):
    """The resource does not exist, or the caller may not know that it does."""

    status = 404
    error_code = "NOT_FOUND"
    default_message = "Nothing exists at this address."


class MethodNotAllowed(AgentOSError):
    """The path exists but not for this method; ``Allow`` lists the methods."""

    status = 405
    error_code = "METHOD_NOT_ALLOWED"
    default_message = "This method is not allowed here; see the Allow header."

    def __init__(self, allowed: Sequence[str], message: str | None = None) -> None:
        methods = ", ".join(sorted(set(allowed)))
        text = message or f"This method is not allowed here; use one of: {methods}."
        super().__init__(text, headers={"Allow": methods})


class Conflict(AgentOSError):
    """The current state does not allow the request."""

    status = 409
    error_code = "CONFLICT"
    default_message = "The resource's current state does not allow this request."


class IdempotencyInProgress(Conflict):
    """A request with the same idempotency key is still running."""

    error_code = "IDEMPOTENCY_IN_PROGRESS"
    default_message = (
        "A request with this idempotency key is still running; retry shortly."
    )


class PayloadTooLarge(AgentOSError):
    """The body is larger than the configured limit."""

    status = 413
    error_code = "PAYLOAD_TOO_LARGE"
    default_message = "The request body is larger than this server accepts."


class HeadersTooLarge(AgentOSError):
    """The request line and headers are longer than the server reads."""

    status = 431
    error_code = "HEADERS_TOO_LARGE"
    default_message = (
        "The request line and headers together exceed the 16 KiB this server "
        "reads; shorten the query string or the headers."
    )


class UnsupportedMediaType(AgentOSError):
    """The body's content type is not the one this endpoint reads."""

    status = 415
    error_code = "UNSUPPORTED_MEDIA_TYPE"
    default_message = "Send the body as 'Content-Type: application/json'."


class IdempotencyKeyReused(AgentOSError):
    """The idempotency key was already used for a different request."""

    status = 422
    error_code = "IDEMPOTENCY_KEY_REUSED"
    default_message = (
        "This idempotency key was used for a different request; use a new key."
    )


class RetryLater(AgentOSError):
    """An error the caller may retry after ``retry_after`` seconds."""

    def __init__(
        self,
        message: str | None = None,
        *,
        retry_after: float = 1.0,
        details: Sequence[Detail] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.retry_after = max(1, math.ceil(retry_after))
        merged = {"Retry-After": str(self.retry_after), **(headers or {})}
        super().__init__(message, details=details, headers=merged)


class RateLimited(RetryLater):
    """The caller spent its allowance for this window."""

    status = 429
    error_code = "RATE_LIMITED"
    default_message = "Too many requests; wait for Retry-After seconds."


class LockedOut(RetryLater):
    """Too many failed authentications from this address or subject."""

    status = 429
    error_code = "LOCKED_OUT"
    default_message = (
        "Too many failed sign-ins; this client is locked out until Retry-After."
    )


class CircuitOpen(RetryLater):
    """The target service's circuit breaker is open."""

    status = 503
    error_code = "CIRCUIT_OPEN"
    default_message = "The target service is failing and is not being called now."


class Maintenance(RetryLater):
    """The service is in maintenance mode."""

    status = 503
    error_code = "MAINTENANCE"
    default_message = "The service is in maintenance; retry after Retry-After."


class DependencyDown(RetryLater):
    """A store the request needs (database, state store) does not answer."""

    status = 503
    error_code = "DEPENDENCY_DOWN"
    default_message = "A dependency of this service is down; retry shortly."


class InsufficientStorage(AgentOSError):
    """The disk has no room for what the request writes."""

    status = 507
    error_code = "INSUFFICIENT_STORAGE"
    default_message = "The server has no disk room left for this upload."


class ActionTimedOut(AgentOSError):
    """A dispatched action's target service did not answer in time."""

    status = 504
    error_code = "ACTION_TIMEOUT"
    default_message = (
        "The target service did not answer in time; the action may or may not "
        "have taken effect. Check its effect before retrying."
    )


class ConfigError(Exception):
    """The configuration is invalid; the message names each bad key."""


class MigrationError(Exception):
    """A schema migration is malformed or failed; the message names the file."""
