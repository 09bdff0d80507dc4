"""The README says what the code does: its Configuration tables are `Settings.from_env` (the worker)
and `ReaderSettings.from_env` (the firehose reader), its commands
are the Makefile's, the Makefile's are what `.ci/run` runs, and the test variables it documents are
the ones the test harness reads."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from app.backfill.settings import BackfillSettings
from app.firehose.settings import ReaderSettings
from app.settings import Settings
from tests.settings_support import env_names, variables

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
# DIRECTION §2, in its order: the names of the worker we replace.
DROP_IN = [
    "REDIS_URL",
    "DATABASE_URL",
    "REDIS_STREAM_KEY",
    "REDIS_CONSUMER_GROUP",
    "CONSUMER_ID",
    "DB_POOL_SIZE",
    "BATCH_SIZE",
    "PARALLEL_CONSUMERS",
    "LOG_LEVEL",
]
# The names of the reader we replace (PublicAppView's firehose_consumer.py), first in the reader's table.
READER_DROP_IN = ["RELAY_URL", "REDIS_CURSOR_KEY", "REDIS_MAX_STREAM_LEN"]
READER_HEADING = "### Firehose reader"


def section(title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", README, re.S | re.M)
    assert match, f"README has no '## {title}' section"
    return match.group(1)


def _rows(text: str) -> dict[str, str]:
    rows = {}
    for line in text.splitlines():
        match = re.match(r"\|\s*`([A-Z0-9_]+)`\s*\|\s*([^|]*?)\s*\|", line)
        if match:
            rows[match.group(1)] = match.group(2)
    return rows


def configuration_rows() -> dict[str, str]:
    """The worker's and the backfill's tables: the Configuration section before its reader subsection."""
    return _rows(section("Configuration").partition(READER_HEADING)[0])


def reader_section() -> str:
    found = section("Configuration").partition(READER_HEADING)
    assert found[1], f"README's Configuration has no '{READER_HEADING}' subsection"
    return found[2]


def reader_rows() -> dict[str, str]:
    return _rows(reader_section())


def code_blocks() -> list[str]:
    return [block.strip() for block in re.findall(r"```sh\n(.*?)```", README, re.S)]


# --- Configuration -----------------------------------------------------------------------------------


def test_configuration_table_lists_every_setting_and_nothing_else():
    rows = list(configuration_rows())
    known = env_names() + env_names(BackfillSettings)
    missing = [name for name in known if name not in rows]
    assert not missing, f"add {missing} to the README's Configuration tables"
    stale = [name for name in rows if name not in known]
    assert not stale, f"the README documents {stale}, which neither Settings nor BackfillSettings reads"


def test_the_backfill_settings_have_a_table_of_their_own():
    rows = list(configuration_rows())
    backfill = env_names(BackfillSettings)
    assert not set(backfill) & set(env_names()), "a name read by both Settings and BackfillSettings"
    assert rows[-len(backfill) :] == backfill, "the backfill table lists BackfillSettings in its order"


def test_reader_table_lists_its_own_settings_and_names_the_shared_ones():
    """The reader's table holds what only the reader reads; what it shares with the worker is named in
    its text and documented once, in the worker's table, with the same default."""
    shared = [name for name in env_names(ReaderSettings) if name in env_names()]
    own = [name for name in env_names(ReaderSettings) if name not in shared]
    rows = list(reader_rows())
    assert sorted(rows) == sorted(own), f"the reader's table should list exactly {own}"
    text = reader_section()
    unnamed = [name for name in shared if f"`{name}`" not in text.partition("| variable")[0]]
    assert not unnamed, f"name {unnamed} (shared with the worker) before the reader's table"
    worker = Settings.from_env({})
    reader = ReaderSettings.from_env({})
    for variable in variables(ReaderSettings):
        if variable.name in shared:
            assert getattr(reader, variable.field) == getattr(worker, variable.field), variable.name


def test_drop_in_names_come_first():
    assert list(configuration_rows())[: len(DROP_IN)] == DROP_IN
    assert list(reader_rows())[: len(READER_DROP_IN)] == READER_DROP_IN


def test_reader_defaults_are_the_codes():
    rows = reader_rows()
    for variable in variables(ReaderSettings):
        if variable.name not in rows:
            continue  # shared with the worker: checked against the worker's table
        shown = rows[variable.name].strip("`")
        if isinstance(variable.default, int | float):
            assert float(shown) == variable.default, variable.name
        else:
            assert shown == variable.default, variable.name


def test_configuration_defaults_are_the_codes():
    rows = configuration_rows()
    for variable in variables() + variables(BackfillSettings):
        cell = rows[variable.name]
        if variable.name == "DATABASE_URL":
            assert cell == "required"
            continue
        if variable.name == "CONSUMER_ID":
            assert cell == "`appview-indexer-<hostname>`"
            assert variable.default.startswith("appview-indexer-")
            continue
        if variable.name == "BACKFILL_SPOOL_DIR":
            assert variable.default == ""
            assert cell == "the system temporary directory + `/appview-backfill`"
            continue
        shown = cell.strip("`")
        if isinstance(variable.default, bool):
            assert shown == str(variable.default).lower(), variable.name
        elif isinstance(variable.default, int | float):
            assert float(shown) == variable.default, variable.name
        else:
            assert shown == variable.default, variable.name


# --- commands ----------------------------------------------------------------------------------------


def test_set_up_commands():
    blocks = code_blocks()
    for command in ("docker compose up", "make run", "make test"):
        assert command in blocks, f"the README's set-up lacks `{command}`"


def make_dry_run(target: str) -> list[str]:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    result = subprocess.run(
        ["make", "--no-print-directory", "-n", target, "INSTALLED="],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return [line.strip() for line in result.stdout.splitlines() if line.strip()]


def test_make_test_runs_the_command_the_readme_names():
    assert "`make test` runs `.venv/bin/python -m pytest -q`" in README
    assert any(".venv/bin/python -m pytest -q" in line for line in make_dry_run("test"))


def test_make_run_installs_migrates_and_starts_the_reader_and_the_worker():
    lines = make_dry_run("run")
    wanted = ["scripts/database.py ensure", "alembic upgrade head", "faust -A app worker -l info"]
    positions = [next(i for i, line in enumerate(lines) if piece in line) for piece in wanted]
    assert positions == sorted(positions), lines
    started = lines[positions[-1]]
    assert "scripts/supervise.py" in started and "-m app firehose" in started, started


def test_ci_runs_the_readme_commands():
    ci = (ROOT / ".ci" / "run").read_text()
    for target in ("install", "lint", "migrate", "test"):
        assert re.search(rf"make [^\n]*\b{target}\b", ci), f".ci/run does not run make {target}"


# --- test servers ------------------------------------------------------------------------------------


def test_the_test_variables_the_harness_reads_are_documented():
    harness = (ROOT / "tests" / "conftest.py").read_text() + (ROOT / "tests" / "servers.py").read_text()
    names = set(re.findall(r"os\.environ\.get\(\s*\"([A-Z_]+)\"", harness)) - {"CI"}
    assert {"TEST_DATABASE_URL", "TEST_REDIS_URL", "FIXTURES_DIR", "HYPOTHESIS_PROFILE"} <= names
    testing = section("Testing")
    undocumented = sorted(name for name in names if f"`{name}`" not in testing)
    assert not undocumented, f"document {undocumented} in the README's Testing section"
