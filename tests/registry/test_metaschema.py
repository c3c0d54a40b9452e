"""The actions meta-schema ships inside the package, not beside it."""

from __future__ import annotations

import fnmatch
import json
import tomllib
from pathlib import Path

import agentos.registry
from agentos.registry.metaschema import (
    META_SCHEMA_NAME,
    actions_validator,
    meta_schema_file,
)

REPO = Path(__file__).resolve().parents[2]
PACKAGE = Path(agentos.registry.__file__).parent


def test_the_meta_schema_is_read_from_the_package_through_importlib_resources() -> None:
    """The validator's schema is the package's own file, wherever it is installed."""
    packaged = meta_schema_file()

    schema = json.loads(packaged.read_text(encoding="utf-8"))

    assert Path(str(packaged)) == PACKAGE / META_SCHEMA_NAME
    assert actions_validator().schema == schema
    assert schema["title"] == "AgentOS actions file"


def test_pyproject_ships_the_meta_schema_as_package_data() -> None:
    """A non-editable install carries the file: pyproject's package data names it."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = project["tool"]["setuptools"]["package-data"]["agentos"]
    relative = (PACKAGE / META_SCHEMA_NAME).relative_to(PACKAGE.parent).as_posix()

    shipped = [p for p in patterns if fnmatch.fnmatchcase(relative, p)]

    assert shipped, f"add '{relative}' to [tool.setuptools.package-data] agentos"
