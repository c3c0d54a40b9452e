"""Agents: their definitions, the commands operators give them, their workers.

An agent row is the single source of what its workers should do: the
commands below change stored data only (see ``agent_lifecycle`` for the
states), and workers read it back through ``heartbeat``, which also records
that they are alive. Every command is a compare-and-set on the row, so two
operators commanding one agent at once cannot both win on a stale read.

Agents are found by id (a UUID) or by name; both are unique.
"""

from __future__ import annotations

import logging
import re
import uuid
from typing import Any

from agentos.errors import BadRequest, Conflict
from agentos.logs import log_event
from agentos.services.agent_definitions import (
    AgentConfig,
    AgentDefinition,
    merge_patch,
    validated,
)
from agentos.services.agent_lifecycle import (
    Command,
    DesiredState,
    WorkerState,
    check_pause,
    next_state,
    observed_state,
)
from agentos.services.agent_reports import AGENT_COLUMNS, AgentReports, now
from agentos.services.base import CallContext, operation
from agentos.services.catalog import register
from agentos.store.base import Row

logger = logging.getLogger("agentos.agents")

_WORKER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}$")
CAS_ATTEMPTS = 3

_EVENTS = {
    Command.START: "agent.started",
    Command.STOP: "agent.stopped",
    Command.DRAIN: "agent.draining",
    Command.RESTART: "agent.restarted",
}


