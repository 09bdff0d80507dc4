# The commands of the README. None of them reads standard input; `.ci/run` uses the same targets.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Written after a successful install; reinstalls when pyproject.toml changes.
INSTALLED := $(VENV)/.installed

# The local default for `make migrate` / `make run`: PostgreSQL on this machine, database `appview`
# (created when missing). Set DATABASE_URL to use another; it is exported to those two targets only
# (never echoed, so a password in it stays out of the terminal log).
DATABASE_URL ?= postgresql://postgres@127.0.0.1:5432/appview
migrate run: export DATABASE_URL := $(DATABASE_URL)

# Extra pytest arguments, e.g. make test PYTEST_ARGS="-k settings -x"
PYTEST_ARGS ?=

.PHONY: help install migrate run test lint

help: ## list the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

install: $(INSTALLED) ## create .venv and install the package (editable) with the dev extras

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	@echo "installing .[dev] into $(VENV) (a minute or two on a fresh venv)"
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-input -e '.[dev]'
	@touch $@

migrate: install ## create the database when missing, then alembic upgrade head (DATABASE_URL)
	$(BIN)/python scripts/database.py ensure
	$(BIN)/alembic upgrade head

# The reader and the worker run together under scripts/supervise.py: a signal stops both, and either
# exiting stops the other.
run: migrate ## install, migrate, then start the firehose reader and the worker (faust -A app worker -l info)
	exec $(BIN)/python scripts/supervise.py "$(BIN)/python -m app firehose" "$(BIN)/faust -A app worker -l info"

test: install ## run the tests (.ci/run runs exactly this)
	@rc=0; $(BIN)/python -m pytest -q $(PYTEST_ARGS) || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests (exit code 5): that is a failure" >&2; fi; \
	exit $$rc

lint: install ## ruff check + ruff format --check (both run; either failing fails)
	@rc=0; \
	echo "$(BIN)/ruff check ."; $(BIN)/ruff check . || rc=1; \
	echo "$(BIN)/ruff format --check ."; $(BIN)/ruff format --check . || rc=1; \
	exit $$rc

# The end-to-end benchmark (bench/run.py, README "Benchmark"), e.g. make bench BENCH_ARGS="--events 200000".
# It drops and recreates its own database (appview_bench) and uses only Redis keys under `bench:`.
BENCH_ARGS ?=

.PHONY: bench
bench: install ## benchmark: seeded workload, real worker, figures (BENCH_ARGS="--events N --workers 2 ...")
	$(BIN)/python -m bench.run $(BENCH_ARGS)
