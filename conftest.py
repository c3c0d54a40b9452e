"""Root pytest configuration: loads the shared fixture plugins."""

pytest_plugins = [
    "tests.fixtures.services",
    "tests.fixtures.state",
]
