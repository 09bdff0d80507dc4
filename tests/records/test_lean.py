"""app/records stays lean: the worker runs it on every op, and DIRECTION §5 keeps the SDK and
pydantic out of the worker."""

from __future__ import annotations

import subprocess
import sys

CODE = """
import sys
import app
before = set(sys.modules)
import app.records.normalise, app.records.syntax, app.records.validate
added = set(sys.modules) - before
print(sorted(m for m in added if m.split('.')[0] in ('atproto', 'atproto_client', 'pydantic', 'libipld')))
"""


def test_records_import_neither_the_sdk_nor_pydantic() -> None:
    result = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
