"""Reading YAML: lines per pointer, repeated keys, JSON-like values."""

from __future__ import annotations

from pathlib import Path

from agentos.registry.source import content_hash, parse_yaml

TEXT = """\
view: V
actions:
  a.b:
    summary: S
    deprecated: {since: 2026-01-01}
    examples:
      - {id: x}
"""


def test_every_pointer_knows_its_line() -> None:
    """Keys, nested keys and list items map to the line they start on."""
    source, problems = parse_yaml(TEXT, "f.yaml")

    assert problems == [] and source is not None
    assert source.line_of("/actions/a.b") == 3
    assert source.line_of("/actions/a.b/examples/0") == 7
    assert source.line_of("/actions/a.b/examples/0/id/deeper") == 7


def test_dates_stay_strings_as_json_would_read_them() -> None:
    """YAML's timestamps are off: a date is the string it reads as."""
    source, _ = parse_yaml(TEXT, "f.yaml")

    assert source is not None
    assert source.data["actions"]["a.b"]["deprecated"]["since"] == "2026-01-01"


def test_a_repeated_key_is_a_problem_at_its_second_line() -> None:
    """The second occurrence is named; the parse still succeeds."""
    source, problems = parse_yaml("a: 1\nb: 2\na: 3\n", "f.yaml")

    assert source is not None
    assert [(p.pointer, p.line) for p in problems] == [("/a", 3)]


def test_pointer_tokens_escape_slashes_and_tildes() -> None:
    """A key holding ``/`` or ``~`` is escaped as RFC 6901 says."""
    source, _ = parse_yaml("'a/b~c':\n  d: 1\n", "f.yaml")

    assert source is not None and source.line_of("/a~1b~0c/d") == 2


def test_content_hash_changes_with_bytes_and_names(tmp_path: Path) -> None:
    """Equal files give equal hashes; an edit or a rename gives another."""
    path = tmp_path / "a.yaml"
    path.write_text("x: 1\n")
    first = content_hash([("a.yaml", path)])

    renamed = content_hash([("b.yaml", path)])
    path.write_text("x: 2\n")
    edited = content_hash([("a.yaml", path)])

    assert len({first, renamed, edited}) == 3
