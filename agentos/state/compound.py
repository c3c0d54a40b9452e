"""Several scripts as one: one round trip for steps that follow each other.

A request often asks the state store two or three questions in a row, each
an atomic script of its own: is the token still admitted, does the caller's
rate allow the call, is the idempotency key free. Each is a round trip,
and on this project's reference machine a round trip costs the worker
40-60 us of CPU (a system call each way and the event-loop turns around
them). ``compound`` joins such scripts into one ``Script`` that runs them in
order, in one call, and stops at the first that refuses::

    GATE = compound("gate", (ADMIT, 0), (SPEND, 1))
    keys, args = compound_args((admit_keys, admit_args), (spend_keys, spend_args))
    replies = await state.run(GATE, keys, args)

Each part is a script and the first element of its reply that lets the next
part run (``0`` for "admitted", ``1`` for "allowed"); the last part's value
is not consulted. The reply is the list of the replies of the parts that
ran, so a list shorter than the parts ends with the refusal. The whole runs
atomically, as every script does.

The Lua body wraps each part's body in a function whose parameters are
named ``KEYS`` and ``ARGV``, so a part reads its own slice of the keys and
arguments exactly as it would alone. ``ARGV`` starts with two counts per
part (its keys, its arguments); ``compound_args`` writes them. The Python
twin slices the same way and calls each part's twin.

Callers mostly hand ``run_steps`` a list of ``Step``: it builds (once per
combination) the compound script and its arguments, and returns the replies
as above. Every key of a compound call must share one hash tag, as for any
script (Redis Cluster refuses a script whose keys span slots); where the
steps' keys do not, ``run_steps`` runs them one by one instead, each still
atomic, with the same stopping rule.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agentos.state.base import Script, Value
from agentos.state.scripts import lua_reply

if TYPE_CHECKING:
    from agentos.state.base import StateStore
    from agentos.state.keyspace import Keyspace

Part = tuple[Script, int | str | None]
"""A script and the first reply element that lets the next part run."""


@dataclass(frozen=True)
class Step:
    """One script call of a sequence: its keys, its arguments, when to go on."""

    script: Script
    keys: Sequence[str]
    args: Sequence[Value]
    go_on: int | str | None = None
    """The first reply element that lets the next step run."""


async def run_steps(state: StateStore, steps: Sequence[Step]) -> list[Any]:
    """Run ``steps`` in order, in one round trip, until one refuses.

    Returns the replies of the steps that ran (see the module docstring).
    """
    if not steps:
        return []
    if len(steps) == 1:
        only = steps[0]
        return [await state.run(only.script, only.keys, only.args)]
    if not _one_slot(tuple(key for step in steps for key in step.keys)):
        return await _one_by_one(state, steps)

    script = _compound_of(tuple((step.script, step.go_on) for step in steps))
    keys, args = compound_args(*((step.keys, step.args) for step in steps))
    replies: list[Any] = await state.run(script, keys, args)
    return replies


async def _one_by_one(state: StateStore, steps: Sequence[Step]) -> list[Any]:
    replies = []
    for index, step in enumerate(steps):
        reply = await state.run(step.script, step.keys, step.args)
        replies.append(reply)
        if index < len(steps) - 1 and not _lets_through(reply, step.go_on):
            break
    return replies


@functools.cache
def _compound_of(parts: tuple[Part, ...]) -> Script:
    # One Script object per combination, so its SHA is computed once.
    return compound("+".join(script.name for script, _ in parts), *parts)


def compound(name: str, *parts: Part) -> Script:
    """One script that runs ``parts`` in order and stops at the first refusal."""
    if len(parts) < 2:
        raise ValueError("A compound script needs two parts or more.")
    return Script(name, _lua(parts), _twin(parts))


def compound_args(
    *calls: tuple[Sequence[str], Sequence[Value]],
) -> tuple[list[str], list[Value]]:
    """The keys and arguments of a compound call, from each part's own."""
    keys: list[str] = []
    counts: list[Value] = []
    args: list[Value] = []
    for part_keys, part_args in calls:
        keys.extend(part_keys)
        args.extend(part_args)
        counts += [len(part_keys), len(part_args)]
    return keys, counts + args


def one_slot(keys: Sequence[str]) -> bool:
    """Whether every key has the same hash tag (the text in its first braces)."""
    if not keys:
        return True
    tag = _hash_tag(keys[0])
    return all(_hash_tag(key) == tag for key in keys[1:])


@functools.lru_cache(maxsize=4096)
def _one_slot(keys: tuple[str, ...]) -> bool:
    # The same caller sends the same keys call after call (its admission,
    # its quotas): the answer is remembered rather than parsed again.
    return one_slot(keys)


def _hash_tag(key: str) -> str:
    _, brace, rest = key.partition("{")
    tag, closed, _ = rest.partition("}")
    if not brace or not closed or not tag:
        return key  # no tag: Redis hashes the whole name
    return tag


# -- the Lua body ----------------------------------------------------------

_RUNNER_LUA = """
local go_on = {%(go_on)s}
local count = #parts
local replies = {}
local k, a = 0, 2 * count
for i = 1, count do
  local nk, na = tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i])
  local keys, argv = {}, {}
  for j = 1, nk do keys[j] = KEYS[k + j] end
  for j = 1, na do argv[j] = ARGV[a + j] end
  k, a = k + nk, a + na
  local reply = parts[i](keys, argv)
  replies[i] = reply
  if i < count and (type(reply) ~= 'table' or reply[1] ~= go_on[i]) then
    break
  end
end
return replies
"""


def _lua(parts: Sequence[Part]) -> str:
    functions = [
        f"parts[{index}] = function(KEYS, ARGV)\n{script.lua.strip()}\nend"
        for index, (script, _) in enumerate(parts, start=1)
    ]
    go_on = ", ".join(_lua_literal(value) for _, value in parts)
    runner = _RUNNER_LUA % {"go_on": go_on}
    return "local parts = {}\n" + "\n".join(functions) + runner


def _lua_literal(value: int | str | None) -> str:
    if value is None:
        return "false"
    if isinstance(value, int):
        return str(value)
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


# -- the Python twin -------------------------------------------------------


def _twin(parts: Sequence[Part]) -> Any:
    def run(view: Keyspace, keys: list[str], args: list[str], now: float) -> list[Any]:
        counts, rest = args[: 2 * len(parts)], args[2 * len(parts) :]
        replies: list[Any] = []
        k = a = 0
        for index, (script, go_on) in enumerate(parts):
            nk, na = int(counts[2 * index]), int(counts[2 * index + 1])
            part_keys, part_args = keys[k : k + nk], rest[a : a + na]
            reply = lua_reply(script.python(view, part_keys, part_args, now))
            replies.append(reply)
            k, a = k + nk, a + na
            if index < len(parts) - 1 and not _lets_through(reply, go_on):
                break
        return replies

    return run


def _lets_through(reply: Any, go_on: int | str | None) -> bool:
    return isinstance(reply, list) and bool(reply) and reply[0] == go_on
