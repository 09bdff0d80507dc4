"""The app factory and the `app` object of `faust -A app worker`."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

from app.application import build_app, release_large_buffers
from app.broker.transport import RedisConsumer
from app.settings import Settings
from tests.broker.harness import REPO_ROOT, IdleHandlers


def test_build_app_configures_faust_for_redis_streams_without_kafka() -> None:
    settings = Settings(
        redis_url="redis://user:secret@127.0.0.1:6390/2",
        consumer_id="probe",
        parallel_consumers=3,
        web_host="127.0.0.2",
        web_port=16123,
    )
    app = build_app(settings, IdleHandlers())
    conf = app.conf
    assert "secret" not in str(conf.broker), "Faust prints the broker URL in its banner"
    assert conf.topic_disable_leader, "a leader topic would need Kafka"
    assert not conf.topic_allow_declare
    assert (conf.web_enabled, conf.web_bind, conf.web_host, conf.web_port) == (
        True,
        "127.0.0.2",
        "127.0.0.2",
        16123,
    )
    assert len(app.tables) == 0, "no tables, so no changelog topics"
    assert {name: agent.concurrency for name, agent in app.agents.items()} == {
        "commits": 3,
        "identities": 3,
        "accounts": 3,
    }
    consumer = app.consumer
    assert isinstance(consumer, RedisConsumer)
    assert consumer.consumer_names == ["probe-0", "probe-1", "probe-2"]
    assert consumer.settings.redis_url == settings.redis_url, "the transport connects with the real URL"


def test_importing_the_package_builds_no_app() -> None:
    """Tests, migrations and the benchmark import `app.*`; only `app.app` builds the worker's app."""
    code = (
        "import sys, app, app.events, app.broker.transport; "
        "print('app' in vars(app), 'app.indexing.handlers' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["False", "False"]


@pytest.mark.skipif(
    not platform.libc_ver()[0].startswith("glibc"), reason="mallopt's threshold exists in glibc only"
)
def test_large_buffers_go_back_to_the_system_on_glibc() -> None:
    assert release_large_buffers() is True
