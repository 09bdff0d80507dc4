"""`python -m app`: what this indexer does, read from the code that does it.

`python -m app collections` (the default) lists which module indexes which collection into which
table. It reads the registry the worker itself uses (app/indexing/registry.py), so the listing cannot
drift from what runs. Nothing here reads the environment or touches a server.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from app.indexing.collections.generic import ANY_COLLECTION
from app.indexing.registry import registry

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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m app", description="What this indexer does, read from the code that does it."
    )
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("collections", help="which module indexes which collection, into which table")
    parser.parse_args(argv)
    # `collections` is the only command, and the default.
    sys.stdout.write(collections_listing())
    return 0


if __name__ == "__main__":
    sys.exit(main())
