"""docker-compose.yml, Dockerfile and .dockerignore: no Docker engine runs here, so the files are
parsed and checked (services, images, commands, start-up order, health checks, persistence, the
environment against `Settings.from_env`), the worker's health probe is run for real, and
`docker compose config -q` runs where the compose plugin exists."""

from __future__ import annotations

import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

from app.firehose.settings import ReaderSettings, SourceMode
from app.settings import Settings
from tests.settings_support import env_names

ROOT = Path(__file__).resolve().parent.parent
WORKER_COMMAND = ["faust", "-A", "app", "worker", "-l", "info"]
MIGRATE_COMMAND = ["alembic", "upgrade", "head"]
READER_COMMAND = ["python", "-m", "app", "firehose"]


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def interpolate(value: str, env: dict[str, str] | None = None) -> str:
    """Compose's `${NAME:-default}` / `${NAME}` / `$$`, enough for this file."""
    env = {} if env is None else env

    def one(match: re.Match) -> str:
        name, default = match.group(1), match.group(3)
        return env.get(name) or (default or "")

    return re.sub(r"\$\{(\w+)(:-([^}]*))?\}", one, value).replace("$$", "$")


def environment(service: dict) -> dict[str, str]:
    raw = service.get("environment", {})
    if isinstance(raw, list):
        raw = dict(item.split("=", 1) for item in raw)
    return {key: interpolate(str(value)) for key, value in raw.items()}


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    rows = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            rows.append((keyword.upper(), rest.strip()))
    return rows


# --- services and images -----------------------------------------------------------------------------


def test_the_five_services(services):
    assert set(services) == {"redis", "postgres", "migrate", "worker", "reader"}


def test_server_versions_are_the_ones_ci_runs(services):
    assert services["redis"]["image"] == "redis:7"
    assert services["postgres"]["image"] == "postgres:15"


def test_migrate_and_worker_run_the_image_built_here(services):
    for name in ("migrate", "worker", "reader"):
        assert services[name]["build"] == ".", name
        assert services[name]["image"] == services["worker"]["image"], name


def test_commands(services):
    assert services["migrate"]["command"] == MIGRATE_COMMAND
    assert services["worker"]["command"] == WORKER_COMMAND
    assert services["reader"]["command"] == READER_COMMAND
    assert services["migrate"].get("restart", "no") == "no"  # one shot


# --- start-up order, health, persistence -------------------------------------------------------------


def test_start_up_order(services):
    assert services["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert services["worker"]["depends_on"] == {
        "redis": {"condition": "service_healthy"},
        "postgres": {"condition": "service_healthy"},
        "migrate": {"condition": "service_completed_successfully"},
    }
    # The reader needs Redis only: the stream fills while the schema is migrated.
    assert services["reader"]["depends_on"] == {"redis": {"condition": "service_healthy"}}


