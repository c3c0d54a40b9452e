"""How the action registry scales: load time and validation cost per request.

Generates registries of 83 (the catalogue's size), 1,000 and 10,000
synthetic actions, each with a payload that uses most of the subset (a
formatted string, bounded integers, an enum, a nested object, an array), and
measures:

* load: reading, checking and building the whole registry, as start-up and
  every reload do;
* validate: one request through ``resolve`` and ``validate``, the registry's
  part of ``POST /api/admin/action``, averaged over many requests to actions
  picked at random.

The goal is a validation cost that does not grow with the number of actions
(the discriminated union picks the model by name); the last line prints the
ratio of 10,000 to 83. No assertion: a benchmark reports, CI decides.

Run: ``.venv/bin/python bench/registry_bench.py [--sizes 83 1000 10000]``.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from agentos.registry import Registry, RegistrySource  # noqa: E402
from agentos.services.base import CallContext, Service, operation  # noqa: E402

ACTIONS_PER_FILE = 250
REQUESTS = 10_000
ROUNDS = 7


class Bench(Service):
    """A target that takes any payload, so every synthetic action resolves."""

    name = "bench"

    @operation
    async def run(self, ctx: CallContext, **fields: Any) -> None:
        """Do nothing; only the registry is measured."""


def payload_schema() -> dict[str, Any]:
    """A payload that exercises most keywords of the subset."""
    return {
        "type": "object",
        "required": ["target_id", "count"],
        "properties": {
            "target_id": {"type": "string", "format": "uuid"},
            "count": {"type": "integer", "minimum": 1, "maximum": 1000},
            "level": {
                "type": "string",
                "enum": ["low", "mid", "high"],
                "default": "mid",
            },
            "note": {"type": "string", "maxLength": 200, "x-pii": True},
            "window": {
                "type": "object",
                "required": ["start"],
                "properties": {
                    "start": {"type": "string", "format": "date-time"},
                    "minutes": {"type": "integer", "minimum": 1},
                },
            },
            "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 10},
        },
    }


def example() -> dict[str, Any]:
    """A valid payload of every synthetic action."""
    return {
        "target_id": "3f2c0b8e-5d0a-4c1e-9a57-2b1f0c6d7e8a",
        "count": 12,
        "note": "benchmark",
        "window": {"start": "2026-12-03T16:41:50Z", "minutes": 5},
        "tags": ["a", "b"],
    }


def write_tree(root: Path, size: int) -> tuple[Path, Path]:
    """``size`` actions in files of ``ACTIONS_PER_FILE``, and the real policies."""
    actions, policies = root / "actions.d", root / "policies"
    actions.mkdir(parents=True)
    shutil.copytree(REPO / "policies", policies)
    names = [f"job.bench_{index:05d}" for index in range(size)]
    for start in range(0, size, ACTIONS_PER_FILE):
        chunk = names[start : start + ACTIONS_PER_FILE]
        document = {"view": "Bench", "actions": {name: declaration() for name in chunk}}
        (actions / f"bench_{start:05d}.yaml").write_text(yaml.safe_dump(document))
    return actions, policies


def declaration() -> dict[str, Any]:
    """One synthetic action."""
    return {
        "summary": "A synthetic action",
        "rate_class": "standard",
        "target": "bench.run",
        "payload": payload_schema(),
        "examples": [example()],
    }


def measure_load(source: RegistrySource) -> tuple[float, Registry]:
    """Seconds to load the registry once."""
    started = time.perf_counter()
    registry = source.load()
    return time.perf_counter() - started, registry


def requests_for(registry: Registry, actions: int) -> list[dict[str, Any]]:
    """``REQUESTS`` valid bodies spread at random over the first ``actions``."""
    names = list(registry.specs)[:actions]
    rng = random.Random(7)
    return [
        {"action": rng.choice(names), "payload": example()} for _ in range(REQUESTS)
    ]


def validation_us(registry: Registry, documents: list[dict[str, Any]]) -> float:
    """Microseconds per request for one pass of resolve plus validate."""
    started = time.perf_counter()
    for document in documents:
        registry.validate(registry.resolve(document), document)
    return (time.perf_counter() - started) / len(documents) * 1e6


def run(sizes: list[int]) -> None:
    """Load each size, then time validation in interleaved rounds; print the table.

    Two request mixes per registry: spread over 83 actions (the same workload
    whatever the registry's size: does the cost grow with the number of
    declared actions?) and spread over every action (adds the CPU cache
    misses of touching ten thousand validators). The rounds alternate
    between sizes and keep each one's best, so that other load on the
    machine does not favour one size.
    """
    with tempfile.TemporaryDirectory() as folder:
        loaded = {}
        for size in sizes:
            actions, policies = write_tree(Path(folder) / str(size), size)
            source = RegistrySource(actions, policies, {"bench": Bench})
            loaded[size] = measure_load(source)
    mixes = {
        size: (requests_for(registry, 83), requests_for(registry, size))
        for size, (_, registry) in loaded.items()
    }
    best: dict[int, list[float]] = {size: [1e9, 1e9] for size in sizes}
    for _ in range(ROUNDS):
        for size, (_, registry) in loaded.items():
            for index, documents in enumerate(mixes[size]):
                best[size][index] = min(
                    best[size][index], validation_us(registry, documents)
                )

    header = ("actions", "load s", "us/request (83 hot)", "us/request (all)")
    print(f"{header[0]:>8} {header[1]:>8} {header[2]:>20} {header[3]:>17}")
    for size in sizes:
        hot, spread = best[size]
        print(f"{size:>8} {loaded[size][0]:>8.2f} {hot:>20.2f} {spread:>17.2f}")
    low, high = min(sizes), max(sizes)
    print(
        f"validation cost, {high:,} vs {low:,} actions: "
        f"{best[high][0] / best[low][0]:.2f}x with 83 hot actions, "
        f"{best[high][1] / best[low][1]:.2f}x spread over all (goal: within 1.2x)"
    )


def main() -> None:
    """Parse ``--sizes`` and run."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[83, 1_000, 10_000])
    run(parser.parse_args().sizes)


if __name__ == "__main__":
    main()
