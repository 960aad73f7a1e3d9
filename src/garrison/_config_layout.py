"""The home's layout: paths derived from the settings (private to ``garrison.config``).

Each path is the setting when it is given, else its place under ``home`` (or under the key
directory). :class:`HomeLayout` is a base of ``Settings``; this module changes when the
layout of a home does, never when a setting is added.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import SecretStr

__all__ = ["HomeLayout"]


class HomeLayout:
    """Derived paths of a home, read from the settings fields named below."""

    __slots__ = ()

    if TYPE_CHECKING:  # Fields of Settings; declared for the type checker only.
        home: Path
        database_url: SecretStr | None
        artifact_dir: Path | None
        artifact_cache_dir: Path | None
        key_dir: Path | None
        signing_key_dir: Path | None
        model_signing_key_dir: Path | None
        audit_witness_file: Path | None

    @property
    def database(self) -> str:
        """The database URL in clear (for the engine only; never log it)."""
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        return f"sqlite:///{self.home / 'garrison.db'}"

    @property
    def artifacts(self) -> Path:
        return self.artifact_dir or self.home / "artifacts"

    @property
    def artifact_cache(self) -> Path:
        return self.artifact_cache_dir or self.home / "cache" / "artifacts"

    @property
    def keys_dir(self) -> Path:
        return self.key_dir or self.home / "keys"

    @property
    def signing_keys(self) -> Path:
        return self.signing_key_dir or self.keys_dir / "signing"

    @property
    def model_signing_keys(self) -> Path:
        return self.model_signing_key_dir or self.keys_dir / "model-signing"

    @property
    def witness_file(self) -> Path:
        return self.audit_witness_file or self.home / "audit" / "witness.jsonl"
