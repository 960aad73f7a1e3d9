"""Private key files: created 0600, atomically, never through a planted link."""

from __future__ import annotations

import os

import pytest

from garrison.signing import write_private_file


def test_private_files_never_follow_a_planted_link(tmp_path) -> None:
    """The temporary name is fresh and exclusive: a symlink planted where the old fixed
    name (``<name>.tmp``) was cannot redirect the secret, and a failure leaves nothing."""
    target, elsewhere = tmp_path / "secret.key", tmp_path / "elsewhere"
    os.symlink(elsewhere, tmp_path / "secret.key.tmp")
    write_private_file(target, b"k" * 32)
    assert target.read_bytes() == b"k" * 32 and os.stat(target).st_mode & 0o777 == 0o600
    assert not elsewhere.exists()
    with pytest.raises(TypeError):
        write_private_file(tmp_path / "bad.key", "not bytes")  # type: ignore[arg-type]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["secret.key", "secret.key.tmp"]
