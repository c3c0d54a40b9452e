"""What the agents service reports, and the fleet settings those reports use.

Worker health comes from the heartbeat times in ``workers``; performance
from the jobs that finished in a window; agent logs from ``logs``. The
thresholds and the default window are the fleet settings
(``GET``/``POST /api/agents/config``), a document versioned in
``config_versions`` under the scope ``agents``: every change is a new
version with its actor and comment, so the history can be read and rolled
back.

Known shortcoming: performance reads the finished jobs of the window into
the process (at most ``PERFORMANCE_ROW_LIMIT``, newest first) because
SQLite has no percentile function. A window holding more jobs than that is
measured over its newest jobs only, and the answer says so.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from agentos.errors import BadRequest, Conflict, NotFound
from agentos.services.agent_definitions import (
    NAME_PATTERN,
    FleetConfig,
    merge_patch,
    validated,
)
from agentos.services.agent_health import (
    FinishedJob,
    Health,
    classify,
    heartbeat_age,
    performance,
)
from agentos.services.agent_lifecycle import WorkerState, observed_state
from agentos.services.base import CallContext, Service, operation
from agentos.store.base import Executor, Row

_NAME = re.compile(NAME_PATTERN)
FLEET_SCOPE = "agents"
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
PERFORMANCE_ROW_LIMIT = 100_000
STOPPED_WORKER_MEMORY = timedelta(hours=1)
"""How long a cleanly stopped worker stays in the reports."""

AGENT_COLUMNS = (
    "id, name, agent_type, desired_state, observed_state, paused, concurrency, "
    "generation, config, job_kinds, created_at, updated_at"
)
WORKER_COLUMNS = (
    "id, agent_id, host, pid, state, current_job_id, started_at, last_heartbeat_at"
)


def now() -> datetime:
    """The current time, timezone-aware, as every stored time is."""
    return datetime.now(UTC)


class AgentReports(Service):
    """Reads about agents and workers, and the fleet settings behind them."""

    # -- one agent as the API shows it ---------------------------------------

    async def load(self, agent_ref: str, db: Executor | None = None) -> Row:
        """The row of the agent named or identified by ``agent_ref``, or 404."""
        column = _reference_column(agent_ref)
        sql = f"SELECT {AGENT_COLUMNS} FROM agents WHERE {column} = $1"
        row = await (db or self.db).fetchrow(sql, agent_ref)
        if row is None:
            raise NotFound(
                f"No agent '{agent_ref}' exists; GET /api/agents/status lists them."
            )
        return row

    def describe(
        self, row: Row, workers: list[dict[str, Any]], *, detailed: bool = True
    ) -> dict[str, Any]:
        """An agent row with what its workers are doing."""
        live = [w["state"] for w in workers if w["health"] not in {"dead", "stopped"}]
        counts = {health.value: 0 for health in Health}
        for worker in workers:
            counts[worker["health"]] += 1
        agent = {key: row[key] for key in row}
        agent["observed_state"] = observed_state(live)
        agent["worker_counts"] = counts
        agent["busy_workers"] = sum(1 for w in workers if w["current_job_id"])
        if detailed:
            agent["workers"] = workers
        return agent

    async def workers_of(self, agent_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
        """The reported workers of each agent, each with its health."""
        if not agent_ids:
            return {}
        marks = ", ".join(f"${n}" for n in range(1, len(agent_ids) + 1))
        rows = await self.db.fetch(
            f"SELECT {WORKER_COLUMNS} FROM workers WHERE agent_id IN ({marks}) "
            "ORDER BY started_at", *agent_ids,
        )
        fleet, moment = await self.fleet_settings(), now()
        grouped: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            worker = _judged(row, fleet, moment)
            if worker is not None:
                grouped.setdefault(row["agent_id"], []).append(worker)
        return grouped

    # -- health --------------------------------------------------------------------

    async def health(self, ctx: CallContext) -> dict[str, Any]:
        """Every reported worker with its heartbeat age and health."""
        rows = await self.db.fetch(
            "SELECT w.id, w.agent_id, w.host, w.pid, w.state, w.current_job_id, "
            "w.started_at, w.last_heartbeat_at, a.name AS agent_name "
            "FROM workers w JOIN agents a ON a.id = w.agent_id "
            "ORDER BY a.name, w.started_at"
        )
        fleet, moment = await self.fleet_settings(), now()
        workers = [w for w in (_judged(row, fleet, moment) for row in rows) if w]
        totals = {health.value: 0 for health in Health}
        for worker in workers:
            totals[worker["health"]] += 1
        return {
            "status": "degraded" if totals["dead"] or totals["late"] else "ok",
            "thresholds": {"late_seconds": fleet.heartbeat_late_seconds,
                           "dead_seconds": fleet.heartbeat_dead_seconds},
            "totals": totals,
            "workers": workers,
        }

    # -- performance ----------------------------------------------------------------

    async def performance(
        self, ctx: CallContext, *, window_minutes: int | None = None
    ) -> dict[str, Any]:
        """Per agent: throughput, success rate and job durations over a window."""
        fleet = await self.fleet_settings()
        window = window_minutes or fleet.performance_window_minutes
        since = now() - timedelta(minutes=window)
        agents = await self.db.fetch(
            "SELECT id, name, agent_type FROM agents ORDER BY name"
        )
        jobs = await self.db.fetch(
            "SELECT agent_id, agent_type, status, started_at, finished_at FROM jobs "
            "WHERE finished_at >= $1 AND status IN ('succeeded', 'failed', "
            "'cancelled') ORDER BY finished_at DESC LIMIT $2",
            since, PERFORMANCE_ROW_LIMIT,
        )
        finished = _attribute(agents, jobs)
        report = [
            {"id": a["id"], "name": a["name"], "agent_type": a["agent_type"],
             **performance(finished.get(a["id"], []), window)}
            for a in agents
        ]
        return {"window_minutes": window, "since": since,
                "truncated": len(jobs) >= PERFORMANCE_ROW_LIMIT, "agents": report}

    # -- logs --------------------------------------------------------------------

    async def logs(
        self,
        ctx: CallContext,
        *,
        agent_id: str,
        level: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        page: int = 1,
        per_page: int = 50,
    ) -> tuple[list[Row], int]:
        """One page of an agent's stored log lines, newest first, and the total."""
        agent = await self.load(agent_id)
        where, args = _log_filter(agent["id"], level, since, until)
        count = f"SELECT COUNT(*) FROM logs WHERE {where}"
        total = await self.db.fetchval(count, *args)
        n = len(args)
        rows = await self.db.fetch(
            "SELECT id, ts, level, logger, message, agent_id, job_id, trace_id, fields "
            f"FROM logs WHERE {where} ORDER BY ts DESC, id DESC "
            f"LIMIT ${n + 1} OFFSET ${n + 2}",
            *args, per_page, (page - 1) * per_page,
        )
        return rows, int(total or 0)

    # -- fleet settings ---------------------------------------------------------------

    async def fleet_config(self, ctx: CallContext | None = None) -> dict[str, Any]:
        """The current fleet settings with their version (0: the defaults)."""
        row = await self.db.fetchrow(
            "SELECT version, document, actor, comment, created_at "
            "FROM config_versions WHERE scope = $1 ORDER BY version DESC LIMIT 1",
            FLEET_SCOPE,
        )
        if row is None:
            return {"id": FLEET_SCOPE, "scope": FLEET_SCOPE, "version": 0,
                    "document": FleetConfig().model_dump(), "actor": None,
                    "comment": "defaults", "created_at": None}
        return {"id": FLEET_SCOPE, "scope": FLEET_SCOPE, **row}

    async def fleet_settings(self) -> FleetConfig:
        """The current fleet settings as a validated model."""
        current = await self.fleet_config()
        return FleetConfig.model_validate(current["document"])

    @operation
    async def update_fleet_config(
        self,
        ctx: CallContext,
        *,
        config: dict[str, Any],
        comment: str | None = None,
        base_version: int | None = None,
    ) -> dict[str, Any]:
        """Merge-patch the fleet settings into a new, validated version.

        With ``base_version`` the change applies only if that is still the
        current version (409 otherwise), so two operators editing the same
        version cannot overwrite each other unknowingly.
        """
        if not isinstance(config, dict):
            raise BadRequest("config must be a JSON object (a merge patch).")
        for _ in range(3):
            current = await self.fleet_config()
            _check_base(current["version"], base_version)
            merged = merge_patch(current["document"], config)
            document = validated(FleetConfig, merged, "/config").model_dump()
            if document == current["document"] and current["version"]:
                return {**current, "changed": False}
            try:
                async with self.db.transaction() as tx:
                    await self.record_version(tx, FLEET_SCOPE, document, ctx, comment)
            except Conflict:
                continue  # another version was written at the same moment
            return {**await self.fleet_config(), "changed": True}
        raise Conflict("The agents config kept changing under this request; retry.")

    async def record_version(
        self,
        tx: Executor,
        scope: str,
        document: dict[str, Any],
        ctx: CallContext,
        comment: str | None,
    ) -> int:
        """Store ``document`` as the next config version of ``scope``."""
        version = await tx.fetchval(
            "SELECT COALESCE(MAX(version), 0) + 1 FROM config_versions"
        )
        await tx.execute(
            "INSERT INTO config_versions (version, scope, document, actor, comment, "
            "created_at) VALUES ($1, $2, $3, $4, $5, $6)",
            int(version), scope, document, ctx.principal.subject, comment, now(),
        )
        return int(version)


