"""`python -m app` lists which module indexes which collection, from the registry the worker uses."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.indexing.registry import registry

REPO_ROOT = Path(__file__).resolve().parents[2]
NEW_COLLECTIONS = {
    "app.bsky.graph.list": ("app.indexing.collections.list", "lists"),
    "app.bsky.graph.listitem": ("app.indexing.collections.listitem", "list_items"),
    "app.bsky.graph.listblock": ("app.indexing.collections.listblock", "list_blocks"),
    "app.bsky.graph.starterpack": ("app.indexing.collections.starterpack", "starter_packs"),
    "app.bsky.graph.verification": ("app.indexing.collections.verification", "verifications"),
    "app.bsky.feed.generator": ("app.indexing.collections.generator", "feed_generators"),
    "app.bsky.feed.threadgate": ("app.indexing.collections.threadgate", "thread_gates"),
    "app.bsky.feed.postgate": ("app.indexing.collections.postgate", "post_gates"),
    "app.bsky.labeler.service": ("app.indexing.collections.labeler", "labeler_services"),
}


def run(*args: str) -> subprocess.CompletedProcess[str]:
    # No DATABASE_URL or any other setting: listing needs no server and no configuration.
    env = {key: value for key, value in os.environ.items() if key in ("PATH", "HOME", "LANG")}
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("args", [(), ("collections",)])
def test_lists_every_registered_collection_with_its_module_and_table(args: tuple[str, ...]) -> None:
    result = run(*args)
    assert result.returncode == 0, result.stderr
    lines = [line.split() for line in result.stdout.splitlines()]
    assert lines[0] == ["COLLECTION", "MODULE", "TABLE"]
    listed = {line[0]: (line[1], line[2]) for line in lines[1:-1]}
    assert lines[-1] == [
        "*",
        "(any",
        "other",
        "collection)",
        "app.indexing.collections.generic",
        "generic_records",
    ]
    found = registry()
    assert listed == {
        nsid: (module, found.lookup(nsid).table.name)
        for nsid, module in found.modules().items()
        if nsid != "*"
    }
    assert NEW_COLLECTIONS.items() <= listed.items()


def test_unknown_command_fails_with_usage() -> None:
    result = run("frobnicate")
    assert result.returncode == 2
    assert "usage: python -m app" in result.stderr
    assert result.stdout == ""
