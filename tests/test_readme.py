"""The README says what the code does: its Configuration table is `Settings.from_env`, its commands
are the Makefile's, the Makefile's are what `.ci/run` runs, and the test variables it documents are
the ones the test harness reads."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from app.backfill.settings import BackfillSettings
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


def section(title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", README, re.S | re.M)
    assert match, f"README has no '## {title}' section"
    return match.group(1)


def configuration_rows() -> dict[str, str]:
    rows = {}
    for line in section("Configuration").splitlines():
        match = re.match(r"\|\s*`([A-Z0-9_]+)`\s*\|\s*([^|]*?)\s*\|", line)
        if match:
            rows[match.group(1)] = match.group(2)
    return rows


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


def test_drop_in_names_come_first():
    assert list(configuration_rows())[: len(DROP_IN)] == DROP_IN


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


def test_make_run_installs_migrates_and_starts_the_worker():
    lines = make_dry_run("run")
    wanted = ["scripts/database.py ensure", "alembic upgrade head", "faust -A app worker -l info"]
    positions = [next(i for i, line in enumerate(lines) if piece in line) for piece in wanted]
    assert positions == sorted(positions), lines


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
