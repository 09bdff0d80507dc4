"""Backfill parse benchmark: spooled repository CARs opened, indexed and walked to lexicon JSON.

    python -m bench.backfill_parse                 # the default mix, 100 to 50,000 records a CAR
    python -m bench.backfill_parse --sizes 100x20,50000x2

Steps: build CARs of the given sizes from realistic records (tests/support/repos.py: likes,
follows, posts, reposts, a profile) into a temporary directory; then, in a fresh child process
(so the building does not count), open each with `RepoSnapshot`, walk every record, and report per
size: records/s, and for the child: RSS after imports, peak RSS (VmHWM). Nothing is written to a
database: this measures the fetch-and-parse side alone.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DEFAULT_SIZES = "100x20,1000x10,5000x4,20000x2,50000x1"


def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def walk(directory: Path) -> None:
    """Child: walk every CAR of `directory`, print one JSON line of figures."""
    from app.backfill.snapshot import RepoRecord, RepoSnapshot

    baseline = _status_mb("VmRSS")
    by_size: dict[int, dict[str, float]] = {}
    for path in sorted(directory.glob("*.car")):
        size = int(path.stem.split("-")[0])
        did = path.stem.split("-", 2)[2].replace("_", ":")
        started = time.perf_counter()
        with RepoSnapshot(path, did) as snapshot:
            opened = time.perf_counter()
            count = sum(1 for item in snapshot.records() if isinstance(item, RepoRecord))
        done = time.perf_counter()
        entry = by_size.setdefault(size, {"cars": 0, "records": 0, "seconds": 0.0, "open_s": 0.0, "bytes": 0})
        entry["cars"] += 1
        entry["records"] += count
        entry["seconds"] += done - started
        entry["open_s"] += opened - started
        entry["bytes"] += path.stat().st_size
    print(json.dumps({"baseline_mb": baseline, "peak_mb": _status_mb("VmHWM"), "by_size": by_size}))


def build(directory: Path, sizes: list[tuple[int, int]]) -> None:
    from tests.support.repos import build_repo, random_did, sample_records

    n = 0
    for size, copies in sizes:
        for _ in range(copies):
            n += 1
            did = random_did(n)
            build_repo(did, sample_records(did, size, seed=n)).write(
                directory / f"{size}-{n:04d}-{did.replace(':', '_')}.car"
            )


def parse_sizes(text: str) -> list[tuple[int, int]]:
    out = []
    for part in text.split(","):
        size, _, copies = part.partition("x")
        out.append((int(size), int(copies or 1)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default=DEFAULT_SIZES, help="records x copies, comma-separated")
    parser.add_argument("--walk", type=Path, help=argparse.SUPPRESS)  # the child's entry
    args = parser.parse_args()
    if args.walk:
        walk(args.walk)
        return
    with tempfile.TemporaryDirectory(prefix="bench-backfill-") as tmp:
        directory = Path(tmp)
        started = time.perf_counter()
        build(directory, parse_sizes(args.sizes))
        print(f"built CARs in {time.perf_counter() - started:.1f} s", flush=True)
        child = subprocess.run(
            [sys.executable, "-m", "bench.backfill_parse", "--walk", str(directory)],
            capture_output=True,
            text=True,
            check=True,
        )
    figures = json.loads(child.stdout.strip().splitlines()[-1])
    total_records = total_seconds = 0.0
    print(f"{'records/CAR':>12} {'CARs':>5} {'MB':>7} {'records/s':>10} {'index s':>8}")
    for size, entry in sorted(figures["by_size"].items(), key=lambda item: int(item[0])):
        total_records += entry["records"]
        total_seconds += entry["seconds"]
        rate = entry["records"] / entry["seconds"]
        mb = entry["bytes"] / 1e6
        print(f"{int(size):>12,} {entry['cars']:>5} {mb:>7.1f} {rate:>10,.0f} {entry['open_s']:>8.2f}")
    rate = total_records / total_seconds
    print(f"all: {total_records:,.0f} records in {total_seconds:.2f} s = {rate:,.0f} records/s")
    print(
        f"walker process: RSS after imports {figures['baseline_mb']:.0f} MB, peak {figures['peak_mb']:.0f} MB"
    )


if __name__ == "__main__":
    main()
