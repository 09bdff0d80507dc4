"""Where a run's time goes: the worker's own stage timers, CPU seconds of the worker processes and of
their PostgreSQL sessions, and what those sessions were doing when sampled.

The stage timers (`appview_indexer_stage_seconds_total`, app/observability.py) are wall seconds
summed over concurrent pipelines, so their shares say where a batch spends its life, not what the
CPU did; the CPU seconds (from /proc, this machine only) and the session states say that.
"""

from __future__ import annotations

import os
import re
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_STAGE_LINE = re.compile(r'^appview_indexer_stage_seconds_total\{stage="(\w+)"\} (\S+)$', re.MULTILINE)


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a process so far; None once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces; utime and stime are fields 14 and 15.
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def stage_seconds(port: int, timeout_s: float = 5.0) -> dict[str, float]:
    """The worker's stage timers from its /metrics endpoint."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=timeout_s) as response:
        text = response.read().decode()
    return {stage: float(value) for stage, value in _STAGE_LINE.findall(text)}


def session_state(state: str | None, wait_event_type: str | None) -> str:
    """One word for what a database session was doing when sampled."""
    if state == "active":
        if wait_event_type is None:
            return "running"
        return "lock wait" if wait_event_type == "Lock" else f"waiting ({wait_event_type})"
    if state == "idle in transaction":
        return "in transaction, waiting for the worker"
    return "idle"


@dataclass
class DatabaseSessions:
    """The worker's PostgreSQL sessions, sampled: how many, in what state, and their CPU seconds."""

    application_name: str
    database: str
    max_connections: int = 0
    states: Counter[str] = field(default_factory=Counter)
    _backend_cpu: dict[int, float] = field(default_factory=dict)  # pid → CPU seconds when last seen

    async def sample(self, conn: asyncpg.Connection) -> None:
        rows = await conn.fetch(
            "SELECT pid, state, wait_event_type FROM pg_stat_activity WHERE application_name = $1 "
            "AND datname = $2 AND pid <> pg_backend_pid()",
            self.application_name,
            self.database,
        )
        self.max_connections = max(self.max_connections, len(rows))
        for row in rows:
            self.states[session_state(row["state"], row["wait_event_type"])] += 1
            seconds = cpu_seconds(row["pid"])
            if seconds is not None:
                self._backend_cpu[row["pid"]] = seconds

    @property
    def cpu_seconds(self) -> float:
        return sum(self._backend_cpu.values())

    def state_shares(self) -> dict[str, float]:
        """Share of samples per state, among sessions that were not idle."""
        busy = {state: count for state, count in self.states.items() if state != "idle"}
        total = sum(busy.values())
        return {state: count / total for state, count in sorted(busy.items())} if total else {}


def shares(seconds: dict[str, float]) -> dict[str, float]:
    total = sum(seconds.values())
    return {name: value / total for name, value in seconds.items()} if total else {}
