"""BackfillSettings: defaults, parsing and one-line errors naming the variable."""

from __future__ import annotations

import pytest

from app.backfill.settings import BackfillSettings
from app.settings import ConfigurationError


def test_defaults():
    settings = BackfillSettings.from_env({})
    assert settings == BackfillSettings()
    assert settings.plc_url == "https://plc.directory"
    assert settings.allow_http_loopback is False


def test_values_are_parsed():
    settings = BackfillSettings.from_env(
        {
            "PLC_URL": "http://127.0.0.1:2582/",
            "BACKFILL_CONCURRENCY": "8",
            "BACKFILL_TIMEOUT_S": "2.5",
            "BACKFILL_ALLOW_HTTP_LOOPBACK": "TRUE",
            "BACKFILL_SPOOL_DIR": "/var/tmp/spool",
        }
    )
    assert settings.plc_url == "http://127.0.0.1:2582"
    assert (settings.concurrency, settings.timeout_s) == (8, 2.5)
    assert settings.allow_http_loopback is True
    assert settings.spool_dir == "/var/tmp/spool"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PLC_URL", "plc.directory"),
        ("PLC_URL", "https://plc.directory/?x=1"),
        ("BACKFILL_RELAY_URL", "wss://bsky.network"),
        ("BACKFILL_CONCURRENCY", "0"),
        ("BACKFILL_HOST_REQUESTS_PER_5MIN", "many"),
        ("BACKFILL_TIMEOUT_S", "nan"),
        ("BACKFILL_ALLOW_HTTP_LOOPBACK", "maybe"),
    ],
)
def test_bad_values_name_their_variable(name: str, value: str):
    with pytest.raises(ConfigurationError, match=name):
        BackfillSettings.from_env({name: value})
