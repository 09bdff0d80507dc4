"""What `Settings.from_env` (the worker) and `ReaderSettings.from_env` (the firehose reader) read,
found by asking them rather than by a list kept by hand, so the README's Configuration tables and
the compose file are checked against the code."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from app.firehose.settings import ReaderSettings
from app.settings import ConfigurationError, Settings

SettingsClass = type[Settings] | type[ReaderSettings]
# Values tried until one is accepted: numbers, a log level, a websocket URL (RELAY_URL).
PROBES = ("3", "7", "DEBUG", "wss://probe.invalid")


class _RecordingEnv(dict):
    """A mapping that remembers, in order, every name looked up in it."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.names: list[str] = []

    def _seen(self, key: str) -> None:
        if key not in self.names:
            self.names.append(key)

    def get(self, key, default=None):
        self._seen(key)
        return super().get(key, default)

    def __getitem__(self, key):
        self._seen(key)
        return super().__getitem__(key)

    def __contains__(self, key) -> bool:
        self._seen(key)
        return super().__contains__(key)


def env_names(settings: SettingsClass = Settings) -> list[str]:
    """Every environment variable `settings.from_env` reads, in the order it reads them."""
    env = _RecordingEnv()
    settings.from_env(env)
    return env.names


@dataclass(frozen=True)
class Variable:
    name: str
    field: str
    default: Any


def variables(settings: SettingsClass = Settings) -> list[Variable]:
    """Each variable with the settings field it sets and that field's default."""
    defaults = settings.from_env({})
    found = []
    for name in env_names(settings):
        for probe in PROBES:
            try:
                changed = settings.from_env({name: probe})
            except ConfigurationError:
                continue
            fields = [
                item.name
                for item in dataclasses.fields(settings)
                if getattr(changed, item.name) != getattr(defaults, item.name)
            ]
            if len(fields) == 1:
                found.append(Variable(name, fields[0], getattr(defaults, fields[0])))
                break
        else:
            raise AssertionError(f"cannot tell which {settings.__name__} field {name} sets")
    return found
