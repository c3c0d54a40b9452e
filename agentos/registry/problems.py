"""Mistakes in the declarations, collected rather than raised one by one.

Every stage of the loader appends ``Problem`` records to one list, so that an
operator sees every mistake of an edit at once: the file, the line where the
YAML parser knows it, the action, the JSON pointer into the file and what is
wrong. Only when the list is complete does the loader raise
``RegistryError`` with all of it.

``RegistryError`` is a ``ConfigError``: at start-up it stops the service with
the report and a non-zero exit, like any other bad setting.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentos.errors import ConfigError


@dataclass(frozen=True, order=True)
class Problem:
    """One mistake: where it is and what is wrong, in a sentence."""

    file: str
    line: int | None
    pointer: str
    message: str
    action: str | None = None

    def __str__(self) -> str:
        place = self.file if self.line is None else f"{self.file}:{self.line}"
        subject = f" [{self.action}]" if self.action else ""
        pointer = self.pointer or "/"
        return f"{place}{subject} {pointer}: {self.message}"

    def as_detail(self) -> dict[str, Any]:
        """The problem as an error detail of the standard envelope."""
        return {
            "file": self.file,
            "line": self.line,
            "action": self.action,
            "pointer": self.pointer or "/",
            "message": self.message,
        }


class RegistryError(ConfigError):
    """The declarations have mistakes; ``problems`` lists every one of them."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = sorted(set(problems), key=_reading_order)
        super().__init__(format_report(self.problems))


def format_report(problems: list[Problem]) -> str:
    """A report of ``problems``, one a line, under a count."""
    count = len(problems)
    noun = "mistake" if count == 1 else "mistakes"
    lines = [f"the action registry has {count} {noun}:"]
    lines.extend(f"  {problem}" for problem in problems)
    return "\n".join(lines)


def _reading_order(problem: Problem) -> tuple[str, int, str, str]:
    return (problem.file, problem.line or 0, problem.pointer, problem.message)


def escape(token: str) -> str:
    """A JSON pointer reference token for ``token`` (RFC 6901)."""
    return token.replace("~", "~0").replace("/", "~1")


def pointer(*tokens: object) -> str:
    """The JSON pointer made of ``tokens``; no tokens is the whole document."""
    return "".join("/" + escape(str(token)) for token in tokens)


def display_path(path: Path, root: Path | None = None) -> str:
    """``path`` relative to ``root`` when it lies below it, for short reports."""
    if root is not None:
        try:
            return str(path.relative_to(root))
        except ValueError:
            pass
    return str(path)
