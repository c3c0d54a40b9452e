"""Imports every domain service module so that each registers itself.

Add one import line per domain module; the order does not matter.
"""

import agentos.services.agents
import agentos.services.analytics
import agentos.services.auth
import agentos.services.clips
import agentos.services.jobs
import agentos.services.queue
import agentos.services.uploads  # noqa: F401
