"""Reading YAML files while remembering where each value stands.

PyYAML builds plain data and forgets the source lines, and it lets a repeated
key silently overwrite the first one. Here a file is composed into nodes
first; the walk over the nodes records the line of every JSON pointer and
reports repeated keys, then the same nodes are constructed into plain data.
So the loader can name ``actions.d/jobs.yaml:14`` for a mistake found at
``/actions/job.cancel/payload`` much later.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import yaml

from agentos.registry.problems import Problem, escape

try:  # libyaml is ten times faster; the pure-Python parser is the fallback
    from yaml import CSafeLoader as _SafeLoader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _SafeLoader

_TIMESTAMP = "tag:yaml.org,2002:timestamp"


class _Loader(_SafeLoader):  # type: ignore[misc]
    """Safe YAML whose values are JSON's: a date stays the string it reads as.

    Plain YAML turns ``2026-01-01`` into a ``date``, which no JSON Schema
    ``string`` accepts; declarations are JSON data written as YAML.
    """

    yaml_implicit_resolvers: ClassVar[dict[str, list[tuple[str, Any]]]] = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != _TIMESTAMP]
        for first, resolvers in _SafeLoader.yaml_implicit_resolvers.items()
    }


YAML_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class SourceFile:
    """A parsed YAML file: its data and the line (1-based) of each pointer."""

    name: str
    data: Any
    lines: dict[str, int] = field(default_factory=dict)

    def line_of(self, pointer: str) -> int | None:
        """The line of ``pointer``, else of its nearest ancestor that has one."""
        while True:
            if pointer in self.lines:
                return self.lines[pointer]
            if not pointer:
                return None
            pointer = pointer.rsplit("/", 1)[0]


def read_yaml(path: Path, name: str) -> tuple[SourceFile | None, list[Problem]]:
    """Parse ``path`` (shown as ``name`` in reports); ``None`` if unreadable."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, [Problem(name, None, "", f"cannot be read: {exc}")]
    return parse_yaml(text, name)


def parse_yaml(text: str, name: str) -> tuple[SourceFile | None, list[Problem]]:
    """Parse ``text``; report syntax errors and repeated keys with their lines."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        return None, [_syntax_problem(exc, name)]
    finally:
        loader.dispose()

    lines: dict[str, int] = {}
    problems: list[Problem] = []
    if node is not None:
        _walk(node, "", lines, problems, name)
    return SourceFile(name, data, lines), problems


def _syntax_problem(exc: yaml.YAMLError, name: str) -> Problem:
    mark = getattr(exc, "problem_mark", None)
    line = mark.line + 1 if mark is not None else None
    reason = getattr(exc, "problem", None) or str(exc)
    return Problem(name, line, "", f"is not valid YAML: {reason}")


def _walk(
    node: yaml.Node,
    pointer: str,
    lines: dict[str, int],
    problems: list[Problem],
    name: str,
) -> None:
    lines.setdefault(pointer, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        _walk_mapping(node, pointer, lines, problems, name)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, f"{pointer}/{index}", lines, problems, name)


def _walk_mapping(
    node: yaml.MappingNode,
    pointer: str,
    lines: dict[str, int],
    problems: list[Problem],
    name: str,
) -> None:
    seen: set[str] = set()
    for key_node, value_node in node.value:
        key = str(key_node.value)
        child = f"{pointer}/{escape(key)}"
        line = key_node.start_mark.line + 1
        if key in seen:
            message = f"the key '{key}' appears twice; YAML would keep only the last"
            problems.append(Problem(name, line, child, message))
            continue
        seen.add(key)
        lines[child] = line
        _walk(value_node, child, lines, problems, name)


def yaml_files(directory: Path) -> list[Path]:
    """The YAML files directly inside ``directory``, in name order."""
    if not directory.is_dir():
        return []
    found = [p for p in directory.iterdir() if p.suffix in YAML_SUFFIXES]
    return sorted(p for p in found if p.is_file() and not p.name.startswith("."))


def content_hash(paths: Iterable[tuple[str, Path]]) -> str:
    """A short digest of the named files' bytes: equal files, equal digest.

    Names take part, so renaming a file changes the digest too; a file that
    cannot be read contributes its name only (the loader reports it).
    """
    digest = hashlib.sha256()
    for name, path in sorted(paths):
        digest.update(name.encode() + b"\0")
        with contextlib.suppress(OSError):
            digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()[:16]
