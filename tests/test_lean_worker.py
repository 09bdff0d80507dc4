"""The worker imports neither the atproto SDK nor pydantic (memory and speed, DIRECTION §5): the SDK
is a test dependency that produces the SDK dialect, nothing more."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO_ROOT

PROBE = """
import sys
import app
app.app  # builds the production Faust app, agents, handlers and every collection module
from app.indexing.registry import registry
registry()
heavy = {'atproto', 'atproto_client', 'pydantic'}
loaded = sorted(name for name in sys.modules if name.split('.')[0] in heavy)
print(','.join(loaded))
"""


def test_worker_imports_neither_the_sdk_nor_pydantic() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=REPO_ROOT,
        env={"DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "", f"the worker loaded: {result.stdout.strip()}"
