"""app/settings.py: the drop-in names of DIRECTION §2, our own settings, one-line errors, URL handling
and masking. Pure functions of a mapping: no server needed."""

from __future__ import annotations

import socket

import pytest
from sqlalchemy.engine import make_url

from app.settings import ConfigurationError, Settings, database_url, mask_redis_url, mask_url

SECRET = "s3cr3t-Pa55"


# --- defaults and names ------------------------------------------------------------------------------


def test_defaults_with_an_empty_environment():
    settings = Settings.from_env({})
    assert settings.redis_url == "redis://localhost:6379"
    assert settings.stream_key == "firehose:events"
    assert settings.consumer_group == "firehose-processors"
    assert settings.db_pool_size == 20
    assert settings.parallel_consumers == 5
    assert settings.log_level == "INFO"
    assert settings.batch_size >= 10  # DIRECTION §2: ours may default higher than the old worker's 10
    assert settings.web_port == 6066


def test_default_consumer_id_is_stable_and_never_the_old_workers():
    first, second = Settings.from_env({}), Settings.from_env({})
    assert first.consumer_id == second.consumer_id  # stable across restarts on one host
    assert first.consumer_id != "python-worker"
    assert socket.gethostname() in first.consumer_id


def test_database_url_is_required():
    settings = Settings.from_env({})
    with pytest.raises(ConfigurationError, match="DATABASE_URL is not set"):
        _ = settings.database_url


def test_drop_in_names_of_the_old_worker_are_honoured():
    settings = Settings.from_env(
        {
            "REDIS_URL": "redis://cache:6380/2",
            "DATABASE_URL": "postgres://app@db:5432/appview",
            "REDIS_STREAM_KEY": "relay:events",
            "REDIS_CONSUMER_GROUP": "indexers",
            "CONSUMER_ID": "indexer-a",
            "DB_POOL_SIZE": "7",
            "BATCH_SIZE": "10",
            "PARALLEL_CONSUMERS": "3",
            "LOG_LEVEL": "debug",
        }
    )
    assert settings.redis_url == "redis://cache:6380/2"
    assert settings.database_url.drivername == "postgresql+asyncpg"
    assert settings.database_url.host == "db"
    assert settings.stream_key == "relay:events"
    assert settings.consumer_group == "indexers"
    assert settings.consumer_id == "indexer-a"
    assert settings.db_pool_size == 7
    assert settings.batch_size == 10
    assert settings.parallel_consumers == 3
    assert settings.log_level == "DEBUG"


def test_our_own_names():
    settings = Settings.from_env(
        {
            "DEAD_LETTER_STREAM": "dl",
            "DEAD_LETTER_MAXLEN": "50",
            "METRICS_HASH_KEY": "m",
            "MAX_DELIVERIES": "2",
            "CLAIM_IDLE_MS": "1500",
            "CLAIM_INTERVAL_S": "0.5",
            "READ_BLOCK_MS": "20",
            "WEB_HOST": "0.0.0.0",
            "WEB_PORT": "0",
            "SHUTDOWN_TIMEOUT_S": "5",
            "TOMBSTONE_HORIZON_DAYS": "1.5",
            "TOMBSTONE_SWEEP_INTERVAL_S": "60",
        }
    )
    assert (settings.dead_letter_stream, settings.dead_letter_maxlen) == ("dl", 50)
    assert settings.metrics_hash_key == "m"
    assert settings.max_deliveries == 2
    assert (settings.claim_idle_ms, settings.claim_interval_s, settings.read_block_ms) == (1500, 0.5, 20)
    assert (settings.web_host, settings.web_port) == ("0.0.0.0", 0)
    assert settings.shutdown_timeout_s == 5.0
    assert (settings.tombstone_horizon_days, settings.tombstone_sweep_interval_s) == (1.5, 60.0)


def test_empty_values_mean_the_default():
    """`FOO=` in an env file or compose file is the same as not setting FOO."""
    names = ["REDIS_URL", "REDIS_STREAM_KEY", "CONSUMER_ID", "DB_POOL_SIZE", "BATCH_SIZE", "LOG_LEVEL"]
    assert Settings.from_env(dict.fromkeys(names, "")) == Settings.from_env({})
    assert Settings.from_env({"BATCH_SIZE": "  "}).batch_size == Settings.from_env({}).batch_size


# --- invalid values: ConfigurationError, one line naming the variable ---------------------------------


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DB_POOL_SIZE", "many"),
        ("DB_POOL_SIZE", "0"),
        ("BATCH_SIZE", "-1"),
        ("BATCH_SIZE", "2.5"),
        ("PARALLEL_CONSUMERS", "0"),
        ("MAX_DELIVERIES", "five"),
        ("CLAIM_INTERVAL_S", "soon"),
        ("CLAIM_INTERVAL_S", "0"),
        ("SHUTDOWN_TIMEOUT_S", "nan"),
        ("SHUTDOWN_TIMEOUT_S", "inf"),
        ("TOMBSTONE_HORIZON_DAYS", "-1"),
        ("WEB_PORT", "http"),
        ("WEB_PORT", "70000"),
        ("LOG_LEVEL", "loud"),
    ],
)
def test_invalid_values_give_one_clear_line(name, value):
    with pytest.raises(ConfigurationError) as info:
        Settings.from_env({name: value})
    message = str(info.value)
    assert name in message
    assert "\n" not in message


