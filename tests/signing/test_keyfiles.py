"""Key files from mounted Secrets: the ownership and mode rule, read-only directories."""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from garrison.errors import ConfigurationError
from garrison.signing import (
    ACTIVE_MASTER_FILE,
    Keyring,
    MasterKeys,
    create_key_file,
    ensure_private_key_file,
    read_key_file,
)

IS_ROOT = os.geteuid() == 0
NOBODY = 65534


def _secret_volume(root: Path, files: dict[str, bytes], mode: int) -> Path:
    """The layout the kubelet gives a Secret volume: links into a hidden data folder."""
    data = root / "..2026_01_01_00_00_00.000000001"
    data.mkdir(parents=True)
    for name, content in files.items():
        (data / name).write_bytes(content)
        (data / name).chmod(mode)
    (root / "..data").symlink_to(data.name)
    for name in files:
        (root / name).symlink_to(f"..data/{name}")
    return root


@pytest.mark.parametrize("mode", [0o600, 0o400])
def test_own_private_files_pass(tmp_path, mode) -> None:
    path = tmp_path / "k"
    path.write_bytes(b"x" * 32)
    path.chmod(mode)
    assert read_key_file(path, size=32) == b"x" * 32


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660, 0o440, 0o666, 0o610])
def test_own_files_others_can_reach_are_refused(tmp_path, mode) -> None:
    path = tmp_path / "k"
    path.write_bytes(b"x")
    path.chmod(mode)
    with pytest.raises(ConfigurationError, match=f"mode {mode:04o}") as info:
        ensure_private_key_file(path)
    assert "x" * 2 not in str(info.value)


def test_missing_directory_and_wrong_size_are_refused(tmp_path) -> None:
    with pytest.raises(ConfigurationError, match="does not exist"):
        ensure_private_key_file(tmp_path / "absent")
    with pytest.raises(ConfigurationError, match="not a regular file"):
        ensure_private_key_file(tmp_path)
    short = tmp_path / "short"
    short.write_bytes(b"abc")
    short.chmod(0o600)
    with pytest.raises(ConfigurationError, match="exactly 32 bytes"):
        read_key_file(short, size=32)


def test_links_are_followed_to_the_file_they_name(tmp_path) -> None:
    volume = _secret_volume(tmp_path / "secret", {"a.key": b"k" * 32}, 0o400)
    assert read_key_file(volume / "a.key", size=32) == b"k" * 32
    os.chmod(volume / "..data" / "a.key", 0o444)
    with pytest.raises(ConfigurationError):
        ensure_private_key_file(volume / "a.key")  # The link's own mode is irrelevant.


def _as_user(uid: int, check) -> str:
    """Run ``check()`` in a forked child that dropped to ``uid``; its error text or ''."""
    read, write = os.pipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork() with threads around.
        pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.close(read)
        try:
            os.setgid(uid)
            os.setuid(uid)
            check()
            message = b""
        except BaseException as exc:
            message = f"{type(exc).__name__}: {exc}".encode()[:2000] or b"?"
        os.write(write, message)
        os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        out = pipe.read().decode()
    os.waitpid(pid, 0)
    return out


@pytest.fixture
def public_dir() -> Iterator[Path]:
    """A directory an ordinary user can traverse (pytest's own tmp_path is root-only)."""
    path = Path(tempfile.mkdtemp(prefix="garrison-keyfiles-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path)


@pytest.mark.skipif(not IS_ROOT, reason="needs root to give files away")
@pytest.mark.parametrize(("mode", "accepted"), [
    (0o440, True), (0o400, True), (0o640, True),   # A Secret volume with fsGroup.
    (0o444, False), (0o460, False), (0o442, False),  # Others, or the group, could do more.
])
def test_root_owned_secret_files_as_a_non_root_pod_user(public_dir, mode, accepted) -> None:
    path = public_dir / "key"
    path.write_bytes(b"k" * 32)
    os.chown(path, 0, NOBODY)
    path.chmod(mode)
    error = _as_user(NOBODY, lambda: ensure_private_key_file(path))
    assert (error == "") is accepted, error
    if mode & 0o040:  # Readable through the group, as the pod's fsGroup makes it.
        assert _as_user(NOBODY, lambda: read_key_file(path, size=32)) == ("" if accepted
                                                                         else error)
    if not accepted:
        assert error.startswith("ConfigurationError") and "root-owned" in error


@pytest.mark.skipif(not IS_ROOT, reason="needs root to give files away")
def test_a_file_of_another_user_is_refused(tmp_path) -> None:
    path = tmp_path / "key"
    path.write_bytes(b"k")
    path.chmod(0o400)
    os.chown(path, NOBODY, NOBODY)
    with pytest.raises(ConfigurationError, match="another user"):
        ensure_private_key_file(path)


def test_keyring_loads_from_a_read_only_secret_volume(tmp_path) -> None:
    ring = Keyring.create(tmp_path / "made")
    files = {p.name: p.read_bytes() for p in (tmp_path / "made").iterdir()}
    volume = _secret_volume(tmp_path / "secret", files, 0o400)
    os.chmod(volume / "..data", 0o500)
    loaded = Keyring.load(volume)
    assert loaded.active_id == ring.active_id
    key_id, signature = loaded.sign(b"m")
    ring.verify(key_id, signature, b"m")


def test_master_keys_name_their_active_key_in_a_mounted_directory(tmp_path) -> None:
    old, new = os.urandom(32), os.urandom(32)
    files = {f"master-{MasterKeys.key_id(k)}.key": k for k in (old, new)}
    files[ACTIVE_MASTER_FILE] = MasterKeys.key_id(old).encode()
    volume = _secret_volume(tmp_path / "secret", files, 0o400)
    keys = MasterKeys.load_or_create(volume)
    assert keys.active == MasterKeys.key_id(old) and set(keys.keys) == {
        MasterKeys.key_id(old), MasterKeys.key_id(new)}
    os.chmod(volume / "..data" / ACTIVE_MASTER_FILE, 0o600)
    (volume / "..data" / ACTIVE_MASTER_FILE).write_text("0000000000000000")
    with pytest.raises(ConfigurationError, match="names a master key"):
        MasterKeys.load_or_create(volume)


def test_a_missing_key_in_a_read_only_directory_is_a_configuration_error(public_dir) -> None:
    volume = public_dir / "ro"
    volume.mkdir()
    volume.chmod(0o555)

    def check() -> None:
        errors = []
        for call in (lambda: MasterKeys.load_or_create(volume),
                     lambda: create_key_file(volume / "pseudonym-hmac.key", 32)):
            with pytest.raises(ConfigurationError, match="garrison secrets create") as info:
                call()
            errors.append(info.value)
        assert len(errors) == 2

    if IS_ROOT:  # Root writes anywhere: ask as an ordinary user instead.
        assert _as_user(NOBODY, check) == ""
    else:
        check()
    assert list(volume.iterdir()) == []


def test_create_key_file_keeps_an_existing_key(tmp_path) -> None:
    path = tmp_path / "k.key"
    assert create_key_file(path, 32) is True
    first = read_key_file(path, size=32)
    assert create_key_file(path, 32) is False
    assert read_key_file(path, size=32) == first
    assert [p.name for p in tmp_path.iterdir()] == ["k.key"]  # No staging file left.
