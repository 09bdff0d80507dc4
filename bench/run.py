"""End-to-end benchmark: the real `faust -A app worker` on a seeded workload, measured until drained.

    python -m bench.run --events 200000 --dialect sdk            # or: make bench BENCH_ARGS="..."
    python -m bench.run --events 1000000 --workers 2
    python -m bench.run --rate 3000 --duration 300               # steady input, lag every second

Steps: drop and recreate a dedicated database (`appview_bench` by default; only names starting with
`appview_bench` are accepted, so the tests' and the operator's databases are never touched) and
migrate it to Alembic `head`; delete and refill a stream of its own (`bench:firehose`), with a
dead-letter stream and metrics hash of its own; start N worker processes sharing one consumer group
(distinct `CONSUMER_ID`s, free `WEB_PORT`s); sample the group (XINFO GROUPS / XPENDING) every 50 ms,
the workers' RSS (/proc/<pid>/status) and the database connections they hold
(pg_stat_activity, `application_name = 'appview-indexer'`) every 250 ms, until lag and pending are
zero. Then: events/s from the first read to drained, peak RSS (VmHWM), the most connections, dead
letters, entries read against entries pushed, and the tables against the workload's expected totals
(bench/model.py, bench/checks.py). One table is printed; the figures go to
`bench/results/<run id>.json` with the expected totals and the workers' logs beside it.

In burst mode (the default) the whole workload is pushed before the workers start, so the run
measures the catch-up rate. With `--rate R`, the workers start first and the workload (R times duration
entries) is pushed at R entries/s in 100 ms steps; every second the lag is sampled as the age of the
oldest entry not yet acknowledged (Redis entry ids carry their push time) and as a count of entries.

Where the time goes (bench/profile.py): the worker's stage timers read from its /metrics once drained
(wall seconds per stage: read, decode, plan, database; summed over concurrent pipelines), the CPU
seconds of the worker processes and of their PostgreSQL sessions (from /proc), and the share of
samples in which a busy session was running, waiting on a lock or waiting for the worker.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import asyncpg
import redis
import redis.asyncio as aioredis
from sqlalchemy.engine import make_url

from bench.checks import PAIR_TABLES, Check, pair_differences, table_checks
from bench.profile import DatabaseSessions, cpu_seconds, shares, stage_seconds
from bench.workload import Fields, PushReport, Workload, push, write_expected

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
BIN = Path(sys.executable).parent
APPLICATION_NAME = "appview-indexer"  # app/db.py sets it on every connection of the worker
DEFAULT_POOL_SIZE = 20  # DIRECTION §2

GROUP_POLL_S = 0.05
SAMPLE_POLL_S = 0.25
RATE_STEP_S = 0.1
STOP_TIMEOUT_S = 40.0


@dataclass
class Options:
    events: int
    dialect: str
    seed: int
    workers: int
    batch_size: int | None
    parallel: int | None
    pool_size: int | None
    rate: int | None
    duration: int | None  # seconds of steady input; only with `rate`
    admin_database_url: str
    database: str
    redis_url: str
    key_prefix: str
    stall_timeout_s: float
    results: Path
    setup_sql: Path | None = None  # SQL run on the migrated database before the worker starts

    @property
    def total(self) -> int:
        """Entries the run pushes."""
        if self.rate is not None and self.duration is not None:
            return self.rate * self.duration
        return self.events

    @property
    def stream(self) -> str:
        return f"{self.key_prefix}firehose"

    @property
    def group(self) -> str:
        return f"{self.key_prefix.rstrip(':')}-indexers"

    @property
    def dead_letters(self) -> str:
        return f"{self.key_prefix}dead-letters"

    @property
    def metrics_hash(self) -> str:
        return f"{self.key_prefix}cluster:metrics"

    @property
    def database_url(self) -> str:
        url = make_url(self.admin_database_url).set(database=self.database)
        return url.render_as_string(hide_password=False)


@dataclass
class GroupState:
    """The consumer group as XINFO GROUPS shows it."""

    read: int = 0  # entries-read: entries delivered to the group at least once
    pending: int = 0
    last_delivered: str = "0-0"
    consumers: int = 0


@dataclass
class Samples:
    """What the sampler saw while the workers ran."""

    sessions: DatabaseSessions
    rss_mb: list[tuple[float, float]] = field(default_factory=list)  # (seconds since start, total MB)
    lag_s: list[tuple[float, float, int]] = field(default_factory=list)  # (t, lag seconds, lag entries)


class Workers:
    """The worker processes, started with the bench's own keys and database."""

    def __init__(self, options: Options, run_dir: Path) -> None:
        self.options = options
        self.run_dir = run_dir
        self.processes: list[subprocess.Popen[bytes]] = []
        self.ports: list[int] = []
        self.logs: list[TextIO] = []

    def start(self) -> None:
        self.ports = [free_port() for _ in range(self.options.workers)]
        for index in range(self.options.workers):
            log_path = self.run_dir / f"worker-{index}.log"
            log = log_path.open("w")
            self.logs.append(log)
            self.processes.append(
                subprocess.Popen(
                    [str(BIN / "faust"), "-A", "app", "worker", "-l", "warn"],
                    cwd=REPO_ROOT,
                    env=self._environment(index),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    # Its own session: a Ctrl-C on the bench does not hit the workers mid-measurement;
                    # `stop` ends them.
                    start_new_session=True,
                )
            )

    def _environment(self, index: int) -> dict[str, str]:
        options = self.options
        env = {
            **os.environ,
            "DATABASE_URL": options.database_url,
            "REDIS_URL": options.redis_url,
            "REDIS_STREAM_KEY": options.stream,
            "REDIS_CONSUMER_GROUP": options.group,
            "CONSUMER_ID": f"bench-worker-{index}",
            "WEB_PORT": str(self.ports[index]),
            "DEAD_LETTER_STREAM": options.dead_letters,
            "METRICS_HASH_KEY": options.metrics_hash,
            "LOG_LEVEL": "WARNING",
        }
        for name, value in (
            ("BATCH_SIZE", options.batch_size),
            ("PARALLEL_CONSUMERS", options.parallel),
            ("DB_POOL_SIZE", options.pool_size),
        ):
            if value is not None:
                env[name] = str(value)
        return env

    def check_alive(self) -> None:
        for index, process in enumerate(self.processes):
            if process.poll() is not None:
                raise BenchError(
                    f"worker {index} exited with code {process.returncode}: see {self.log(index)}"
                )

    def log(self, index: int) -> Path:
        return self.run_dir / f"worker-{index}.log"

    def rss_mb(self, field_name: str = "VmRSS") -> list[float]:
        """Each worker's resident memory (VmRSS now, or VmHWM: the peak) in MB, from /proc."""
        values = []
        for process in self.processes:
            try:
                status = Path(f"/proc/{process.pid}/status").read_text()
            except OSError:
                values.append(0.0)
                continue
            kilobytes = next(
                (int(line.split()[1]) for line in status.splitlines() if line.startswith(f"{field_name}:")), 0
            )
            values.append(kilobytes / 1024)
        return values

    def stop(self) -> list[int | None]:
        """SIGTERM, then SIGKILL after STOP_TIMEOUT_S; returns the exit codes."""
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        codes: list[int | None] = []
        for process in self.processes:
            try:
                codes.append(process.wait(timeout=max(0.1, deadline - time.monotonic())))
            except subprocess.TimeoutExpired:
                process.kill()
                codes.append(process.wait())
        for log in self.logs:
            log.close()
        return codes


