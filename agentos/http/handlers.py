"""One place that turns every exception into an error envelope.

Project errors answer with their own status and ``error_code``. Sanic's own
exceptions (unknown route, wrong method, body or headers too large) are
mapped onto the project's tree, so that every answer has the same shape.
Anything else is a
bug: it is logged with its traceback under the request's trace id and the
caller gets a 500 envelope that shows no stack trace.
"""

from __future__ import annotations

import logging

from sanic import Request
from sanic import exceptions as sanic_errors
from sanic.response import HTTPResponse

from agentos import errors
from agentos.http.envelope import fail
from agentos.logs import log_event

logger = logging.getLogger("agentos.http")


def translate(exc: Exception) -> errors.AgentOSError:
    """The project error that answers for ``exc``."""
    if isinstance(exc, errors.AgentOSError):
        return exc
    if isinstance(exc, sanic_errors.MethodNotAllowed):
        return errors.MethodNotAllowed(getattr(exc, "allowed_methods", None) or [])
    if isinstance(exc, sanic_errors.NotFound):
        return errors.NotFound("Nothing exists at this address; see /docs.")
    if isinstance(exc, sanic_errors.PayloadTooLarge):
        # Sanic raises the one class for both limits; only its text tells.
        if "header" in str(exc).lower():
            return errors.HeadersTooLarge()
        return errors.PayloadTooLarge()
    if isinstance(exc, sanic_errors.BadRequest | sanic_errors.RangeNotSatisfiable):
        return errors.BadRequest(f"The request is not valid: {exc}.")
    status = getattr(exc, "status_code", None) or 500
    if isinstance(exc, sanic_errors.SanicException) and 400 <= status < 500:
        return _client_error(exc)
    return errors.AgentOSError()


def _client_error(exc: sanic_errors.SanicException) -> errors.AgentOSError:
    error = errors.BadRequest(str(exc))
    error.status = exc.status_code  # type: ignore[misc]
    return error


async def handle_exception(request: Request, exc: Exception) -> HTTPResponse:
    """Sanic's catch-all handler: an envelope for every error."""
    error = translate(exc)
    if error.status >= 500 and not isinstance(exc, errors.AgentOSError):
        logger.error(
            "request.failed",
            exc_info=exc,
            extra={"fields": {"path": request.path, "method": request.method}},
        )
    elif error.status >= 500:
        log_event(
            logger, "request.refused", logging.WARNING,
            error_code=error.error_code, reason=error.message,
        )
    return fail(error)
