"""Fixtures of the pipeline tests: a server with the probe service and actions."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from agentos.services.catalog import SERVICE_CLASSES, load_all
from tests.fixtures.app import REPO, AppMaker, RunningApp
from tests.pipeline.probe import PROBE_ACTIONS, PROBE_BREAKER, Probe


@pytest.fixture
def probe_registered() -> Iterator[None]:
    """``Probe`` in the service catalogue for this test only."""
    load_all()
    SERVICE_CLASSES["probe"] = Probe
    yield
    SERVICE_CLASSES.pop("probe", None)


@pytest.fixture
def probe_dirs(tmp_path: Path) -> dict[str, Path]:
    """The real actions and policies plus the probe's actions and breaker policy."""
    actions, policies = tmp_path / "actions.d", tmp_path / "policies"
    shutil.copytree(REPO / "actions.d", actions)
    shutil.copytree(REPO / "policies", policies)
    (actions / "probe.yaml").write_text(PROBE_ACTIONS)
    (policies / "breakers.yaml").write_text(PROBE_BREAKER)
    return {"actions_dir": actions, "policies_dir": policies}


@pytest.fixture
async def probe_app(
    make_app: AppMaker, probe_registered: None, probe_dirs: dict[str, Path]
) -> AsyncIterator[RunningApp]:
    """A running server (each backend) whose registry holds the probe actions."""
    yield await make_app(**probe_dirs)


def probe_of(app: RunningApp) -> Probe:
    """The probe service instance of a running server."""
    probe: Any = app.services["probe"]
    return probe
