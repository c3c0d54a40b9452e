"""The state contract, part one: keys, hashes, sorted sets and scripts.

Every test runs on the in-memory state and on a real Redis (the ``state``
fixture), so the two adapters cannot drift apart unnoticed.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from agentos import errors
from agentos.state import Script, StateStore
from agentos.state.keyspace import Keyspace
from tests.fixtures.state import PassTime

# -- scripts used by the tests, each written both ways ---------------------

_CAS_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    redis.call('SET', KEYS[1], ARGV[2])
    return 1
end
return 0
"""


def _cas(view: Keyspace, keys: list[str], args: list[str], now: float) -> int:
    if view.get(keys[0]) != args[0].encode():
        return 0
    view.set(keys[0], args[1])
    return 1


COMPARE_AND_SET = Script("test.compare_and_set", _CAS_LUA, _cas)

_BUMP_LUA = """
local count = tonumber(redis.call('GET', KEYS[1]) or '0') + 1
redis.call('SET', KEYS[1], count)
return count
"""


def _bump(view: Keyspace, keys: list[str], args: list[str], now: float) -> int:
    count = int(view.get(keys[0]) or b"0") + 1
    view.set(keys[0], count)
    return count


READ_THEN_WRITE = Script("test.read_then_write", _BUMP_LUA, _bump)


def _fail(view: Keyspace, keys: list[str], args: list[str], now: float) -> None:
    raise ValueError("the script gave up")


FAILING = Script(
    "test.failing", "return redis.error_reply('the script gave up')", _fail
)


def _returning(lua_value: str, python_value: Any) -> Script:
    return Script("test.shape", f"return {lua_value}", lambda *_: python_value)


# -- keys --------------------------------------------------------------------


async def test_a_key_with_a_ttl_disappears_once_it_passes(
    state: StateStore, pass_time: PassTime
) -> None:
    """A key set with a TTL reads back until the TTL passes, then is gone."""
    await state.set("session", "alive", ttl=0.3)
    before = await state.get("session")

    await pass_time(0.4)

    assert before == b"alive"
    assert await state.get("session") is None
    assert await state.exists("session") is False


async def test_set_with_nx_keeps_the_first_value(state: StateStore) -> None:
    """``nx`` stores only into an absent key and reports whether it did."""
    first = await state.set("owner", "a", nx=True)
    second = await state.set("owner", "b", nx=True)

    assert (first, second) == (True, False)
    assert await state.get("owner") == b"a"


async def test_a_plain_set_drops_an_earlier_ttl(state: StateStore) -> None:
    """Overwriting a key without a TTL leaves it without expiry, as in Redis."""
    await state.set("config", "v1", ttl=30)

    await state.set("config", "v2")

    assert await state.ttl("config") is None
    assert await state.get("config") == b"v2"


async def test_incr_applies_the_ttl_only_when_it_creates_the_key(
    state: StateStore, pass_time: PassTime
) -> None:
    """The window of a counter starts at its first hit and later hits keep it."""
    first = await state.incr("hits", ttl=1.0)
    await pass_time(0.4)
    second = await state.incr("hits", 2, ttl=100.0)
    left = await state.ttl("hits")

    await pass_time(0.7)

    assert (first, second) == (1, 3)
    assert left is not None and 0 < left <= 0.6 + 0.05
    assert await state.get("hits") is None


async def test_incr_without_ttl_counts_from_zero_and_sets_no_expiry(
    state: StateStore,
) -> None:
    """A counter created without a TTL starts at zero and never expires."""
    values = [await state.incr("total", amount) for amount in (5, -2)]

    assert values == [5, 3]
    assert await state.ttl("total") is None


async def test_expire_and_ttl_report_missing_keys(state: StateStore) -> None:
    """Expiring a missing key fails; a missing key has no TTL."""
    assert await state.expire("ghost", 10) is False
    assert await state.ttl("ghost") is None

    await state.set("real", "x")
    assert await state.expire("real", 10) is True
    remaining = await state.ttl("real")
    assert remaining is not None and 9 < remaining <= 10


