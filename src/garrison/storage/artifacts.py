"""The local artifact store: sealed (encrypted, authenticated) blobs under one directory."""

from __future__ import annotations

import os
from pathlib import Path

from garrison.errors import DecryptionFailed
from garrison.signing import MasterKeys, open_sealed, seal_file

__all__ = ["LocalArtifactStore"]


class LocalArtifactStore:
    def __init__(self, root: Path, keys: MasterKeys) -> None:
        self.root = root
        self._keys = keys
        root.mkdir(parents=True, exist_ok=True, mode=0o700)

    def path(self, name: str, version: int, kind: str = "") -> Path:
        suffix = f".{kind}" if kind else ""
        return self.root / name / f"{version}{suffix}.sealed"

    def put(self, name: str, version: int, source: Path, context: str, kind: str = "") -> None:
        dest = self.path(name, version, kind)
        dest.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        seal_file(self._keys, source, dest, context)
        os.chmod(dest, 0o600)

    def get(self, name: str, version: int, context: str, kind: str = "") -> bytes:
        path = self.path(name, version, kind)
        if not path.is_file():
            raise DecryptionFailed("the artifact file is missing", name=name, version=version)
        return open_sealed(self._keys, path, context)

    def remove(self, name: str, version: int) -> None:
        for kind in ("", "reference", "bom", "model-signature"):
            self.path(name, version, kind).unlink(missing_ok=True)