def _reference_column(agent_ref: str) -> str:
    if not isinstance(agent_ref, str):
        raise BadRequest("agent_id must be an agent's id (a UUID) or its name.")
    try:
        uuid.UUID(agent_ref)
    except ValueError:
        pass
    else:
        return "id"
    if _NAME.fullmatch(agent_ref):
        return "name"
    raise BadRequest(
        "agent_id must be an agent's id (a UUID) or its name (lower-case letters, "
        "digits, '-' and '_').",
        details=[{"field": "agent_id", "value": agent_ref[:100]}],
    )


def _judged(row: Row, fleet: FleetConfig, moment: datetime) -> dict[str, Any] | None:
    """A worker row with its heartbeat age and health; None if long gone."""
    age = heartbeat_age(row["last_heartbeat_at"], moment)
    if row["state"] == WorkerState.STOPPED:
        last = row["last_heartbeat_at"] or row["started_at"]
        if moment - last > STOPPED_WORKER_MEMORY:
            return None
        health = Health.STOPPED
    else:
        health = classify(age, late=fleet.heartbeat_late_seconds,
                          dead=fleet.heartbeat_dead_seconds)
    worker = dict(row)
    worker["heartbeat_age_seconds"] = None if age is None else round(age, 3)
    worker["health"] = health.value
    return worker


