"""What the gate does when the state store does not answer.

Decision: **reads degrade, everything else fails closed.** The gate's
checks that need the state store are the revocation and lockout checks of
authentication and the rate-limit tiers. When Redis is down:

* a ``GET``, ``HEAD`` or ``OPTIONS`` request whose token verifies is let
  through without those checks, so that dashboards and probes keep working
  through an outage; a revoked token may read for as long as the outage
  lasts, which is the price of that;
* any other request (a change) is answered 503 ``DEPENDENCY_DOWN`` with
  ``Retry-After``: nothing is changed by a caller the gate could not check.
  The admin action pipeline fails closed in every stage, whatever the method.

Each skipped check is logged as a warning, at most once per
``REPORT_EVERY`` seconds per kind, with the number of skips since the last
line, so an outage is visible in the logs without flooding them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from agentos.logs import log_event

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
REPORT_EVERY = 10.0


def may_degrade(method: str) -> bool:
    """Whether a request of ``method`` may pass unchecked while the store is down."""
    return method.upper() in SAFE_METHODS


class OutageReport:
    """Logs ``event`` at most once per ``every`` seconds, counting the skips."""

    def __init__(
        self,
        logger: logging.Logger,
        event: str,
        *,
        every: float = REPORT_EVERY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.logger = logger
        self.event = event
        self.every = every
        self._clock = clock
        self._next = 0.0
        self._skipped = 0

    def __call__(self, **fields: Any) -> None:
        """Note one skipped check; write a line when the last one is old enough."""
        self._skipped += 1
        now = self._clock()
        if now < self._next:
            return
        log_event(
            self.logger,
            self.event,
            logging.WARNING,
            skipped=self._skipped,
            hint="the state store is down: reads pass unchecked, changes get 503",
            **fields,
        )
        self._skipped = 0
        self._next = now + self.every
