"""Secret settings from files in GARRISON_SECRETS_DIR (a mounted Secret), not the environment."""

from __future__ import annotations

import pytest

from garrison.config import SECRET_FILE_SETTINGS, load_settings
from garrison.errors import ConfigurationError


@pytest.fixture
def secrets_dir(tmp_path, monkeypatch):
    directory = tmp_path / "secrets"
    directory.mkdir()
    monkeypatch.setenv("GARRISON_SECRETS_DIR", str(directory))
    for name in SECRET_FILE_SETTINGS:
        monkeypatch.delenv(f"GARRISON_{name.upper()}", raising=False)
    monkeypatch.delenv("GARRISON_CONFIG", raising=False)
    return directory


def _write(path, text: str, mode: int = 0o400) -> None:
    path.write_text(text)
    path.chmod(mode)


def test_secret_settings_are_read_from_files_and_stay_masked(secrets_dir, tmp_path) -> None:
    _write(secrets_dir / "database_url", "postgresql+psycopg://u:hunter2@db/g\n")
    _write(secrets_dir / "redis_url", "redis://:s3cret@redis:6379/0")
    settings = load_settings(home=tmp_path / "home")
    assert settings.database == "postgresql+psycopg://u:hunter2@db/g"
    assert settings.redis_url is not None
    assert settings.redis_url.get_secret_value() == "redis://:s3cret@redis:6379/0"
    assert "hunter2" not in repr(settings) and "s3cret" not in repr(settings)


def test_the_environment_wins_over_a_file(secrets_dir, tmp_path, monkeypatch) -> None:
    _write(secrets_dir / "redis_url", "redis://file:6379/0")
    monkeypatch.setenv("GARRISON_REDIS_URL", "redis://env:6379/0")
    settings = load_settings(home=tmp_path)
    assert settings.redis_url.get_secret_value() == "redis://env:6379/0"


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_a_secret_file_others_can_read_stops_startup(secrets_dir, tmp_path, mode) -> None:
    _write(secrets_dir / "database_url", "postgresql+psycopg://u:hunter2@db/g", mode)
    with pytest.raises(ConfigurationError, match=f"mode {mode:04o}") as info:
        load_settings(home=tmp_path)
    assert "hunter2" not in str(info.value)


def test_only_secret_settings_are_read_and_a_missing_directory_is_refused(
        secrets_dir, tmp_path, monkeypatch) -> None:
    _write(secrets_dir / "host", "0.0.0.0")  # Not a secret setting: ignored.
    assert load_settings(home=tmp_path).host == "127.0.0.1"
    monkeypatch.setenv("GARRISON_SECRETS_DIR", str(tmp_path / "absent"))
    with pytest.raises(ConfigurationError, match="not a directory"):
        load_settings(home=tmp_path)


def test_a_malformed_secret_value_is_reported_by_name(secrets_dir, tmp_path) -> None:
    _write(secrets_dir / "master_key", "not base64!")
    settings = load_settings(home=tmp_path)  # Read now, decoded where it is used.
    from garrison.app.keys import master_keys

    with pytest.raises(ConfigurationError, match="GARRISON_MASTER_KEY"):
        master_keys(settings)
