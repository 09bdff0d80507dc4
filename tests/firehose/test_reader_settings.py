"""ReaderSettings.from_env: defaults of the reader it replaces, RELAY_URL → relay or Jetstream mode,
one-line errors for bad values, passwords never shown."""

from __future__ import annotations

import pytest

from app.firehose.settings import ReaderSettings, SourceMode, source
from app.settings import ConfigurationError


def test_defaults_are_the_replaced_readers() -> None:
    settings = ReaderSettings.from_env({})
    assert settings.relay_url == "wss://bsky.network"
    assert settings.cursor_key == "firehose:python_cursor"
    assert settings.max_stream_len == 500_000
    assert settings.web_port == 6067
    assert settings.source.endpoint == "wss://bsky.network/xrpc/com.atproto.sync.subscribeRepos"
    assert settings.stored_cursor_key == "firehose:python_cursor"


@pytest.mark.parametrize(
    ("url", "mode", "endpoint"),
    [
        ("wss://bsky.network", SourceMode.RELAY, "wss://bsky.network/xrpc/com.atproto.sync.subscribeRepos"),
        ("wss://bsky.network/", SourceMode.RELAY, "wss://bsky.network/xrpc/com.atproto.sync.subscribeRepos"),
        (
            "wss://relay.example/xrpc",
            SourceMode.RELAY,
            "wss://relay.example/xrpc/com.atproto.sync.subscribeRepos",
        ),
        (
            "ws://127.0.0.1:2470/xrpc/com.atproto.sync.subscribeRepos",
            SourceMode.RELAY,
            "ws://127.0.0.1:2470/xrpc/com.atproto.sync.subscribeRepos",
        ),
        (
            "wss://jetstream2.us-east.bsky.network",
            SourceMode.JETSTREAM,
            "wss://jetstream2.us-east.bsky.network/subscribe",
        ),
        ("ws://127.0.0.1:6008/subscribe", SourceMode.JETSTREAM, "ws://127.0.0.1:6008/subscribe"),
    ],
)
def test_relay_url_selects_the_mode(url: str, mode: SourceMode, endpoint: str) -> None:
    found = source(url)
    assert (found.mode, found.endpoint) == (mode, endpoint)


@pytest.mark.parametrize(
    "url",
    [
        "https://bsky.network",
        "bsky.network",
        "wss://",
        "wss://bsky.network/other",
        "wss://x/subscribe?cursor=1",
    ],
)
def test_bad_relay_urls_are_refused_by_name(url: str) -> None:
    with pytest.raises(ConfigurationError, match="RELAY_URL"):
        ReaderSettings.from_env({"RELAY_URL": url})


def test_jetstream_cursor_has_its_own_key() -> None:
    settings = ReaderSettings.from_env({"RELAY_URL": "wss://jetstream1.us-west.bsky.network/subscribe"})
    assert settings.stored_cursor_key == "firehose:python_cursor:jetstream"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("REDIS_MAX_STREAM_LEN", "0"),
        ("READER_WEB_PORT", "70000"),
        ("READER_BATCH_SIZE", "many"),
        ("LOG_LEVEL", "LOUD"),
    ],
)
def test_bad_numbers_are_refused_by_name(name: str, value: str) -> None:
    with pytest.raises(ConfigurationError, match=name):
        ReaderSettings.from_env({name: value})


def test_repr_masks_the_redis_password() -> None:
    settings = ReaderSettings.from_env({"REDIS_URL": "redis://user:s3cret@redis:6379/0"})
    assert "s3cret" not in repr(settings)
    assert "redis://user:***@redis:6379/0" in repr(settings)
