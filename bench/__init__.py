"""Benchmark tooling: a seeded firehose workload with its expected totals, and the end-to-end run.

Never imported by the worker. `bench/workload.py` builds and pushes the entries, `bench/run.py`
measures the real `faust -A app worker` on them (README "Benchmark").
"""
