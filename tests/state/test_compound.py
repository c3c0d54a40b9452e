"""Compound scripts: several scripts in one round trip, on memory and on Redis."""

from __future__ import annotations

from typing import Any

import pytest

from agentos.state import StateStore
from agentos.state.base import Script
from agentos.state.compound import (
    Step,
    compound,
    compound_args,
    one_slot,
    run_steps,
)

# Two small scripts with a Python twin each. GATE refuses (replies [1]) when
# its key exists; COUNT increments its key by ARGV[1] and replies [1, total].

_GATE_LUA = """
if redis.call('EXISTS', KEYS[1]) == 1 then return {1, 'closed'} end
return {0, 'open'}
"""


def _gate(view: Any, keys: list[str], args: list[str], now: float) -> list[Any]:
    return [1, "closed"] if view.exists(keys[0]) else [0, "open"]


_COUNT_LUA = """
local total = redis.call('INCRBY', KEYS[1], ARGV[1])
return {1, total, ARGV[2]}
"""


def _count(view: Any, keys: list[str], args: list[str], now: float) -> list[Any]:
    total = int(view.get(keys[0]) or 0) + int(args[0])
    view.set(keys[0], str(total))
    return [1, total, args[1]]


GATE = Script("test.gate", _GATE_LUA, _gate)
COUNT = Script("test.count", _COUNT_LUA, _count)
GATED_COUNT = compound("test.gate+count", (GATE, 0), (COUNT, None))


def steps(tag: str, by: int = 1, *, gate_tag: str | None = None) -> list[Step]:
    gate_tag = gate_tag or tag
    return [
        Step(GATE, [f"gate:{{{gate_tag}}}"], [], go_on=0),
        Step(COUNT, [f"count:{{{tag}}}"], [by, "note with spaces"], go_on=None),
    ]


async def test_a_compound_runs_every_part_when_each_lets_the_next_through(
    state: StateStore,
) -> None:
    """Both parts run; the reply lists each part's reply, with its own arguments."""
    keys, args = compound_args((["gate:{a}"], []), (["count:{a}"], [5, "x y"]))

    replies = await state.run(GATED_COUNT, keys, args)

    assert replies == [[0, "open"], [1, 5, "x y"]]
    assert await state.get("count:{a}") == b"5"


async def test_a_compound_stops_at_the_first_refusal_and_runs_nothing_after_it(
    state: StateStore,
) -> None:
    """A refusing part ends the run: later parts neither run nor write."""
    await state.set("gate:{a}", "1")
    keys, args = compound_args((["gate:{a}"], []), (["count:{a}"], [5, "x"]))

    replies = await state.run(GATED_COUNT, keys, args)

    assert replies == [[1, "closed"]]
    assert await state.get("count:{a}") is None


async def test_run_steps_gives_the_same_replies_in_one_call_or_one_by_one(
    state: StateStore,
) -> None:
    """Steps on one hash tag run as one script; steps across tags run in turn."""
    together = await run_steps(state, steps("t", 2))
    apart = await run_steps(state, steps("u", 2, gate_tag="v"))
    await state.set("gate:{x}", "1")
    refused_apart = await run_steps(state, steps("y", 2, gate_tag="x"))

    assert together == [[0, "open"], [1, 2, "note with spaces"]]
    assert apart == together
    assert refused_apart == [[1, "closed"]]
    assert await state.get("count:{y}") is None


async def test_run_steps_runs_a_lone_step_as_its_own_script(state: StateStore) -> None:
    """One step is one plain call; no step is no call at all."""
    lone = await run_steps(state, steps("z", 3)[1:])

    assert lone == [[1, 3, "note with spaces"]]
    assert await run_steps(state, []) == []


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        pytest.param(["a:{s}:x", "b:{s}:y"], True, id="same-tag"),
        pytest.param(["a:{s}:x", "b:{t}:y"], False, id="different-tags"),
        pytest.param(["plain", "plain"], True, id="same-untagged-name"),
        pytest.param(["plain", "other"], False, id="different-untagged-names"),
        pytest.param(["a:{}:x", "a:{}:x"], True, id="empty-braces-hash-the-name"),
        pytest.param([], True, id="no-keys"),
    ],
)
def test_one_slot_compares_the_hash_tags_as_redis_cluster_does(
    keys: list[str], expected: bool
) -> None:
    """The tag is the text in the first braces; without one, the whole name."""
    assert one_slot(keys) is expected


def test_a_compound_needs_two_parts() -> None:
    """A compound of one part is a mistake, said at once."""
    with pytest.raises(ValueError, match="two parts"):
        compound("lonely", (GATE, 0))