# --- DATABASE_URL ------------------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["postgres", "postgresql", "postgresql+asyncpg"])
def test_database_url_accepts_the_three_postgres_schemes(scheme):
    url = database_url(f"{scheme}://app:{SECRET}@db.example:6543/appview")
    assert url.drivername == "postgresql+asyncpg"
    assert (url.username, url.password, url.host, url.port, url.database) == (
        "app",
        SECRET,
        "db.example",
        6543,
        "appview",
    )


@pytest.mark.parametrize(
    "raw",
    [
        "mysql://root@localhost/appview",
        "postgresql+psycopg2://app@db/appview",
        "sqlite:///appview.db",
        "redis://localhost:6379",
    ],
)
def test_database_url_rejects_other_schemes(raw):
    with pytest.raises(ConfigurationError, match="PostgreSQL"):
        database_url(raw)


@pytest.mark.parametrize("raw", ["", "not a url", f"://app:{SECRET}@"])
def test_database_url_that_is_missing_or_malformed(raw):
    with pytest.raises(ConfigurationError) as info:
        database_url(raw)
    assert SECRET not in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("mode", ["disable", "require", "verify-full"])
def test_sslmode_is_translated_for_asyncpg(mode):
    url = database_url(f"postgresql://app@db/appview?sslmode={mode}&application_name=x")
    assert "sslmode" not in url.query
    assert url.query["ssl"] == mode
    assert url.query["application_name"] == "x"


def test_libpq_only_options_are_not_passed_to_asyncpg():
    url = database_url("postgresql://app@db/appview?connect_timeout=5&sslrootcert=/ca.pem")
    assert "connect_timeout" not in url.query
    assert "sslrootcert" not in url.query


def test_translated_url_is_accepted_by_the_asyncpg_dialect():
    """What SQLAlchemy hands asyncpg.connect(): no keyword it would reject."""
    from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg

    _, kwargs = PGDialect_asyncpg().create_connect_args(
        database_url("postgres://app@db/appview?sslmode=require")
    )
    assert kwargs["ssl"] == "require"
    assert "sslmode" not in kwargs


# --- masking -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        f"postgresql://app:{SECRET}@db:5432/appview",
        f"postgres://app:{SECRET}@db/appview?sslmode=require",
        f"postgresql+asyncpg://app:{SECRET}@db/appview",
        f"postgresql://app@db/appview?password={SECRET}",
        f"postgresql://app@db/appview?sslmode=require&PASSWORD={SECRET}",
        f"postgresql://app:{SECRET.replace('-', '%40')}@db/appview",
        f"mysql://root:{SECRET}@db/appview",
    ],
)
def test_mask_url_never_leaks_the_password(raw):
    masked = mask_url(raw)
    assert SECRET not in masked
    assert SECRET.replace("-", "%40") not in masked
    assert SECRET.replace("-", "@") not in masked
    assert "db" in masked  # still useful: the host is shown


def test_mask_url_takes_a_url_object_and_keeps_the_rest():
    assert mask_url(database_url(f"postgresql://app:{SECRET}@db:5432/appview")) == (
        "postgresql+asyncpg://app:***@db:5432/appview"
    )
    assert mask_url("postgresql://app@db/appview") == "postgresql://app@db/appview"


def test_mask_url_of_garbage_does_not_echo_it():
    assert SECRET not in mask_url(f"::{SECRET}::")


@pytest.mark.parametrize(
    "raw",
    [
        f"redis://:{SECRET}@cache:6379/0",
        f"redis://default:{SECRET}@cache:6379",
        f"rediss://user:{SECRET}@cache.example:6380/1?ssl_cert_reqs=required",
        f"redis://user:{SECRET.replace('-', '@')}@cache:6379",  # an unencoded @ in the password
        f"redis://cache:6379/0?password={SECRET}",  # redis-py reads the password from the query too
        f"redis://cache:6379/0?db=1&Password={SECRET}",
        f"redis://{SECRET}@cache:6379",
        f"user:{SECRET}@cache:6379",  # scheme forgotten
        f"unix://:{SECRET}@/run/redis.sock?db=0",
    ],
)
def test_mask_redis_url_never_leaks_the_password(raw):
    masked = mask_redis_url(raw)
    assert SECRET not in masked
    assert SECRET.replace("-", "@") not in masked
    assert "***" in masked


def test_mask_redis_url_keeps_what_has_no_secret():
    assert mask_redis_url("redis://localhost:6379") == "redis://localhost:6379"
    assert mask_redis_url("redis://cache:6379/2?socket_timeout=5") == "redis://cache:6379/2?socket_timeout=5"
    assert mask_redis_url(f"redis://user:{SECRET}@cache:6379/2") == "redis://user:***@cache:6379/2"


def test_repr_of_settings_shows_no_password():
    settings = Settings.from_env(
        {
            "REDIS_URL": f"redis://default:{SECRET}@cache:6379",
            "DATABASE_URL": f"postgresql://app:{SECRET}@db/appview",
        }
    )
    assert SECRET not in repr(settings)
    assert SECRET not in str(settings)
    assert "cache" in repr(settings)
    assert make_url(settings.database_url_raw).password == SECRET  # the value itself is intact
