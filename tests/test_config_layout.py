"""The home's layout: each derived path is its setting when given, else its place in the home."""

from __future__ import annotations

import pytest

from garrison.config import load_settings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for name in ("DATABASE_URL", "ARTIFACT_DIR", "ARTIFACT_CACHE_DIR", "KEY_DIR",
                 "SIGNING_KEY_DIR", "MODEL_SIGNING_KEY_DIR", "AUDIT_WITNESS_FILE",
                 "SECRETS_DIR", "CONFIG"):
        monkeypatch.delenv(f"GARRISON_{name}", raising=False)


def test_every_path_defaults_to_its_place_in_the_home(tmp_path) -> None:
    home = tmp_path / "home"
    settings = load_settings(home=home)
    assert settings.database == f"sqlite:///{home / 'garrison.db'}"
    assert settings.artifacts == home / "artifacts"
    assert settings.artifact_cache == home / "cache" / "artifacts"
    assert settings.keys_dir == home / "keys"
    assert settings.signing_keys == home / "keys" / "signing"
    assert settings.model_signing_keys == home / "keys" / "model-signing"
    assert settings.witness_file == home / "audit" / "witness.jsonl"


def test_the_key_directory_carries_the_keyrings_that_are_not_set(tmp_path) -> None:
    keys = tmp_path / "mounted"
    settings = load_settings(home=tmp_path / "home", key_dir=keys,
                             model_signing_key_dir=tmp_path / "second-secret")
    assert settings.signing_keys == keys / "signing"
    assert settings.model_signing_keys == tmp_path / "second-secret"


def test_given_paths_win_and_the_database_url_is_read_in_clear(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("GARRISON_DATABASE_URL", "postgresql+psycopg://u:hunter2@db/g")
    monkeypatch.setenv("GARRISON_AUDIT_WITNESS_FILE", "~/witness.jsonl")
    settings = load_settings(home=tmp_path, artifact_dir=tmp_path / "a",
                             artifact_cache_dir=tmp_path / "c", signing_key_dir=tmp_path / "s")
    assert settings.database == "postgresql+psycopg://u:hunter2@db/g"
    assert "hunter2" not in repr(settings)
    assert settings.artifacts == tmp_path / "a"
    assert settings.artifact_cache == tmp_path / "c"
    assert settings.signing_keys == tmp_path / "s"
    assert settings.witness_file.name == "witness.jsonl"
    assert not str(settings.witness_file).startswith("~")


def test_derived_paths_are_not_settings(tmp_path) -> None:
    settings = load_settings(home=tmp_path)
    assert {"database", "artifacts", "keys_dir", "witness_file"}.isdisjoint(
        type(settings).model_fields)
    assert "keys_dir" not in settings.model_dump()