def _attribute(agents: list[Row], jobs: list[Row]) -> dict[str, list[FinishedJob]]:
    """Finished jobs per agent id: by the job's agent, else by a unique type."""
    known = {agent["id"] for agent in agents}
    by_type: dict[str, list[str]] = {}
    for agent in agents:
        by_type.setdefault(agent["agent_type"], []).append(agent["id"])
    finished: dict[str, list[FinishedJob]] = {}
    for job in jobs:
        owner = job["agent_id"] if job["agent_id"] in known else None
        candidates = by_type.get(job["agent_type"] or "", [])
        if owner is None and len(candidates) == 1:
            owner = candidates[0]
        if owner is None:
            continue
        duration = None
        if job["started_at"] is not None:
            duration = (job["finished_at"] - job["started_at"]).total_seconds()
        finished.setdefault(owner, []).append(FinishedJob(job["status"], duration))
    return finished


def _log_filter(
    agent_id: str, level: str | None, since: datetime | None, until: datetime | None
) -> tuple[str, list[Any]]:
    clauses: list[str] = ["agent_id = $1"]
    args: list[Any] = [agent_id]
    if level is not None:
        if level not in LOG_LEVELS:
            raise BadRequest(
                f"level must be one of {', '.join(LOG_LEVELS)}; lines at that level "
                "and above are returned.",
                details=[{"field": "level", "value": level[:40]}],
            )
        wanted = LOG_LEVELS[LOG_LEVELS.index(level):]
        marks = ", ".join(f"${len(args) + i + 1}" for i in range(len(wanted)))
        clauses.append(f"LOWER(level) IN ({marks})")
        args.extend(wanted)
    if since is not None and until is not None and until <= since:
        raise BadRequest("until must be later than since.")
    if since is not None:
        args.append(since)
        clauses.append(f"ts >= ${len(args)}")
    if until is not None:
        args.append(until)
        clauses.append(f"ts < ${len(args)}")
    return " AND ".join(clauses), args


def _check_base(current: int, base: int | None) -> None:
    if base is None or base == current:
        return
    raise Conflict(
        f"The agents config is at version {current}, not {base}; read it again, "
        "reapply your change and retry.",
        details=[{"field": "base_version", "current": current, "given": base}],
    )
