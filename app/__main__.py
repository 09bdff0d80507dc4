"""`python -m app`: what this indexer does, read from the code that does it, and operator commands.

- `python -m app collections` (the default) lists which module indexes which collection into which
  table. It reads the registry the worker itself uses (app/indexing/registry.py), so the listing
  cannot drift from what runs; it reads no environment and touches no server.
- `python -m app recount` sets every counter to the count of the live rows it counts and reports
  what it changed (DATABASE_URL).
- `python -m app redrive-dead-letters [--count N]` moves dead letters back into the source stream
  (REDIS_URL, REDIS_STREAM_KEY, DEAD_LETTER_STREAM), once their cause is fixed.
- `python -m app firehose [--cursor N]` runs the firehose reader (app/firehose): relay or Jetstream
  (RELAY_URL) into the stream, until SIGTERM/SIGINT; `--cursor` replays from N.

Operator errors (a setting missing, a server not answering, a schema not at head) end the command
with one line on standard error and exit status 1.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from app.broker.retry import is_transient, summary
from app.indexing.collections.generic import ANY_COLLECTION
from app.indexing.registry import registry
from app.settings import ConfigurationError, Settings, mask_redis_url, mask_url

OTHER_COLLECTIONS = "* (any other collection)"


def collections_listing() -> str:
    """One line per collection: NSID, module, table; the fallback for every other collection last."""
    found = registry()
    modules = found.modules()
    lines = [
        (OTHER_COLLECTIONS if nsid == ANY_COLLECTION else nsid, module, found.by_nsid[nsid].table.name)
        for nsid, module in sorted(modules.items(), key=lambda item: (item[0] == ANY_COLLECTION, item[0]))
    ]
    header = ("COLLECTION", "MODULE", "TABLE")
    widths = [max(len(line[column]) for line in (header, *lines)) for column in range(2)]
    return "".join(
        f"{nsid:<{widths[0]}}  {module:<{widths[1]}}  {table}\n" for nsid, module, table in (header, *lines)
    )


def recount_command() -> int:
    from app.operations import describe_drifts, recount_counters

    settings = Settings.from_env()
    drifts = asyncio.run(recount_counters(settings))
    where = mask_url(settings.database_url)
    if not drifts:
        sys.stdout.write(f"recount: every counter in {where} equals its live rows; nothing changed\n")
        return 0
    sys.stdout.write(f"recount: {len(drifts)} counter rows in {where} set to their live count\n")
    sys.stdout.write("".join(f"  {line}\n" for line in describe_drifts(drifts)))
    return 0


def redrive_command(count: int | None) -> int:
    from app.operations import redrive_dead_letters

    settings = Settings.from_env()
    done = asyncio.run(redrive_dead_letters(settings, count))
    sys.stdout.write(
        f"redrive-dead-letters: {done.letters} dead letters removed from {settings.dead_letter_stream}, "
        f"{done.entries} entries added to {settings.stream_key} on {mask_redis_url(settings.redis_url)}\n"
    )
    return 0


def _positive(raw: str) -> int:
    value = int(raw)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _cursor(raw: str) -> int:
    value = int(raw)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be at least 0, got {value}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m app", description="What this indexer does, read from the code that does it."
    )
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("collections", help="which module indexes which collection, into which table")
    commands.add_parser(
        "recount", help="set every counter to the count of the live rows it counts; report what changed"
    )
    redrive = commands.add_parser(
        "redrive-dead-letters", help="move dead letters (oldest first) back into the source stream"
    )
    redrive.add_argument("--count", type=_positive, default=None, help="at most this many (default: all)")
    firehose = commands.add_parser(
        "firehose", help="read a relay or Jetstream into the stream (until a signal)"
    )
    firehose.add_argument(
        "--cursor",
        type=_cursor,
        default=None,
        help="start from this relay seq / Jetstream time_us (a replay)",
    )
    args = parser.parse_args(argv)
    if args.command == "firehose":
        from app.firehose.main import run

        return run(args.cursor)
    try:
        if args.command == "recount":
            return recount_command()
        if args.command == "redrive-dead-letters":
            return redrive_command(args.count)
    except ConfigurationError as exc:
        sys.stderr.write(f"python -m app {args.command}: {exc}\n")
        return 1
    except Exception as exc:
        if not is_transient(exc):
            raise
        sys.stderr.write(f"python -m app {args.command}: a server does not answer ({summary(exc)})\n")
        return 1
    sys.stdout.write(collections_listing())
    return 0


if __name__ == "__main__":
    sys.exit(main())
