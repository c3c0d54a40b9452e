"""Imports every domain service module so that each registers itself.

Add one import line per domain module; the order does not matter.
"""

import agentos.services.agents  # noqa: F401
import agentos.services.analytics  # noqa: F401
import agentos.services.auth  # noqa: F401
import agentos.services.clips  # noqa: F401
import agentos.services.jobs  # noqa: F401
import agentos.services.queue  # noqa: F401
import agentos.services.uploads  # noqa: F401
