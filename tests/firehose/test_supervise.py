"""scripts/supervise.py, which `make run` uses to run the reader and the worker as one service: either
exiting stops the other, a signal stops both."""

from __future__ import annotations

import shlex
import signal
import subprocess
import sys
import time

from tests.conftest import REPO_ROOT

SUPERVISE = [sys.executable, str(REPO_ROOT / "scripts" / "supervise.py")]
SLEEPER = f"{shlex.quote(sys.executable)} -c 'import time; time.sleep(60)'"


def test_one_command_exiting_stops_the_other_with_its_status() -> None:
    failing = f"{shlex.quote(sys.executable)} -c 'import sys, time; time.sleep(0.5); sys.exit(3)'"
    started = time.monotonic()
    result = subprocess.run([*SUPERVISE, SLEEPER, failing], capture_output=True, text=True, timeout=30)
    assert result.returncode == 3, result.stderr
    assert time.monotonic() - started < 15  # the sleeper was stopped, not waited for
    assert "exited with status 3: stopping the others" in result.stderr


def test_a_command_ending_cleanly_is_still_a_failure_of_the_service() -> None:
    ending = f"{shlex.quote(sys.executable)} -c 'pass'"
    result = subprocess.run([*SUPERVISE, SLEEPER, ending], capture_output=True, text=True, timeout=30)
    assert result.returncode == 1, result.stderr


def test_sigterm_stops_every_command() -> None:
    process = subprocess.Popen([*SUPERVISE, SLEEPER, SLEEPER], stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)
    process.send_signal(signal.SIGTERM)
    assert process.wait(20) == 0
    stderr = process.stderr.read() if process.stderr else ""
    assert "SIGTERM: stopping every command" in stderr
    assert stderr.count("started pid") == 2
