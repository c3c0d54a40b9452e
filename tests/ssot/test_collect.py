"""Collecting sections in parallel: failures and timeouts never sink the document."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

from agentos.errors import DependencyDown
from agentos.ssot.collect import Runner, assemble, fallback_from
from agentos.ssot.entry import pack
from agentos.ssot.sections import Sources


class Switch:
    """A collector whose behaviour a test flips between answering and failing."""

    def __init__(self, value: Any) -> None:
        self.value = value
        self.fault: Exception | None = None
        self.delay = 0.0

    async def __call__(self, sources: Sources) -> Any:
        await asyncio.sleep(self.delay)
        if self.fault is not None:
            raise self.fault
        return self.value


def _runner(timeout: float = 1.0, **collectors: Switch) -> Runner:
    return Runner(Sources(db=None, state=None), timeout=timeout, collectors=collectors)


def _document(runner: Runner, outcomes: list) -> dict[str, Any]:
    entry = assemble(outcomes, cache="stored", ttl_seconds=15,
                     registry_version="r1", started=time.perf_counter())
    return json.loads(bytes(entry.data))


async def test_a_failing_section_is_failed_and_the_rest_still_comes() -> None:
    """One collector raising leaves its section null and marked failed."""
    good, bad = Switch({"n": 1}), Switch({"n": 2})
    bad.fault = DependencyDown("The database does not answer.")
    runner = _runner(good=good, bad=bad)

    outcomes = runner.settle(await runner.collect(), {})
    document = _document(runner, outcomes)

    assert document["good"] == {"n": 1}
    assert document["bad"] is None
    assert document["meta"]["sections"]["good"]["status"] == "ok"
    assert document["meta"]["sections"]["bad"] == {
        "status": "failed",
        "collection_ms": document["meta"]["sections"]["bad"]["collection_ms"],
        "as_of": None,
        "error": "The database does not answer.",
    }
    assert document["meta"]["complete"] is False


async def test_a_section_failing_after_a_good_run_serves_its_last_good_value() -> None:
    """The last good value is served, marked stale, with the time it was taken."""
    queue = Switch({"depth": 7})
    runner = _runner(queue=queue)
    await runner.collect()
    queue.value, queue.fault = {"depth": 99}, RuntimeError("boom")

    outcomes = runner.settle(await runner.collect(), {})
    document = _document(runner, outcomes)

    assert document["queue"] == {"depth": 7}
    state = document["meta"]["sections"]["queue"]
    assert state["status"] == "stale"
    assert state["as_of"] is not None
    assert "RuntimeError" in state["error"]


async def test_a_slow_section_times_out_without_holding_up_the_others() -> None:
    """A section slower than the timeout is cut off; the collection is not."""
    fast, slow = Switch("fast"), Switch("slow")
    slow.delay = 5.0
    runner = _runner(timeout=0.2, fast=fast, slow=slow)

    started = time.perf_counter()
    outcomes = await runner.collect()
    elapsed = time.perf_counter() - started

    by_name = {o.name: o for o in outcomes}
    assert elapsed < 2.0
    assert by_name["fast"].status == "ok"
    assert by_name["slow"].status == "failed"
    assert by_name["slow"].error == "no answer within 0.2 s"


async def test_a_stored_document_supplies_values_this_process_never_had() -> None:
    """A failure with no value in memory takes the one in the last stored copy."""
    earlier = _runner(logs=Switch({"recent": ["a"]}))
    stored = assemble(await earlier.collect(), cache="stored", ttl_seconds=15,
                      registry_version=None, started=time.perf_counter())
    broken = Switch(None)
    broken.fault = RuntimeError("table missing")
    runner = _runner(logs=broken)

    outcomes = await runner.collect()
    needed = runner.needs_fallback(outcomes)
    settled = runner.settle(outcomes, fallback_from(pack(stored)))

    assert needed is True
    assert settled[0].status == "stale"
    assert json.loads(settled[0].value) == {"recent": ["a"]}


@pytest.mark.parametrize(
    "raw", [pytest.param(None, id="absent"), pytest.param(b"junk", id="not-an-entry")]
)
def test_no_stored_document_gives_no_fallback(raw: bytes | None) -> None:
    """Without a readable stored copy there is nothing to fall back on."""

    assert fallback_from(raw) == {}


async def test_meta_names_the_version_and_each_sections_timing() -> None:
    """meta carries generation time, versions, cache state and per-section times."""
    runner = _runner(a=Switch(1), b=Switch(2))

    document = _document(runner, runner.settle(await runner.collect(), {}))

    meta = document["meta"]
    assert meta["registry_version"] == "r1"
    assert meta["cache"] == "stored"
    assert meta["complete"] is True
    assert set(meta["sections"]) == {"a", "b"}
    assert all(s["collection_ms"] >= 0 for s in meta["sections"].values())
    assert meta["generated_at"].endswith("Z")


class Counting(Switch):
    """A collector that counts its calls."""

    def __init__(self, value: Any) -> None:
        super().__init__(value)
        self.calls = 0

    async def __call__(self, sources: Sources) -> Any:
        self.calls += 1
        return await super().__call__(sources)


async def test_a_slow_moving_section_is_reused_until_its_age_limit() -> None:
    """A section with a reuse limit is collected once, then reused and marked so."""
    trend, live = Counting({"days": 7}), Counting({"n": 1})
    runner = Runner(Sources(db=None, state=None), timeout=1.0,
                    collectors={"trend": trend, "live": live},
                    reuse_seconds={"trend": 60})
    await runner.collect()

    outcomes = await runner.collect()
    document = _document(runner, outcomes)

    assert (trend.calls, live.calls) == (1, 2)
    assert document["trend"] == {"days": 7}
    assert document["meta"]["sections"]["trend"]["reused"] is True
    assert document["meta"]["sections"]["trend"]["status"] == "ok"
    assert "reused" not in document["meta"]["sections"]["live"]


async def test_past_its_age_limit_a_reused_section_is_collected_again() -> None:
    """Once the kept value is older than the limit, the collector runs again."""
    trend = Counting({"days": 7})
    runner = Runner(Sources(db=None, state=None), timeout=1.0,
                    collectors={"trend": trend}, reuse_seconds={"trend": 0.1})
    await runner.collect()

    await asyncio.sleep(0.15)
    (outcome,) = await runner.collect()

    assert trend.calls == 2
    assert outcome.reused is False
