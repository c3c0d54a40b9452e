"""Structured logging: one event a line, every line of a request with its trace id.

Loggers are named by role (``agentos.access``, ``agentos.audit``,
``agentos.breaker``, ...) and events by subject and verb
(``breaker.opened``). Call ``log_event(logger, "job.cancelled", job_id=...)``
and the fields travel as structured data: the JSON format writes them as keys,
the text format as ``key=value`` pairs.

The request context (trace id, and whatever ``bind`` adds) lives in context
variables, bound once when a request starts; every line logged while the
request is handled carries it without being passed around.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Mapping
from contextvars import ContextVar
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

trace_id_var: ContextVar[str] = ContextVar("agentos_trace_id", default="")
_bound: ContextVar[Mapping[str, Any]] = ContextVar(
    "agentos_log_context", default=MappingProxyType({})
)

_RESERVED = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


def bind(**fields: Any) -> None:
    """Add ``fields`` to every line logged from here on in this context."""
    _bound.set({**_bound.get(), **fields})


def clear_context() -> None:
    """Forget the trace id and everything bound: a new request begins."""
    trace_id_var.set("")
    _bound.set(MappingProxyType({}))


def log_event(
    logger: logging.Logger, event: str, level: int = logging.INFO, **fields: Any
) -> None:
    """Log ``event`` (subject.verb) with ``fields`` as structured data."""
    if logger.isEnabledFor(level):
        logger.log(level, event, extra={"fields": fields})


def _record_fields(record: logging.LogRecord) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    trace_id = trace_id_var.get()
    if trace_id:
        fields["trace_id"] = trace_id
    fields.update(_bound.get())
    fields.update(getattr(record, "fields", {}) or {})
    return fields


class JSONFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, event and the fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
            **_record_fields(record),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """A readable line: time, level, logger, event, then ``key=value`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created, UTC).strftime("%H:%M:%S.%f")[:-3]
        fields = " ".join(
            f"{key}={value}" for key, value in _record_fields(record).items()
        )
        line = f"{stamp} {record.levelname:<7} {record.name}: {record.getMessage()}"
        line = f"{line} {fields}" if fields else line
        if record.exc_info:
            line = f"{line}\n{self.formatException(record.exc_info)}"
        return line


def configure_logging(level: str = "INFO", fmt: str = "text") -> None:
    """Send every ``agentos`` and ``sanic`` logger through one handler."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JSONFormatter() if fmt == "json" else TextFormatter())
    for name in ("agentos", "sanic.root", "sanic.error", "sanic.server"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level)
        logger.propagate = False
