"""Ed25519 signing keyring: the newest key signs, retired keys only verify.

Keys live as PEM files (mode 0600) in one directory, named ``<key-id>.pem``; an
``active`` file names the signing key. A key id is the first 16 hex digits of the
SHA-256 of the raw public key, so it can be recomputed from the key itself.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from garrison.errors import ConfigurationError, InvalidSignature
from garrison.signing import _hazmat
from garrison.signing.keyfiles import ensure_private_key_file, write_private_file

__all__ = ["Keyring", "key_id_for", "write_private_file"]


def key_id_for(public_raw: bytes) -> str:
    return hashlib.sha256(public_raw).hexdigest()[:16]


@dataclass
class Keyring:
    """Private signing keys plus public verification keys, by key id."""

    _private: dict[str, object] = field(default_factory=dict)
    _public: dict[str, object] = field(default_factory=dict)
    active_id: str | None = None
    directory: Path | None = None

    # -- construction -------------------------------------------------------------
    @classmethod
    def generate(cls) -> Keyring:
        """An in-memory keyring with one fresh key (tests, ephemeral use)."""
        ring = cls()
        ring._add(_hazmat.ed25519_generate(), make_active=True)
        return ring

    @classmethod
    def create(cls, directory: Path) -> Keyring:
        """Create a keyring directory with one active key. Refuses to overwrite."""
        if (directory / "active").exists():
            raise ConfigurationError(f"a keyring already exists in {directory}")
        ring = cls(directory=directory)
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(directory, 0o700)
        key_id = ring._add(_hazmat.ed25519_generate(), make_active=True)
        ring._persist(key_id)
        return ring

    @classmethod
    def load(cls, directory: Path) -> Keyring:
        """Load every ``*.pem`` in ``directory``; refuse key files others can read.

        The directory may be read-only (a mounted Kubernetes Secret): loading never
        writes. Which files are private enough is :func:`ensure_private_key_file`'s rule.
        """
        active_file = directory / "active"
        if not active_file.exists():
            raise ConfigurationError(f"no signing keyring in {directory}; run `garrison init`")
        ring = cls(directory=directory)
        for pem in sorted(directory.glob("*.pem")):
            ensure_private_key_file(pem)
            key = _hazmat.ed25519_private_from_pem(pem.read_bytes())
            ring._add(key, make_active=False)
        active = active_file.read_text().strip()
        if active not in ring._private:
            raise ConfigurationError("the active signing key file is missing")
        ring.active_id = active
        return ring

    def _add(self, key: object, *, make_active: bool) -> str:
        raw = _hazmat.ed25519_public_raw(key)  # type: ignore[arg-type]
        key_id = key_id_for(raw)
        self._private[key_id] = key
        self._public[key_id] = _hazmat.ed25519_public_from_raw(raw)
        if make_active:
            self.active_id = key_id
        return key_id

    def _persist(self, key_id: str) -> None:
        assert self.directory is not None
        pem = _hazmat.ed25519_private_to_pem(self._private[key_id])  # type: ignore[arg-type]
        write_private_file(self.directory / f"{key_id}.pem", pem)
        write_private_file(self.directory / "active", key_id.encode())

    # -- use ----------------------------------------------------------------------
    def rotate(self) -> str:
        """Make a fresh key the signing key; older keys keep verifying. Returns its id."""
        key_id = self._add(_hazmat.ed25519_generate(), make_active=True)
        if self.directory is not None:
            self._persist(key_id)
        return key_id

    def add_public(self, public_raw: bytes) -> str:
        """Trust a verification-only key (for example another installation's)."""
        key_id = key_id_for(public_raw)
        self._public[key_id] = _hazmat.ed25519_public_from_raw(public_raw)
        return key_id

    def public_raw(self, key_id: str | None = None) -> bytes:
        key = self._public[key_id or self._require_active()]
        return _hazmat.ed25519_public_raw(key)  # type: ignore[arg-type]

    def key_ids(self) -> list[str]:
        return sorted(self._public)

    def _require_active(self) -> str:
        if self.active_id is None:
            raise ConfigurationError("the keyring has no signing key")
        return self.active_id

    def sign(self, message: bytes) -> tuple[str, bytes]:
        """Sign with the active key; returns ``(key_id, signature)``."""
        key_id = self._require_active()
        return key_id, _hazmat.ed25519_sign(self._private[key_id], message)  # type: ignore[arg-type]

    def verify(self, key_id: str, signature: bytes, message: bytes) -> None:
        """Raise :class:`InvalidSignature` unless a known key signed ``message``."""
        public = self._public.get(key_id)
        if public is None:
            raise InvalidSignature("signed by an unknown key", key_id=key_id)
        _hazmat.ed25519_verify(public, signature, message)  # type: ignore[arg-type]
