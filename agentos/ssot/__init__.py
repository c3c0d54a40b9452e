"""The admin SSOT read model: one document an admin dashboard reads from.

The parts, each in its own module:

* ``sections`` - the collector functions, one per section;
* ``collect`` - runs them in parallel with a timeout each, keeps each
  section's last good value, serializes, and writes ``meta``;
* ``entry`` - the stored byte form and the answers cut from it unparsed;
* ``model`` - the cache-first read and the refresh (``ReadModel``);
* ``warmer`` - the scheduled refresh, in one process of the deployment;
* ``lifecycle`` - the Sanic listeners that open, warm and close it;
* ``schema`` - the document's models, for the OpenAPI description.
"""

from agentos.ssot.model import CACHE_KEY, Reading, ReadModel
from agentos.ssot.sections import COLLECTORS, Sources
from agentos.ssot.warmer import Warmer

__all__ = ["CACHE_KEY", "COLLECTORS", "ReadModel", "Reading", "Sources", "Warmer"]
