"""DSSE envelopes, the keyring and sealing, attacked."""

from __future__ import annotations

import base64
import copy
import os
import stat

import pytest

from garrison.errors import ConfigurationError, DecryptionFailed, InvalidSignature
from garrison.signing import (
    DeterministicCipher,
    Keyring,
    MasterKeys,
    pae,
    seal,
    sign,
    unseal,
    verify,
)

PT = "application/vnd.garrison.test+json"


def test_pae_matches_the_dsse_spec_vector() -> None:
    # From the DSSE protocol document: PAE("http://example.com/HelloWorld", "hello world").
    assert pae("http://example.com/HelloWorld", b"hello world") == (
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )


def test_round_trip_and_purpose_binding() -> None:
    ring = Keyring.generate()
    env = sign(ring, PT, b"payload")
    assert verify(ring, env, payload_type=PT) == b"payload"
    with pytest.raises(InvalidSignature):
        verify(ring, env, payload_type="application/vnd.other+json")
    relabelled = {**env, "payloadType": "application/vnd.other+json"}
    with pytest.raises(InvalidSignature):
        verify(ring, relabelled, payload_type="application/vnd.other+json")


@pytest.mark.parametrize("mutate", [
    lambda e: e.update(payload=base64.b64encode(b"payloae").decode()),
    lambda e: e["signatures"][0].update(sig=base64.b64encode(b"\0" * 64).decode()),
    lambda e: e["signatures"][0].update(keyid="unknown"),
    lambda e: e.update(signatures=[]),
    lambda e: e.update(payload="%%%not-base64"),
    lambda e: e.pop("payloadType"),
])
def test_tampered_envelopes_are_refused(mutate) -> None:
    ring = Keyring.generate()
    env = copy.deepcopy(sign(ring, PT, b"payload"))
    mutate(env)
    with pytest.raises(InvalidSignature):
        verify(ring, env, payload_type=PT)


def test_rotation_old_keys_verify_new_key_signs(tmp_path) -> None:
    ring = Keyring.create(tmp_path / "keys")
    old_env = sign(ring, PT, b"old")
    new_id = ring.rotate()
    new_env = sign(ring, PT, b"new")
    assert new_env["signatures"][0]["keyid"] == new_id != old_env["signatures"][0]["keyid"]
    reloaded = Keyring.load(tmp_path / "keys")
    assert reloaded.active_id == new_id
    assert verify(reloaded, old_env, payload_type=PT) == b"old"
    assert verify(reloaded, new_env, payload_type=PT) == b"new"


def test_key_files_are_private_and_loose_ones_refused(tmp_path) -> None:
    ring = Keyring.create(tmp_path / "keys")
    pem = tmp_path / "keys" / f"{ring.active_id}.pem"
    assert stat.S_IMODE(pem.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "keys").stat().st_mode) == 0o700
    os.chmod(pem, 0o644)
    with pytest.raises(ConfigurationError):
        Keyring.load(tmp_path / "keys")
    with pytest.raises(ConfigurationError):
        Keyring.create(tmp_path / "keys")  # never overwrites


def _flip(blob: bytes, at: int) -> bytes:
    return blob[:at] + bytes([blob[at] ^ 1]) + blob[at + 1:]


def test_sealing_detects_every_change() -> None:
    keys = MasterKeys.from_bytes(os.urandom(32))
    data = os.urandom((1 << 20) * 2 + 100)
    blob = seal(keys, data, "ctx")
    assert unseal(keys, blob, "ctx") == data
    cut = len(blob) - 100 - 16  # drop the last segment exactly
    for bad in (blob[:-1], blob[:cut], blob[:20] + b"x" + blob[21:],
                _flip(blob, len(blob) // 2)):
        with pytest.raises(DecryptionFailed):
            unseal(keys, bad, "ctx")
    with pytest.raises(DecryptionFailed):
        unseal(keys, blob, "other-ctx")
    with pytest.raises(DecryptionFailed):
        unseal(MasterKeys.from_bytes(os.urandom(32)), blob, "ctx")


def test_master_key_rotation_unwraps_old_blobs(tmp_path) -> None:
    first = MasterKeys.load_or_create(tmp_path)
    blob = seal(first, b"model", "c")
    (tmp_path / "master-zz.key").write_bytes(os.urandom(32))
    os.chmod(tmp_path / "master-zz.key", 0o600)
    both = MasterKeys.load_or_create(tmp_path)
    assert both.active != first.active and unseal(both, blob, "c") == b"model"


def test_deterministic_cipher() -> None:
    c = DeterministicCipher(os.urandom(64))
    a, b = c.encrypt(b"alice", b"email"), c.encrypt(b"alice", b"email")
    assert a == b and c.decrypt(a, b"email") == b"alice"
    assert c.encrypt(b"alice", b"name") != a
    with pytest.raises(DecryptionFailed):
        c.decrypt(a, b"name")