class BenchError(Exception):
    """The run cannot go on; the message says why, in one line."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def entry_millis(entry_id: str) -> int:
    return int(entry_id.split("-", 1)[0])


# -- set-up --------------------------------------------------------------------------------------------


async def reset_database(options: Options) -> None:
    """Drop and recreate the bench database, then `alembic upgrade head` as `make migrate` does."""
    if not options.database.startswith("appview_bench"):
        raise BenchError(
            f"refusing to drop database {options.database!r}: its name must start with appview_bench"
        )
    admin = await asyncpg.connect(options.admin_database_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{options.database}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{options.database}"')
    finally:
        await admin.close()
    migrate = subprocess.run(
        [str(BIN / "alembic"), "upgrade", "head"],
        cwd=REPO_ROOT,
        env={**os.environ, "DATABASE_URL": options.database_url},
        capture_output=True,
        text=True,
    )
    if migrate.returncode != 0:
        raise BenchError(f"alembic upgrade head failed: {migrate.stderr.strip().splitlines()[-1:]}")
    if options.setup_sql is not None:
        conn = await asyncpg.connect(options.database_url)
        try:
            await conn.execute(options.setup_sql.read_text())
        finally:
            await conn.close()


async def group_state(client: aioredis.Redis, options: Options) -> GroupState | None:
    try:
        groups = await client.xinfo_groups(options.stream)
    except redis.ResponseError:
        return None  # no stream yet
    for group in groups:
        if group["name"].decode() == options.group:
            return GroupState(
                read=int(group.get("entries-read") or 0),
                pending=int(group["pending"]),
                last_delivered=group["last-delivered-id"].decode(),
                consumers=int(group["consumers"]),
            )
    return None


async def lag(client: aioredis.Redis, options: Options, state: GroupState) -> tuple[float, int]:
    """(age in seconds of the oldest entry not yet acknowledged, entries not yet acknowledged)."""
    length = await client.xlen(options.stream)
    behind = max(0, length - state.read) + state.pending
    oldest: list[int] = []
    if state.pending:
        summary = await client.xpending(options.stream, options.group)
        if summary["min"]:
            oldest.append(entry_millis(summary["min"].decode()))
    if length > state.read:
        following = await client.xrange(options.stream, min=f"({state.last_delivered}", count=1)
        if following:
            oldest.append(entry_millis(following[0][0].decode()))
    if not oldest:
        return 0.0, behind
    seconds, micros = await client.time()
    now_ms = seconds * 1000 + micros // 1000
    return max(0.0, (now_ms - min(oldest)) / 1000), behind


# -- measuring -----------------------------------------------------------------------------------------


@dataclass
class Timeline:
    started: float = 0.0  # workers started (monotonic)
    first_read: float | None = None
    drained: float | None = None


async def sample_resources(
    workers: Workers, pg: asyncpg.Connection, options: Options, samples: Samples, started: float
) -> None:
    """RSS and database sessions every SAMPLE_POLL_S, until cancelled."""
    while True:
        samples.rss_mb.append((time.monotonic() - started, sum(workers.rss_mb())))
        await samples.sessions.sample(pg)
        await asyncio.sleep(SAMPLE_POLL_S)


async def wait_drained(
    client: aioredis.Redis,
    workers: Workers,
    options: Options,
    total: int,
    timeline: Timeline,
    pushed: list[int],
) -> GroupState:
    """Poll the group until every pushed entry was read and acknowledged (`pushed[0]` reaching
    `total` in rate mode); stop with an error when nothing moves for the stall timeout."""
    progress, progress_at = (-1, -1), time.monotonic()
    while True:
        workers.check_alive()
        state = await group_state(client, options) or GroupState()
        now = time.monotonic()
        if timeline.first_read is None and state.read > 0:
            timeline.first_read = now
        if pushed[0] >= total and state.read >= total and state.pending == 0:
            timeline.drained = now
            return state
        if (state.read, state.pending) != progress:
            progress, progress_at = (state.read, state.pending), now
        elif now - progress_at > options.stall_timeout_s:
            raise BenchError(
                f"no progress for {options.stall_timeout_s:.0f} s: {state.read:,} of {total:,} entries read, "
                f"{state.pending:,} pending; see {workers.log(0)}"
            )
        await asyncio.sleep(GROUP_POLL_S)


async def push_at_rate(
    client: aioredis.Redis, options: Options, entries: list[Fields], pushed: list[int], started: float
) -> None:
    """Push `entries` at `options.rate` per second, in RATE_STEP_S steps."""
    assert options.rate is not None
    while pushed[0] < len(entries):
        target = min(len(entries), int(options.rate * (time.monotonic() - started)) + 1)
        if target > pushed[0]:
            async with client.pipeline(transaction=False) as pipe:
                for fields in entries[pushed[0] : target]:
                    pipe.xadd(options.stream, fields)  # type: ignore[arg-type]
                await pipe.execute()
            pushed[0] = target
        await asyncio.sleep(RATE_STEP_S)


async def sample_lag(client: aioredis.Redis, options: Options, samples: Samples, started: float) -> None:
    """The lag every second, until cancelled."""
    while True:
        state = await group_state(client, options)
        if state is not None:
            seconds, entries = await lag(client, options, state)
            samples.lag_s.append((time.monotonic() - started, seconds, entries))
        await asyncio.sleep(1.0)


async def wait_ready(client: aioredis.Redis, workers: Workers, options: Options) -> None:
    """Until every worker's pipelines joined the group (rate mode: no input before they listen)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        workers.check_alive()
        state = await group_state(client, options)
        if state is not None and state.consumers >= options.workers:
            return
        await asyncio.sleep(0.2)
    raise BenchError(f"the workers did not join group {options.group!r} within 120 s; see {workers.log(0)}")


