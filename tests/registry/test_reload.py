"""Reloading: atomic swaps, broken edits kept out, SIGHUP and pub/sub triggers."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from pathlib import Path

import pytest

from agentos.registry import RegistryHolder, RegistrySource
from agentos.registry.reload import (
    install_sighup,
    listen_for_reloads,
    reload_everywhere,
)
from agentos.state import StateStore
from tests.registry.helpers import CLASSES, GADGET_ACTIONS, actions_tree

EXTRA = """
view: Gadgets
actions:
  gadget.again:
    summary: Tune again
    rate_class: standard
    target: gadgets.tune
    permission: job.again
    payload:
      type: object
      required: [gadget_id, level]
      properties:
        gadget_id: {type: string}
        level: {type: integer}
"""


def holder_for(tmp_path: Path) -> RegistryHolder:
    """A holder over a fresh folder with the gadget actions."""
    actions, policies = actions_tree(tmp_path, {"gadgets.yaml": GADGET_ACTIONS})
    source = RegistrySource(actions, policies, CLASSES)
    return RegistryHolder(source.load(), source)


async def wait_for(condition: object, seconds: float = 5.0) -> None:
    """Poll ``condition()`` until it holds, or fail after ``seconds``."""
    for _ in range(int(seconds / 0.02)):
        if condition():  # type: ignore[operator]
            return
        await asyncio.sleep(0.02)
    pytest.fail("the condition did not hold in time")


def test_an_unchanged_tree_is_not_reloaded(tmp_path: Path) -> None:
    """Same content hash: the same registry object stays current."""
    holder = holder_for(tmp_path)
    before = holder.current

    outcome = holder.reload()

    assert outcome.ok and not outcome.changed
    assert holder.current is before


def test_a_clean_edit_is_swapped_in_and_listeners_hear_of_it(tmp_path: Path) -> None:
    """A new file loads as a new version; on_swap listeners get the new registry."""
    holder = holder_for(tmp_path)
    heard = []
    holder.on_swap(heard.append)
    (holder.source.actions / "more.yaml").write_text(EXTRA)

    outcome = holder.reload()

    assert outcome.changed
    assert "gadget.again" in holder.current
    assert heard == [holder.current]


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("access.yaml", id="access"),
        pytest.param("breakers.yaml", id="breakers"),
        pytest.param("rate_limits.yaml", id="rate-limits"),
        pytest.param("roles.yaml", id="roles"),
    ],
)
def test_an_edit_of_any_one_policy_file_alone_is_a_new_version(
    tmp_path: Path, name: str
) -> None:
    """Every file of policies/ is in the version, so the reload reaches listeners."""
    holder = holder_for(tmp_path)
    heard = []
    holder.on_swap(heard.append)
    policy = holder.source.policies / name
    policy.write_text(policy.read_text() + "\n# edited\n")

    outcome = holder.reload()

    assert outcome.changed
    assert heard == [holder.current]


def test_a_broken_edit_leaves_the_old_registry_serving_and_logs_the_report(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Nothing half-applied: the old registry stays; the log has every mistake."""
    holder = holder_for(tmp_path)
    before = holder.current
    (holder.source.actions / "more.yaml").write_text(EXTRA)
    (holder.source.actions / "broken.yaml").write_text(
        "actions:\n  x.y: {summary: 1}\n"
    )

    with caplog.at_level(logging.ERROR, logger="agentos.registry"):
        outcome = holder.reload()

    assert not outcome.ok and not outcome.changed
    assert holder.current is before and "gadget.again" not in holder.current
    [record] = [r for r in caplog.records if r.getMessage() == "registry.reload_failed"]
    report = record.fields["report"]  # type: ignore[attr-defined]
    assert "actions.d/broken.yaml" in report
    assert report.count("\n") == len(outcome.problems)


async def test_every_worker_reloads_when_one_announces_a_reload(
    tmp_path: Path, state: StateStore
) -> None:
    """Two holders on one state store: one reloads everywhere, both end equal."""
    first = holder_for(tmp_path / "a")
    second = holder_for(tmp_path / "b")
    listener = asyncio.create_task(listen_for_reloads(second, state))
    await asyncio.sleep(0.1)  # let the subscription settle
    for holder in (first, second):
        (holder.source.actions / "more.yaml").write_text(EXTRA)

    outcome = await reload_everywhere(first, state)
    await wait_for(lambda: second.current.version == outcome.version)

    listener.cancel()
    assert outcome.changed
    assert "gadget.again" in second.current


async def test_a_broken_reload_is_announced_to_nobody(
    tmp_path: Path, state: StateStore
) -> None:
    """All or nothing: a failed local load publishes nothing."""
    holder = holder_for(tmp_path)
    (holder.source.actions / "broken.yaml").write_text("actions: 5\n")

    async with state.subscribe("registry.reload") as messages:
        outcome = await reload_everywhere(holder, state)
        received = asyncio.ensure_future(anext(aiter(messages)))
        done, _ = await asyncio.wait([received], timeout=0.3)
        received.cancel()

    assert not outcome.ok
    assert not done


async def test_sighup_reloads_the_registry(tmp_path: Path) -> None:
    """The signal handler reloads in the background, on the running loop."""
    holder = holder_for(tmp_path)
    loop = asyncio.get_running_loop()
    install_sighup(holder, loop)
    (holder.source.actions / "more.yaml").write_text(EXTRA)

    try:
        os.kill(os.getpid(), signal.SIGHUP)
        await wait_for(lambda: "gadget.again" in holder.current)
    finally:
        loop.remove_signal_handler(signal.SIGHUP)
