"""Where settings come from, and how a bad value is reported (private to ``garrison.config``).

Sources, highest first: explicit overrides, the environment (``GARRISON_`` prefix), secret
files in ``$GARRISON_SECRETS_DIR``, the TOML config file, the fields' defaults. What the
settings are (fields, their checks) stays in ``garrison.config``; this module changes when
a source is added or read differently.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, TomlConfigSettingsSource

from garrison.errors import ConfigurationError

__all__ = [
    "SECRET_FILE_SETTINGS",
    "config_file_path",
    "default_home",
    "invalid_configuration",
    "settings_sources",
]

#: The settings that may be read from ``$GARRISON_SECRETS_DIR``.
SECRET_FILE_SETTINGS = ("database_url", "redis_url", "master_key", "alert_webhook_secret")


def default_home() -> Path:
    return Path(os.environ.get("GARRISON_HOME", "~/.garrison")).expanduser()


def config_file_path(home: Path | str | None = None) -> Path:
    """``$GARRISON_CONFIG``, else ``garrison.toml`` in the home (``--home`` wins over env)."""
    explicit = os.environ.get("GARRISON_CONFIG")
    if explicit:
        return Path(explicit).expanduser()
    return (Path(home).expanduser() if home else default_home()) / "garrison.toml"


class _SecretFiles(PydanticBaseSettingsSource):
    """Secret settings from one file each in a directory, held to the key-file rule."""

    def __init__(self, settings_cls: type[BaseSettings], directory: Path) -> None:
        super().__init__(settings_cls)
        self.directory = directory

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # Unused: __call__ reads every file at once.

    def __call__(self) -> dict[str, Any]:
        from garrison.signing import read_key_file

        if not self.directory.is_dir():
            raise ConfigurationError(f"GARRISON_SECRETS_DIR {self.directory} is not a directory")
        values: dict[str, Any] = {}
        for name in SECRET_FILE_SETTINGS:
            path = self.directory / name
            if path.exists():
                try:
                    values[name] = read_key_file(path).decode("utf-8").strip()
                except UnicodeDecodeError:
                    raise ConfigurationError(f"the secret file {path} is not UTF-8") from None
        return values


def settings_sources(
    settings_cls: type[BaseSettings],
    init_settings: PydanticBaseSettingsSource,
    env_settings: PydanticBaseSettingsSource,
) -> tuple[PydanticBaseSettingsSource, ...]:
    """The sources of ``settings_cls`` in precedence order (``.env`` files are not read)."""
    sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
    secrets_dir = os.environ.get("GARRISON_SECRETS_DIR")
    if secrets_dir:
        sources.append(_SecretFiles(settings_cls, Path(secrets_dir)))
    home = getattr(init_settings, "init_kwargs", {}).get("home")
    path = config_file_path(home)
    if path.is_file():
        sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
    return tuple(sources)


def invalid_configuration(exc: ValidationError) -> ConfigurationError:
    """One message naming each bad variable, as its ``GARRISON_`` environment name."""
    problems = "; ".join(
        f"GARRISON_{'_'.join(str(p) for p in err['loc']).upper()}: {err['msg']}"
        if err["loc"] else str(err["msg"]).removeprefix("Value error, ")
        for err in exc.errors()
    )
    return ConfigurationError(f"invalid configuration: {problems}")