async def measure(options: Options, run_dir: Path) -> dict[str, Any]:
    sync_client = redis.Redis.from_url(options.redis_url)
    client = aioredis.from_url(options.redis_url)
    await reset_database(options)
    sync_client.delete(options.stream, options.dead_letters, options.metrics_hash)
    rate_mode = options.rate is not None
    total = options.total
    workload = Workload(total, options.dialect, options.seed)  # type: ignore[arg-type]
    entries: list[Fields] = []
    push_report: PushReport | None = None
    if rate_mode:
        entries = list(workload.entries())
    else:
        push_report = push(sync_client, options.stream, workload.entries())
    expected = workload.expected()
    write_expected(run_dir / "expected.json", expected)

    workers = Workers(options, run_dir)
    samples = Samples(DatabaseSessions(APPLICATION_NAME, options.database))
    timeline = Timeline()
    pushed = [0 if rate_mode else total]
    pg = await asyncpg.connect(options.admin_database_url)
    tasks: list[asyncio.Task[None]] = []
    try:
        workers.start()
        timeline.started = time.monotonic()
        tasks.append(asyncio.create_task(sample_resources(workers, pg, options, samples, timeline.started)))
        if rate_mode:
            await wait_ready(client, workers, options)
            input_started = time.monotonic()
            tasks.append(asyncio.create_task(sample_lag(client, options, samples, input_started)))
            tasks.append(asyncio.create_task(push_at_rate(client, options, entries, pushed, input_started)))
        final = await wait_drained(client, workers, options, total, timeline, pushed)
        peak_rss = workers.rss_mb("VmHWM")
        samples.rss_mb.append((time.monotonic() - timeline.started, sum(workers.rss_mb())))
        await samples.sessions.sample(pg)
        worker_cpu = [cpu_seconds(process.pid) or 0.0 for process in workers.processes]
        stages: Counter[str] = Counter()
        for port in workers.ports:
            stages.update(await asyncio.to_thread(stage_seconds, port))
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, BenchError):
                await task
        exit_codes = workers.stop()
        await pg.close()
    dead_letters = await client.xlen(options.dead_letters)
    stream_length = await client.xlen(options.stream)
    await client.aclose()
    sync_client.close()
    bench_db = await asyncpg.connect(options.database_url)
    try:
        checks = await table_checks(bench_db, expected)
        pair_tables = {f"rows {table}" for _, table, _, _ in PAIR_TABLES}
        off = any(check.name in pair_tables and not check.ok for check in checks)
        differences = await pair_differences(bench_db, workload.model) if off else []
    finally:
        await bench_db.close()
    checks += [
        Check("entries read", total, final.read),
        Check("stream length (nothing trimmed)", total, stream_length),
        Check("dead letters", expected["dead_letters"], dead_letters),
    ]
    assert timeline.first_read is not None and timeline.drained is not None
    elapsed = timeline.drained - timeline.first_read
    figures: dict[str, Any] = {
        "events_per_s": total / elapsed if elapsed > 0 else None,
        "first_read_to_drained_s": elapsed,
        "start_to_first_read_s": timeline.first_read - timeline.started,
        "peak_rss_mb": peak_rss,
        "max_db_connections": samples.sessions.max_connections,
        "db_connection_bound": options.workers * (options.pool_size or DEFAULT_POOL_SIZE),
        "dead_letters": dead_letters,
        "entries_read": final.read,
        "worker_exit_codes": exit_codes,
        "stage_seconds": dict(stages),
        "stage_shares": shares(stages),
        "cpu": {
            "worker_s": worker_cpu,
            "postgresql_s": samples.sessions.cpu_seconds,
            "worker_us_per_event": sum(worker_cpu) / total * 1e6,
            "postgresql_us_per_event": samples.sessions.cpu_seconds / total * 1e6,
        },
        "db_session_states": samples.sessions.state_shares(),
    }
    if push_report is not None:
        figures["push"] = {
            "xadd_per_s": push_report.push_rate,
            "generated_and_pushed_per_s": push_report.overall_rate,
            "seconds": push_report.generate_s + push_report.push_s,
        }
    if samples.lag_s:
        lags = [seconds for _, seconds, _ in samples.lag_s]
        figures["lag"] = {
            "max_s": max(lags),
            "p50_s": statistics.median(lags),
            "p95_s": sorted(lags)[int(0.95 * (len(lags) - 1))],
            "max_entries": max(entries for _, _, entries in samples.lag_s),
            "input_rate": options.rate,
            "duration_s": options.duration,
        }
    return {
        "figures": figures,
        "checks": [asdict(check) | {"ok": check.ok} for check in checks],
        "pair_differences": differences,
        "ok": all(check.ok for check in checks),
        "samples": {"rss_mb": samples.rss_mb, "lag": samples.lag_s},
    }


