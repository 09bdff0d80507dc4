"""Run several commands as one service: `make run` starts the firehose reader and the worker with it.

    python scripts/supervise.py "<command 1>" "<command 2>" ...

Each argument is one command line (split like a shell would, without a shell). The rules:
- SIGTERM or SIGINT to the supervisor is passed on (as SIGTERM) to every command still running;
  each gets `SUPERVISE_GRACE_S` seconds (default 60) to stop, then SIGKILL. Exit status 0 when
  they all stopped cleanly, else the first non-zero status.
- When one command exits on its own, the others are stopped the same way, and the supervisor exits
  with that command's status (1 if it was 0: a service that ends by itself is a failure here).
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from types import FrameType

POLL_S = 0.1


def say(message: str) -> None:
    sys.stderr.write(f"supervise: {message}\n")
    sys.stderr.flush()


def stop_all(processes: list[subprocess.Popen[bytes]], grace_s: float) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and any(process.poll() is None for process in processes):
        time.sleep(POLL_S)
    for process in processes:
        if process.poll() is None:
            say(f"pid {process.pid} still running after {grace_s:.0f} s: SIGKILL")
            process.kill()
            process.wait()


def status_of(process: subprocess.Popen[bytes]) -> int:
    code = process.returncode
    return 128 - code if code is not None and code < 0 else int(code or 0)


def main(argv: list[str]) -> int:
    if not argv:
        say("usage: supervise.py '<command>' ['<command>' ...]")
        return 2
    grace_s = float(os.environ.get("SUPERVISE_GRACE_S") or 60)
    signalled: list[int] = []

    def on_signal(signum: int, _: FrameType | None) -> None:
        signalled.append(signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    processes = []
    for command in argv:
        processes.append(subprocess.Popen(shlex.split(command)))
        say(f"started pid {processes[-1].pid}: {command}")

    while True:
        if signalled:
            say(f"{signal.Signals(signalled[0]).name}: stopping every command")
            stop_all(processes, grace_s)
            return next((status_of(p) for p in processes if status_of(p) not in (0, 128 + signal.SIGTERM)), 0)
        ended = next((process for process in processes if process.poll() is not None), None)
        if ended is not None:
            code = status_of(ended)
            say(f"pid {ended.pid} ({shlex.join(ended.args)}) exited with status {code}: stopping the others")  # type: ignore[arg-type]
            stop_all(processes, grace_s)
            return code or 1
        time.sleep(POLL_S)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