async def test_values_are_stored_as_redis_text(state: StateStore) -> None:
    """Numbers and text go in as UTF-8 text and come back as bytes."""
    await state.set("int", 42)
    await state.set("float", 1.5)
    await state.set("text", "größe")

    assert await state.get("int") == b"42"
    assert await state.get("float") == b"1.5"
    assert await state.get("text") == "größe".encode()


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda s: s.set("k", True), id="bool-value"),
        pytest.param(lambda s: s.set("k", None), id="none-value"),
        pytest.param(lambda s: s.set("k", "v", ttl=0), id="zero-ttl"),
        pytest.param(lambda s: s.expire("k", -1), id="negative-expire"),
    ],
)
async def test_bad_values_and_ttls_are_refused_before_anything_is_stored(
    state: StateStore, call: Any
) -> None:
    """A value Redis cannot hold, or a TTL that is not positive, is a caller bug."""
    with pytest.raises((TypeError, ValueError)):
        await call(state)

    assert await state.exists("k") is False


async def test_delete_counts_only_keys_that_existed(state: StateStore) -> None:
    """Deleting reports how many of the named keys were there."""
    await state.set("a", 1)
    await state.hset("b", {"f": 1})

    assert await state.delete("a", "b", "c") == 2
    assert await state.delete() == 0
    assert await state.exists("a") is False


async def test_keys_and_delete_prefix_match_the_prefix_literally(
    state: StateStore,
) -> None:
    """A prefix with glob characters matches those characters, nothing more."""
    for key in ("job*1", "job*2", "jobx", "other"):
        await state.set(key, 1)

    matched = sorted(await state.keys("job*"))
    removed = await state.delete_prefix("job*")

    assert matched == ["job*1", "job*2"]
    assert removed == 2
    assert sorted(await state.keys("")) == ["jobx", "other"]


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda s: s.get("h"), id="get-on-hash"),
        pytest.param(lambda s: s.incr("h"), id="incr-on-hash"),
        pytest.param(lambda s: s.zadd("h", {"m": 1}), id="zadd-on-hash"),
        pytest.param(lambda s: s.xlen("h"), id="xlen-on-hash"),
    ],
)
async def test_a_key_used_as_the_wrong_type_is_refused(
    state: StateStore, call: Any
) -> None:
    """Using a hash as another type is an internal error, not an outage."""
    await state.hset("h", {"f": "v"})

    with pytest.raises(errors.AgentOSError) as caught:
        await call(state)

    assert not isinstance(caught.value, errors.DependencyDown)
    assert await state.hgetall("h") == {"f": b"v"}


async def test_incr_of_a_value_that_is_not_an_integer_is_refused(
    state: StateStore,
) -> None:
    """Counting on a text value fails and leaves the value alone."""
    await state.set("name", "abc")

    with pytest.raises(errors.AgentOSError):
        await state.incr("name")

    assert await state.get("name") == b"abc"


# -- hashes ------------------------------------------------------------------


async def test_hash_fields_are_set_read_counted_and_removed(state: StateStore) -> None:
    """Fields can be set, read one by one or all, counted and deleted."""
    await state.hset("breaker", {"state": "open", "failures": 3})
    failures = await state.hincrby("breaker", "failures", 2)
    fresh = await state.hincrby("breaker", "probes")

    assert (failures, fresh) == (5, 1)
    assert await state.hget("breaker", "state") == b"open"
    assert await state.hget("breaker", "absent") is None
    assert await state.hgetall("breaker") == {
        "state": b"open",
        "failures": b"5",
        "probes": b"1",
    }
    assert await state.hdel("breaker", "state", "absent") == 1


async def test_a_hash_without_fields_no_longer_exists(state: StateStore) -> None:
    """Removing the last field removes the hash, as Redis does."""
    await state.hset("h", {"only": 1})
    await state.hset("h", {})

    await state.hdel("h", "only")

    assert await state.exists("h") is False
    assert await state.hgetall("h") == {}


