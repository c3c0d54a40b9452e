"""Root pytest configuration: loads the shared fixture plugins."""

import pytest

# The plugins import each other; register them for assertion rewriting first.
pytest.register_assert_rewrite("tests.fixtures")

pytest_plugins = [
    "tests.fixtures.services",
    "tests.fixtures.database",
    "tests.fixtures.state",
    "tests.fixtures.app",
    "tests.fixtures.jobs",
]
