"""What `Settings.from_env` (and the backfill's `BackfillSettings.from_env`, the firehose reader's
`ReaderSettings.from_env`) reads, found by asking it rather than by a list kept by hand, so the
README's Configuration tables and the compose file are checked against the code."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from app.backfill.settings import BackfillSettings
from app.firehose.settings import ReaderSettings
from app.settings import ConfigurationError, Settings

SettingsClass = type[Settings] | type[BackfillSettings] | type[ReaderSettings]
# Values tried until one is accepted, to see which field a variable sets.
_PROBES = ("3", "7", "DEBUG", "true", "https://probe.example", "wss://probe.example")


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


def env_names(cls: SettingsClass = Settings) -> list[str]:
    """Every environment variable `cls.from_env` reads, in the order it reads them."""
    env = _RecordingEnv()
    cls.from_env(env)
    return env.names


@dataclass(frozen=True)
class Variable:
    name: str
    field: str
    default: Any


def variables(cls: SettingsClass = Settings) -> list[Variable]:
    """Each variable with the field of `cls` it sets and that field's default."""
    defaults = cls.from_env({})
    found = []
    for name in env_names(cls):
        for probe in _PROBES:
            try:
                changed = cls.from_env({name: probe})
            except ConfigurationError:
                continue
            fields = [
                item.name
                for item in dataclasses.fields(cls)
                if getattr(changed, item.name) != getattr(defaults, item.name)
            ]
            if len(fields) == 1:
                found.append(Variable(name, fields[0], getattr(defaults, fields[0])))
                break
        else:
            raise AssertionError(f"cannot tell which {cls.__name__} field {name} sets")
    return found
