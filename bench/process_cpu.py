"""The CPU time a server process and its children have spent, from ``/proc``.

The benches divide it by the requests of a load run: the server's CPU per
request. On a machine shared with the load generator, the databases and
whatever else runs, that holds steadier from run to run than requests per
second, and it says what a request costs the server itself. Linux only;
elsewhere ``cpu_seconds`` answers ``None`` and the benches leave the column
empty.

``Services`` reads the same for the PostgreSQL and Redis servers when they
run on this machine (found by process name), so a bench can say what a
request costs each of them too; for a server elsewhere it reads nothing.
"""

from __future__ import annotations

import os
from pathlib import Path

PROC = Path("/proc")


def cpu_seconds(pid: int) -> float | None:
    """User and system CPU seconds of ``pid`` and every living descendant."""
    if not (PROC / str(pid) / "stat").exists():
        return None
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    ticks = os.sysconf("SC_CLK_TCK")
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        # The command name may hold spaces and parentheses: split after its
        # last ")". Then field 2 is the parent, 12 and 13 user and system time.
        fields = text[text.rindex(")") + 2 :].split()
        parents[int(entry.name)] = int(fields[1])
        times[int(entry.name)] = (int(fields[11]) + int(fields[12])) / ticks

    family, frontier = {pid}, [pid]
    while frontier:
        parent = frontier.pop()
        children = [child for child, up in parents.items() if up == parent]
        family.update(children)
        frontier.extend(children)
    return sum(times.get(member, 0.0) for member in family)


def oldest_process(name: str) -> int | None:
    """The pid of the longest-running process called ``name`` (a server's main one)."""
    found: list[tuple[int, int]] = []
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() != name:
                continue
            text = (entry / "stat").read_text()
        except OSError:
            continue
        started = int(text[text.rindex(")") + 2 :].split()[19])  # field 22
        found.append((started, int(entry.name)))
    return min(found)[1] if found else None


class Services:
    """CPU seconds of the local PostgreSQL and Redis servers, with their children."""

    def __init__(self) -> None:
        names = {"postgresql": "postgres", "redis": "redis-server"}
        self.pids = {key: oldest_process(name) for key, name in names.items()}

    def read(self) -> dict[str, float | None]:
        """Each server's CPU seconds so far; ``None`` for one not seen here."""
        return {
            key: cpu_seconds(pid) if pid is not None else None
            for key, pid in self.pids.items()
        }


def per_request_us(before: float | None, after: float | None, requests: int) -> float:
    """CPU microseconds per request between two readings; NaN if unknown."""
    if before is None or after is None or requests <= 0:
        return float("nan")
    return (after - before) * 1e6 / requests
