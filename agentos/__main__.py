"""``python -m agentos``: the same as the ``agentos`` command."""

import sys

from agentos.cli import main

sys.exit(main())