# -- reporting -----------------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        model = next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")
            ),
            "",
        )
    memory_kb = 0
    with contextlib.suppress(OSError, StopIteration):
        memory_kb = int(
            next(
                line for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")
            ).split()[1]
        )
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory_gb": round(memory_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
    }


def render(run: dict[str, Any]) -> str:
    options, figures = run["options"], run["result"]["figures"]
    settings = ", ".join(
        f"{name} {options[key]}"
        for name, key in (("batch", "batch_size"), ("parallel", "parallel"), ("pool", "pool_size"))
        if options[key] is not None
    )
    mode = f"steady {options['rate']:,}/s for {options['duration']} s" if options["rate"] else "burst"
    rows = [
        (
            "run",
            f"{run['date']}  {options['dialect']}  {run['entries']:,} entries  seed {options['seed']}  "
            f"{options['workers']} worker(s)  {settings or 'default settings'}  {mode}",
        )
    ]
    if "push" in figures:
        push_figures = figures["push"]
        rows.append(
            (
                "push",
                f"XADD {push_figures['xadd_per_s']:,.0f}/s; generated and pushed "
                f"{push_figures['generated_and_pushed_per_s']:,.0f}/s",
            )
        )
    rows += [
        (
            "events/s",
            f"{figures['events_per_s']:,.0f}  "
            f"(first read to drained {figures['first_read_to_drained_s']:.2f} s)",
        ),
        ("peak RSS", " + ".join(f"{mb:.0f} MB" for mb in figures["peak_rss_mb"]) + "  (VmHWM per worker)"),
        ("DB connections", f"max {figures['max_db_connections']} (bound {figures['db_connection_bound']})"),
        ("dead letters", str(figures["dead_letters"])),
    ]
    if "lag" in figures:
        lag = figures["lag"]
        rows.append(
            (
                "lag",
                f"max {lag['max_s']:.2f} s, p95 {lag['p95_s']:.2f} s, p50 {lag['p50_s']:.2f} s; "
                f"max {lag['max_entries']:,} entries behind",
            )
        )
    checks = run["result"]["checks"]
    failed = [check for check in checks if not check["ok"]]
    rows.append(("checks", f"{len(checks) - len(failed)}/{len(checks)} match the expected totals"))
    rows += [
        ("  MISMATCH", f"{check['name']}: expected {check['expected']:,}, got {check['actual']:,}")
        for check in failed
    ]
    rows += [("  pair", line) for line in run["result"]["pair_differences"]]
    rows.append(("stage shares", _percentages(figures["stage_shares"]) + "  (wall, summed over pipelines)"))
    cpu = figures["cpu"]
    rows.append(
        (
            "CPU",
            f"worker {sum(cpu['worker_s']):.1f} s ({cpu['worker_us_per_event']:.0f} µs/event), "
            f"PostgreSQL sessions {cpu['postgresql_s']:.1f} s "
            f"({cpu['postgresql_us_per_event']:.0f} µs/event)",
        )
    )
    rows.append(("DB sessions", _percentages(figures["db_session_states"]) + "  (busy samples)"))
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def _percentages(values: dict[str, float]) -> str:
    return ", ".join(f"{name} {share:.0%}" for name, share in values.items()) or "none"


