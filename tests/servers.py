"""Which PostgreSQL and Redis the test run talks to.

Order (README "Testing"): servers named by `TEST_DATABASE_URL` / `TEST_REDIS_URL` first; else, where a
Docker engine answers a ping within 2 seconds, testcontainers starts PostgreSQL 15 and Redis 7 (the
versions CI runs); else the local defaults. Nothing here is mocked: every test that needs a server
gets a real one, or the run stops with one line saying what to start.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

LOCAL_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
LOCAL_REDIS_URL = "redis://127.0.0.1:6379/0"


@dataclass
class Servers:
    """Admin URLs: the database URL must allow CREATE DATABASE; tests make their own databases."""

    database_admin_url: str
    redis_url: str
    origin: str
    stoppers: list[Callable[[], None]] = field(default_factory=list)

    def stop(self) -> None:
        for stop in self.stoppers:
            stop()


def _answers(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or default_port), 2):
            return True
    except OSError:
        return False


def _docker_answers() -> bool:
    try:
        import docker

        client = docker.from_env(timeout=2)
        return bool(client.ping())
    except Exception:
        return False


def _containers() -> Servers:
    from testcontainers.postgres import PostgresContainer
    from testcontainers.redis import RedisContainer

    postgres = PostgresContainer("postgres:15", driver=None).start()
    redis = RedisContainer("redis:7").start()
    redis_url = f"redis://{redis.get_container_host_ip()}:{redis.get_exposed_port(6379)}/0"
    return Servers(postgres.get_connection_url(), redis_url, "testcontainers", [postgres.stop, redis.stop])


def resolve() -> Servers:
    """Pick the servers, or raise RuntimeError with the one line the operator needs."""
    env_db, env_redis = os.environ.get("TEST_DATABASE_URL"), os.environ.get("TEST_REDIS_URL")
    if env_db or env_redis:
        servers = Servers(env_db or LOCAL_DATABASE_URL, env_redis or LOCAL_REDIS_URL, "environment")
    elif _docker_answers():
        servers = _containers()
    else:
        servers = Servers(LOCAL_DATABASE_URL, LOCAL_REDIS_URL, "local")
    missing = [
        name
        for name, url, port in (
            ("PostgreSQL", servers.database_admin_url, 5432),
            ("Redis", servers.redis_url, 6379),
        )
        if not _answers(url, port)
    ]
    if missing:
        raise RuntimeError(
            f"no {' or '.join(missing)} reachable ({servers.origin} servers): start them locally "
            "(PostgreSQL on 127.0.0.1:5432, Redis on 127.0.0.1:6379), run a Docker engine, "
            "or set TEST_DATABASE_URL / TEST_REDIS_URL"
        )
    return servers