def test_health_checks(services):
    assert services["redis"]["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    postgres_check = services["postgres"]["healthcheck"]["test"]
    assert postgres_check[:2] == ["CMD", "pg_isready"]
    env = environment(services["postgres"])
    assert postgres_check[postgres_check.index("-U") + 1] == env["POSTGRES_USER"]
    assert postgres_check[postgres_check.index("-d") + 1] == env["POSTGRES_DB"]
    assert services["worker"]["healthcheck"]["test"][0] == "CMD"
    assert services["reader"]["healthcheck"]["test"][0] == "CMD"


def test_redis_persists_the_stream(services, compose):
    command = services["redis"]["command"]
    assert command[command.index("--appendonly") + 1] == "yes"
    assert "redis-data:/data" in services["redis"]["volumes"]
    assert "redis-data" in compose["volumes"]


def test_postgres_keeps_its_data(services, compose):
    assert "postgres-data:/var/lib/postgresql/data" in services["postgres"]["volumes"]
    assert "postgres-data" in compose["volumes"]


def test_worker_has_time_to_finish_its_batches(services):
    grace = services["worker"]["stop_grace_period"]
    assert grace.endswith("s")
    assert int(grace[:-1]) > Settings.from_env({}).shutdown_timeout_s


# --- environment -------------------------------------------------------------------------------------


def test_environment_names_are_settings_names(services):
    known = set(env_names())
    for name in ("migrate", "worker"):
        unknown = set(environment(services[name])) - known
        assert not unknown, f"{name}: {sorted(unknown)} are not read by Settings.from_env"


def test_reader_environment(services):
    env = environment(services["reader"])
    unknown = set(env) - set(env_names(ReaderSettings))
    assert not unknown, f"reader: {sorted(unknown)} are not read by ReaderSettings.from_env"
    settings = ReaderSettings.from_env(env)  # every value parses
    assert settings.source.mode is SourceMode.RELAY
    assert settings.redis_url.startswith("redis://redis:")
    assert env["READER_WEB_HOST"] == "0.0.0.0"
    # The worker's defaults for the stream and the group are the reader's: they meet.
    worker = Settings.from_env(environment(services["worker"]))
    assert (settings.stream_key, settings.consumer_group) == (worker.stream_key, worker.consumer_group)
    published = [interpolate(port).rsplit(":", 1)[1] for port in services["reader"]["ports"]]
    assert str(settings.web_port) in published
    grace = services["reader"]["stop_grace_period"]
    assert grace.endswith("s") and int(grace[:-1]) >= 10


def test_worker_environment(services):
    env = environment(services["worker"])
    assert {"DATABASE_URL", "REDIS_URL", "CONSUMER_ID", "WEB_HOST", "WEB_PORT"} <= set(env)
    assert env["WEB_HOST"] == "0.0.0.0"
    settings = Settings.from_env(env)  # every value parses
    assert settings.consumer_id != "python-worker"
    assert settings.database_url.host == "postgres"
    assert settings.redis_url.startswith("redis://redis:")
    published = [interpolate(port).rsplit(":", 1)[1] for port in services["worker"]["ports"]]
    assert str(settings.web_port) in published


def test_database_url_matches_the_postgres_service(services):
    postgres = environment(services["postgres"])
    for name in ("migrate", "worker"):
        url = Settings.from_env(environment(services[name])).database_url
        assert (url.username, url.password, url.database) == (
            postgres["POSTGRES_USER"],
            postgres["POSTGRES_PASSWORD"],
            postgres["POSTGRES_DB"],
        ), name
    assert environment(services["migrate"])["DATABASE_URL"] == environment(services["worker"])["DATABASE_URL"]


class _Health(http.server.BaseHTTPRequestHandler):
    """Answers like the worker's liveness route: 200 on /health/live while `status` says so."""

    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status if self.path == "/health/live" else 404)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.parametrize(
    ("service", "port_variable"), [("worker", "WEB_PORT"), ("reader", "READER_WEB_PORT")]
)
def test_health_probe_asks_the_liveness_route(services, service, port_variable):
    """The probe runs here as in the container: 0 while /health/live answers 200, not 0 when it
    answers 503, nor once the port is closed."""
    test = services[service]["healthcheck"]["test"]
    assert test[1] == "python"
    assert "/health/live" in test[-1]
    argv = [sys.executable, *test[2:]]
    server = http.server.HTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    env = {**os.environ, **environment(services[service]), port_variable: str(server.server_address[1])}
    try:
        assert subprocess.run(argv, env=env, capture_output=True, timeout=20).returncode == 0
        _Health.status = 503
        assert subprocess.run(argv, env=env, capture_output=True, timeout=20).returncode != 0
    finally:
        _Health.status = 200
        server.shutdown()
        server.server_close()
    assert subprocess.run(argv, env=env, capture_output=True, timeout=20).returncode != 0


# --- Dockerfile and .dockerignore --------------------------------------------------------------------


def test_dockerfile_base_user_and_command(services):
    rows = dockerfile_instructions()
    assert rows[0] == ("FROM", "python:3.11-slim")
    users = [rest for keyword, rest in rows if keyword == "USER"]
    assert users and users[-1] not in {"root", "0"}, "the worker must not run as root"
    commands = [rest for keyword, rest in rows if keyword == "CMD"]
    assert json.loads(commands[-1]) == WORKER_COMMAND == services["worker"]["command"]
    exposed = [rest for keyword, rest in rows if keyword == "EXPOSE"]
    assert exposed == [environment(services["worker"])["WEB_PORT"]]


def test_dockerfile_copies_what_exists_and_dockerignore_keeps_it():
    ignored = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".git", ".venv"} <= ignored
    for keyword, rest in dockerfile_instructions():
        if keyword == "COPY":
            for source in rest.split()[:-1]:
                assert (ROOT / source).exists(), source
                assert source not in ignored, f"{source} is copied but .dockerignore drops it"


# --- docker compose itself, where it exists ----------------------------------------------------------


def _compose_plugin() -> bool:
    if shutil.which("docker") is None:
        return False
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=20)
    return probe.returncode == 0


def test_docker_compose_config_accepts_the_file():
    if not _compose_plugin():
        pytest.skip("the docker compose plugin is not installed here (the YAML is checked above)")
    result = subprocess.run(
        ["docker", "compose", "-f", str(ROOT / "docker-compose.yml"), "config", "-q"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