def parse(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20_000, help="entries to push (burst mode)")
    parser.add_argument("--dialect", choices=("lexicon", "sdk"), default="sdk")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=1, help="worker processes sharing the group")
    parser.add_argument("--batch-size", type=int, help="BATCH_SIZE (default: the worker's)")
    parser.add_argument("--parallel", type=int, help="PARALLEL_CONSUMERS (default: the worker's)")
    parser.add_argument("--pool-size", type=int, help="DB_POOL_SIZE (default: the worker's)")
    parser.add_argument("--rate", type=int, help="steady input of RATE entries/s instead of a burst")
    parser.add_argument("--duration", type=int, help="seconds of steady input (with --rate; default 300)")
    parser.add_argument(
        "--admin-database-url",
        default=os.environ.get("BENCH_ADMIN_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
        help="a server login allowed to create databases (env BENCH_ADMIN_DATABASE_URL)",
    )
    parser.add_argument("--database", default="appview_bench", help="dropped and recreated: appview_bench*")
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"))
    parser.add_argument("--key-prefix", default="bench:", help="prefix of every Redis key the run uses")
    parser.add_argument("--stall-timeout", type=float, default=120.0, help="give up after this long idle")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument(
        "--setup-sql",
        type=Path,
        help="SQL file run on the migrated database before the worker starts (e.g. another program's DDL)",
    )
    args = parser.parse_args(argv)
    if args.duration is not None and args.rate is None:
        parser.error("--duration goes with --rate")
    return Options(
        events=args.events,
        dialect=args.dialect,
        seed=args.seed,
        workers=args.workers,
        batch_size=args.batch_size,
        parallel=args.parallel,
        pool_size=args.pool_size,
        rate=args.rate,
        duration=(args.duration or 300) if args.rate is not None else None,
        admin_database_url=args.admin_database_url,
        database=args.database,
        redis_url=args.redis_url,
        key_prefix=args.key_prefix,
        stall_timeout_s=args.stall_timeout,
        results=args.results,
        setup_sql=args.setup_sql,
    )


def main(argv: list[str] | None = None) -> int:
    options = parse(argv)
    now = datetime.now(UTC)
    total = options.total
    run_id = f"{now:%Y%m%dT%H%M%SZ}-{options.dialect}-{total}"
    run_dir = options.results / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    try:
        result = asyncio.run(measure(options, run_dir))
    except BenchError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    run = {
        "run_id": run_id,
        "date": f"{now:%Y-%m-%d %H:%M} UTC",
        "machine": machine(),
        "entries": total,
        "options": {
            key: value
            for key, value in asdict(options).items()
            if key not in ("admin_database_url", "redis_url", "results")
        },
        "result": result,
    }
    (options.results / f"{run_id}.json").write_text(json.dumps(run, indent=2, default=str) + "\n")
    print(render(run))
    print(f"figures: {options.results / f'{run_id}.json'}  (workers' logs and expected totals in {run_dir})")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