@register
class AgentsService(AgentReports):
    """Agent definitions, desired states and worker heartbeats."""

    name = "agents"

    # -- reading -----------------------------------------------------------

    async def get(self, ctx: CallContext, *, agent_id: str) -> dict[str, Any]:
        """One agent with its workers and what they are doing."""
        row = await self.load(agent_id)
        workers = await self.workers_of([row["id"]])
        return self.describe(row, workers.get(row["id"], []))

    async def overview(self, ctx: CallContext) -> list[dict[str, Any]]:
        """Every agent with a summary of its workers, ordered by name."""
        rows = await self.db.fetch(f"SELECT {AGENT_COLUMNS} FROM agents ORDER BY name")
        workers = await self.workers_of([row["id"] for row in rows])
        return [
            self.describe(row, workers.get(row["id"], []), detailed=False)
            for row in rows
        ]

    # -- desired state -------------------------------------------------------

    @operation
    async def start(self, ctx: CallContext, *, agent_id: str) -> dict[str, Any]:
        """Desired state ``running``: its workers take jobs again."""
        return await self._command(ctx, agent_id, Command.START)

    @operation
    async def stop(self, ctx: CallContext, *, agent_id: str) -> dict[str, Any]:
        """Desired state ``stopped``: its workers exit."""
        return await self._command(ctx, agent_id, Command.STOP)

    @operation
    async def drain(self, ctx: CallContext, *, agent_id: str) -> dict[str, Any]:
        """Desired state ``draining``: running jobs finish, no new ones start."""
        return await self._command(ctx, agent_id, Command.DRAIN)

    @operation
    async def restart(self, ctx: CallContext, *, agent_id: str) -> dict[str, Any]:
        """A new generation: every worker is replaced by a fresh one."""
        return await self._command(ctx, agent_id, Command.RESTART)

    @operation
    async def restart_all(self, ctx: CallContext) -> dict[str, Any]:
        """Restart every agent; return the restarted agents."""
        names = await self.db.fetch("SELECT name FROM agents ORDER BY name")
        restarted = [
            await self._command(ctx, row["name"], Command.RESTART) for row in names
        ]
        return {"restarted": len(restarted), "agents": restarted}

    @operation
    async def pause(self, ctx: CallContext, *, agent_id: str) -> dict[str, Any]:
        """Keep the workers but let them take no new jobs."""
        return await self._set_paused(ctx, agent_id, pause=True)

    @operation
    async def resume(self, ctx: CallContext, *, agent_id: str) -> dict[str, Any]:
        """Let a paused agent's workers take jobs again."""
        return await self._set_paused(ctx, agent_id, pause=False)

    async def _command(
        self, ctx: CallContext, agent_ref: str, command: Command
    ) -> dict[str, Any]:
        for _ in range(CAS_ATTEMPTS):
            row = await self.load(agent_ref)
            target = next_state(row["name"], row["desired_state"], command)
            bump = 1 if command is Command.RESTART else 0
            changed = await self.db.execute(
                "UPDATE agents SET desired_state = $1, generation = generation + $2, "
                "updated_at = $3 WHERE id = $4 AND desired_state = $5 "
                "AND generation = $6",
                target.value, bump, now(), row["id"], row["desired_state"],
                row["generation"],
            )
            if changed:
                return await self._changed(ctx, row, _EVENTS[command])
        raise _busy(agent_ref)

    async def _set_paused(
        self, ctx: CallContext, agent_ref: str, *, pause: bool
    ) -> dict[str, Any]:
        row = await self.load(agent_ref)
        check_pause(row["name"], row["paused"], pause=pause)
        changed = await self.db.execute(
            "UPDATE agents SET paused = $1, updated_at = $2 "
            "WHERE id = $3 AND paused = $4",
            pause, now(), row["id"], not pause,
        )
        if not changed:
            raise _busy(agent_ref)
        event = "agent.paused" if pause else "agent.resumed"
        return await self._changed(ctx, row, event)

    async def _changed(
        self, ctx: CallContext, before: Row, event: str
    ) -> dict[str, Any]:
        after = await self.load(before["id"])
        log_event(
            logger, event, agent=after["name"], agent_id=after["id"],
            actor=ctx.principal.subject, desired_state=after["desired_state"],
            paused=after["paused"], generation=after["generation"],
        )
        workers = await self.workers_of([after["id"]])
        return self.describe(after, workers.get(after["id"], []))

    # -- definitions ---------------------------------------------------------------

    @operation
    async def register(
        self,
        ctx: CallContext,
        *,
        name: str,
        agent_type: str,
        job_kinds: list[dict[str, Any]],
        concurrency: int = 1,
        config: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Add an agent definition; it starts with desired state ``running``."""
        definition = validated(AgentDefinition, {
            "name": name, "agent_type": agent_type, "job_kinds": job_kinds,
            "concurrency": concurrency, "config": config or {},
        })
        await self._check_concurrency(definition.concurrency)
        agent_id, stamp = str(uuid.uuid4()), now()
        try:
            await self.db.execute(
                f"INSERT INTO agents ({AGENT_COLUMNS}) "
                "VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8, $9, $10, $10)",
                agent_id, definition.name, definition.agent_type,
                DesiredState.RUNNING.value, "stopped", False, definition.concurrency,
                definition.config.model_dump(),
                [kind.model_dump() for kind in definition.job_kinds], stamp,
            )
        except Conflict:
            raise Conflict(
                f"An agent named '{definition.name}' already exists; choose another "
                "name or update that agent."
            ) from None
        row = await self.load(agent_id)
        log_event(logger, "agent.registered", agent=row["name"], agent_id=agent_id,
                  actor=ctx.principal.subject)
        return self.describe(row, [])

    @operation
    async def deregister(self, ctx: CallContext, *, agent_id: str) -> dict[str, Any]:
        """Remove a stopped agent whose workers hold no job."""
        row = await self.load(agent_id)
        if row["desired_state"] != DesiredState.STOPPED:
            raise Conflict(
                f"Agent '{row['name']}' is {row['desired_state']}; stop it (or drain "
                "it, then stop it) before removing it."
            )
        async with self.db.transaction() as tx:
            busy = await tx.fetchval(
                "SELECT COUNT(*) FROM workers WHERE agent_id = $1 "
                "AND current_job_id IS NOT NULL AND state <> $2",
                row["id"], WorkerState.STOPPED.value,
            )
            if busy:
                raise Conflict(
                    f"{busy} worker(s) of agent '{row['name']}' still run a job; "
                    "wait for them to finish, then retry."
                )
            await tx.execute(
                "DELETE FROM agents WHERE id = $1 AND desired_state = $2",
                row["id"], DesiredState.STOPPED.value,
            )
        log_event(logger, "agent.deregistered", agent=row["name"], agent_id=row["id"],
                  actor=ctx.principal.subject)
        return {"id": row["id"], "name": row["name"], "deregistered": True}

    @operation
    async def update_config(
        self, ctx: CallContext, *, agent_id: str, config: dict[str, Any]
    ) -> dict[str, Any]:
        """Merge-patch the agent's config (``null`` removes a key), validated."""
        if not isinstance(config, dict):
            raise BadRequest("config must be a JSON object (a merge patch).")
        for _ in range(CAS_ATTEMPTS):
            row = await self.load(agent_id)
            merged = merge_patch(row["config"], config)
            document = validated(AgentConfig, merged, "/config").model_dump()
            if await self._store_config(ctx, row, document):
                return await self._changed(ctx, row, "agent.config_updated")
        raise _busy(agent_id)

    async def _store_config(
        self, ctx: CallContext, row: Row, document: dict[str, Any]
    ) -> bool:
        """Write the config and its version together; False if the row moved."""
        try:
            async with self.db.transaction() as tx:
                changed = await tx.execute(
                    "UPDATE agents SET config = $1, updated_at = $2 "
                    "WHERE id = $3 AND updated_at = $4",
                    document, now(), row["id"], row["updated_at"],
                )
                if changed:
                    scope = f"agent:{row['id']}"
                    await self.record_version(tx, scope, document, ctx, "update_config")
        except Conflict:
            return False  # a config version was written at the same moment
        return bool(changed)

    @operation
    async def set_concurrency(
        self, ctx: CallContext, *, agent_id: str, concurrency: int
    ) -> dict[str, Any]:
        """The most jobs the agent runs at once."""
        await self._check_concurrency(concurrency)
        row = await self.load(agent_id)
        await self.db.execute(
            "UPDATE agents SET concurrency = $1, updated_at = $2 WHERE id = $3",
            concurrency, now(), row["id"],
        )
        return await self._changed(ctx, row, "agent.concurrency_set")

    async def _check_concurrency(self, concurrency: int) -> None:
        limit = (await self.fleet_settings()).max_concurrency
        if isinstance(concurrency, int) and 1 <= concurrency <= limit:
            return
        raise BadRequest(
            f"concurrency must be a whole number from 1 to {limit} (the fleet's "
            "max_concurrency).",
            details=[{"pointer": "/concurrency", "allowed": f"1..{limit}"}],
        )

    # -- workers ----------------------------------------------------------------------

    async def heartbeat(
        self,
        *,
        worker_id: str,
        agent_id: str,
        host: str,
        state: str,
        pid: int | None = None,
        current_job_id: str | None = None,
    ) -> dict[str, Any]:
        """Record that a worker is alive; answer what its agent should do.

        A worker calls this every ``heartbeat_interval_seconds`` of its
        agent's config and follows the answer: exit when ``desired_state`` is
        ``stopped`` or ``generation`` is newer than its own, take no new job
        when ``paused`` or ``draining``.
        """
        _check_worker(worker_id, state)
        row = await self.load(agent_id)
        stamp = now()
        await self.db.execute(
            "INSERT INTO workers (id, agent_id, host, pid, state, current_job_id, "
            "started_at, last_heartbeat_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7) "
            "ON CONFLICT (id) DO UPDATE SET agent_id = excluded.agent_id, "
            "host = excluded.host, pid = excluded.pid, state = excluded.state, "
            "current_job_id = excluded.current_job_id, "
            "last_heartbeat_at = excluded.last_heartbeat_at",
            worker_id, row["id"], host[:255], pid, state, current_job_id, stamp,
        )
        fleet = await self.fleet_settings()
        await self.state.set(f"worker:{worker_id}:alive", row["id"],
                             ttl=fleet.heartbeat_dead_seconds)
        await self._observe(row)
        return {
            "agent_id": row["id"], "desired_state": row["desired_state"],
            "paused": row["paused"], "generation": row["generation"],
            "concurrency": row["concurrency"], "config": row["config"],
        }

    async def _observe(self, row: Row) -> None:
        workers = await self.workers_of([row["id"]])
        live = [w["state"] for w in workers.get(row["id"], [])
                if w["health"] != "dead"]
        observed = observed_state(live)
        if observed != row["observed_state"]:
            await self.db.execute(
                "UPDATE agents SET observed_state = $1 WHERE id = $2",
                observed, row["id"],
            )

    # -- the queue of an agent ---------------------------------------------------------

    async def queue(
        self, ctx: CallContext, *, agent_id: str, limit: int = 50
    ) -> dict[str, Any]:
        """The jobs queued for the agent's type, next first."""
        row = await self.load(agent_id)
        jobs = await self.services_queue().queued(ctx, agent_type=row["agent_type"],
                                                   limit=limit)
        return {"id": row["id"], "agent": row["name"],
                "agent_type": row["agent_type"], "jobs": jobs}

    @operation
    async def clear_queue(self, ctx: CallContext, *, agent_id: str) -> dict[str, Any]:
        """Cancel every job queued (not running) for the agent's type."""
        row = await self.load(agent_id)
        result = await self.services_queue().clear(ctx, agent_type=row["agent_type"])
        log_event(logger, "agent.queue_cleared", agent=row["name"],
                  actor=ctx.principal.subject, result=result)
        return {"id": row["id"], "agent": row["name"],
                "agent_type": row["agent_type"], "result": result}

    def services_queue(self) -> Any:
        """The queue service, which owns dispatch order and cancellation."""
        return self.deps.services["queue"]


def _check_worker(worker_id: str, state: str) -> None:
    if not _WORKER_ID.fullmatch(worker_id):
        raise BadRequest("worker_id must be 1 to 128 letters, digits or _.:@-.")
    if state not in {s.value for s in WorkerState}:
        allowed = ", ".join(s.value for s in WorkerState)
        raise BadRequest(f"state must be one of: {allowed}.")


def _busy(agent_ref: str) -> Conflict:
    return Conflict(
        f"Agent '{agent_ref}' was changed by someone else at the same moment; "
        "read it again and retry."
    )

