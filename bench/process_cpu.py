"""The CPU time a server process and its children have spent, from ``/proc``.

The benches divide it by the requests of a load run: the server's CPU per
request. On a machine shared with the load generator, the databases and
whatever else runs, that holds steadier from run to run than requests per
second, and it says what a request costs the server itself. Linux only;
elsewhere ``cpu_seconds`` answers ``None`` and the benches leave the column
empty.
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


def per_request_us(before: float | None, after: float | None, requests: int) -> float:
    """CPU microseconds per request between two readings; NaN if unknown."""
    if before is None or after is None or requests <= 0:
        return float("nan")
    return (after - before) * 1e6 / requests
