"""``agentos actions list | show | lint | docs``, run as operators run them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from agentos.cli import main
from tests.fixtures.app import free_port
from tests.registry.helpers import REPO

FIVE_MISTAKES = """\
view: Jobs & Queue
actions:
  job.cancel_all:
    summary: Cancel jobs
    rate_class: ludicrous
    target: jobs.cancel_everything
    colour: red
  job.retry_later:
    summary: Retry a job later
    rate_class: standard
    target: jobs.retry
    payload:
      type: object
      required: [job_id]
      properties:
        job_id: {type: string, minLength: 1, default: ""}
    examples:
      - {job_id: 42}
"""


@pytest.fixture(autouse=True)
def settings_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Point the CLI at the repository's actions and policies, no config file."""
    monkeypatch.setenv("AGENTOS_CONFIG", str(tmp_path / "absent.yaml"))
    monkeypatch.setenv("AGENTOS_ACTIONS_DIR", str(REPO / "actions.d"))
    monkeypatch.setenv("AGENTOS_POLICIES_DIR", str(REPO / "policies"))
    monkeypatch.setenv("AGENTOS_DATA_DIR", str(tmp_path / "var"))


def test_lint_prints_all_five_mistakes_with_file_and_pointer_and_exits_1(
    tmp_path: Path,
) -> None:
    """The done-when of the registry: every mistake at once, exit status 1."""
    bad = tmp_path / "bad.yaml"
    bad.write_text(FIVE_MISTAKES)

    finished = subprocess.run(
        [sys.executable, "-m", "agentos", "actions", "lint", str(bad)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=REPO,
    )

    assert finished.returncode == 1, finished.stderr
    lines = finished.stdout.splitlines()
    assert lines[0] == "the action registry has 5 mistakes:"
    pointers = [
        "/actions/job.cancel_all/rate_class",
        "/actions/job.cancel_all/target",
        "/actions/job.cancel_all/colour",
        "/actions/job.retry_later/payload/properties/job_id/default",
        "/actions/job.retry_later/examples/0",
    ]
    for line, pointer in zip(lines[1:], pointers, strict=True):
        assert line.strip().startswith(f"{tmp_path.name}/bad.yaml:")
        assert f" {pointer}: " in line


def test_lint_of_the_shipped_actions_finds_nothing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The repository's own declarations are clean: exit status 0."""
    status = main(["actions", "lint"])

    assert status == 0
    assert "no mistakes" in capsys.readouterr().out


def test_list_as_json_names_every_action_with_its_facts(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """One row per action: name, view, permission, rate class, target, mode."""
    status = main(["actions", "list", "--json"])

    rows = json.loads(capsys.readouterr().out)
    assert status == 0
    cancel = next(row for row in rows if row["name"] == "job.cancel")
    assert cancel == {
        "name": "job.cancel",
        "view": "Jobs & Queue",
        "permission": "job.cancel",
        "rate_class": "standard",
        "target": "jobs.cancel",
        "mode": "sync",
    }


def test_list_as_a_table_counts_the_actions(capsys: pytest.CaptureFixture[str]) -> None:
    """The table has a header, a row per action and a closing count."""
    main(["actions", "list"])

    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == [
        "NAME",
        "VIEW",
        "PERMISSION",
        "RATE_CLASS",
        "TARGET",
        "MODE",
    ]
    assert lines[-1].startswith(f"{len(lines) - 2} actions, registry version ")


def test_show_tells_the_schema_examples_and_who_may_run_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """show NAME prints the payload table, the schema and the roles."""
    status = main(["actions", "show", "job.cancel"])

    out = capsys.readouterr().out
    assert status == 0
    assert "| `job_id` | string (uuid) | yes |" in out
    assert '"additionalProperties": false' in out
    assert "May run it: admin, operator, supervisor, user (own only)" in out


def test_show_of_an_unknown_action_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    """A name that is not declared is an error, said on stderr."""
    assert main(["actions", "show", "job.nothing"]) == 1
    assert "no action named 'job.nothing'" in capsys.readouterr().err


def test_docs_writes_a_markdown_catalogue_of_every_view(tmp_path: Path) -> None:
    """The catalogue has a section per view and an entry per action."""
    target = tmp_path / "catalogue.md"

    status = main(["actions", "docs", "--output", str(target)])

    text = target.read_text()
    assert status == 0
    assert "## Jobs & Queue (6)" in text
    assert text.count("### `") == 6
    assert '"confirm": true' in text


def test_a_broken_registry_stops_list_with_the_report_and_exit_2(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Like any bad setting: the report on stderr, exit status 2."""
    (tmp_path / "actions.d").mkdir()
    (tmp_path / "actions.d" / "bad.yaml").write_text(textwrap.dedent(FIVE_MISTAKES))
    monkeypatch.setenv("AGENTOS_ACTIONS_DIR", str(tmp_path / "actions.d"))

    status = main(["actions", "list"])

    assert status == 2
    assert "the action registry has 5 mistakes" in capsys.readouterr().err


def test_serve_refuses_to_start_on_a_broken_registry(tmp_path: Path) -> None:
    """Start-up fails with the report and a non-zero exit, before serving."""
    actions = tmp_path / "actions.d"
    actions.mkdir()
    (actions / "bad.yaml").write_text(FIVE_MISTAKES)
    env = {
        **os.environ,
        "AGENTOS_ACTIONS_DIR": str(actions),
        "AGENTOS_PORT": str(free_port()),
        "AGENTOS_LOG_LEVEL": "WARNING",
    }

    finished = subprocess.run(
        [sys.executable, "-m", "agentos", "serve"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=REPO,
        env=env,
    )

    assert finished.returncode == 2
    assert "the action registry has 5 mistakes" in finished.stderr