# -- sorted sets -------------------------------------------------------------


async def test_sorted_set_orders_by_score_then_member(state: StateStore) -> None:
    """Ranges follow the score, ties follow the member, ``stop`` is inclusive."""
    added = await state.zadd("z", {"b": 2, "a": 2, "c": 1, "d": 3})
    readded = await state.zadd("z", {"d": 0.5})

    assert (added, readded) == (4, 0)
    assert await state.zrange("z") == ["d", "c", "a", "b"]
    assert await state.zrange("z", 1, 2) == ["c", "a"]
    assert await state.zrange("z", -2, -1) == ["a", "b"]
    assert await state.zrange("z", 3, 1) == []
    assert await state.zrange("z", 0, 0, withscores=True) == [("d", 0.5)]
    assert await state.zcard("z") == 4


async def test_sorted_set_scores_and_removal(state: StateStore) -> None:
    """Scores read back as floats; removing every member removes the set."""
    await state.zadd("z", {"x": 1.25, "y": 2})

    assert await state.zscore("z", "x") == 1.25
    assert await state.zscore("z", "nobody") is None
    assert await state.zrem("z", "x", "y", "nobody") == 2
    assert await state.exists("z") is False
    assert await state.zrange("z") == []


# -- scripts -----------------------------------------------------------------


async def test_compare_and_set_swaps_only_the_expected_value(
    state: StateStore,
) -> None:
    """The script changes the value only when it finds the expected one."""
    await state.set("version", "1")

    missed = await state.run(COMPARE_AND_SET, ["version"], ["0", "2"])
    swapped = await state.run(COMPARE_AND_SET, ["version"], ["1", "2"])

    assert (missed, swapped) == (0, 1)
    assert await state.get("version") == b"2"


async def test_one_of_200_concurrent_compare_and_sets_wins(state: StateStore) -> None:
    """Under 200 simultaneous attempts from one value exactly one succeeds."""
    await state.set("slot", "free")

    outcomes = await asyncio.gather(
        *(state.run(COMPARE_AND_SET, ["slot"], ["free", n]) for n in range(200))
    )

    winners = [n for n, won in enumerate(outcomes) if won == 1]
    assert len(winners) == 1
    assert await state.get("slot") == str(winners[0]).encode()


async def test_200_concurrent_read_then_write_scripts_lose_no_update(
    state: StateStore,
) -> None:
    """A script's read and write are one step: concurrent runs never interleave."""
    results = await asyncio.gather(
        *(state.run(READ_THEN_WRITE, ["counter"], []) for _ in range(200))
    )

    assert sorted(results) == list(range(1, 201))
    assert await state.get("counter") == b"200"


@pytest.mark.parametrize(
    ("lua_value", "python_value", "expected"),
    [
        pytest.param("nil", None, None, id="nil"),
        pytest.param("false", False, None, id="false"),
        pytest.param("true", True, 1, id="true"),
        pytest.param("3.7", 3.7, 3, id="number-truncated"),
        pytest.param("'text'", b"text", "text", id="string"),
        pytest.param(
            "{'a', 2, true, false, 'z'}",
            ["a", 2, True, False, "z"],
            ["a", 2, 1, None, "z"],
            id="array",
        ),
        pytest.param("{1, nil, 3}", [1, None, 3], [1], id="array-ends-at-nil"),
    ],
)
async def test_script_replies_have_the_same_shape_on_both_adapters(
    state: StateStore, lua_value: str, python_value: Any, expected: Any
) -> None:
    """Python twins' results are converted as Redis converts Lua values."""
    script = _returning(lua_value, python_value)

    assert await state.run(script, [], []) == expected


async def test_a_failing_script_raises_an_internal_error_naming_it(
    state: StateStore,
) -> None:
    """A script that fails surfaces as an internal error with its name."""
    with pytest.raises(errors.AgentOSError, match=r"test\.failing") as caught:
        await state.run(FAILING, [], [])

    assert not isinstance(caught.value, errors.DependencyDown)
