"""Keyed hashes: known answers, purpose separation, and the raising check."""

from __future__ import annotations

import pytest

from garrison.errors import InvalidInput, InvalidSignature
from garrison.signing import KeyedHasher, hmac_sha256, verify_hmac_sha256

# RFC 4231, test cases 1 and 2 (HMAC-SHA-256).
RFC4231 = [
    (b"\x0b" * 20, b"Hi There",
     "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
    (b"Jefe", b"what do ya want for nothing?",
     "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
]


@pytest.mark.parametrize("key,message,expected", RFC4231)
def test_hmac_sha256_matches_rfc_4231(key, message, expected) -> None:
    assert hmac_sha256(key, message).hex() == expected
    verify_hmac_sha256(key, message, ["00" * 32, expected])  # any candidate may match


def test_verify_raises_on_a_forged_or_empty_mac() -> None:
    key, message, expected = RFC4231[0]
    with pytest.raises(InvalidSignature):
        verify_hmac_sha256(key, message, [expected[:-1] + "0"])
    with pytest.raises(InvalidSignature):
        verify_hmac_sha256(key, message + b"!", [expected])
    with pytest.raises(InvalidSignature):
        verify_hmac_sha256(key, message, [])
    with pytest.raises(InvalidInput):
        hmac_sha256(b"", message)


def test_keyed_hasher_binds_its_purpose_and_hides_its_key() -> None:
    key = bytes(range(32))
    inputs = KeyedHasher(key, "garrison-decision-inputs-v1")
    other = KeyedHasher(key, "garrison-something-else-v1")
    assert inputs.hexdigest(b"row") == inputs.hexdigest(b"row") != other.hexdigest(b"row")
    # The purpose is length-delimited: moving bytes between purpose and message changes it.
    assert KeyedHasher(key, "a-b").digest(b"c") != KeyedHasher(key, "a").digest(b"-bc")
    assert inputs.digest(b"row") == hmac_sha256(key, b"garrison-decision-inputs-v1\x00row")
    assert key.hex() not in repr(inputs) and "hidden" in repr(inputs)


@pytest.mark.parametrize("key,purpose", [
    (b"short", "ok"), (b"k" * 32, ""), (b"k" * 32, "Upper"), (b"k" * 32, "x" * 65),
    ("k" * 32, "ok"),
])
def test_keyed_hasher_refuses_weak_keys_and_bad_purposes(key, purpose) -> None:
    with pytest.raises(InvalidInput):
        KeyedHasher(key, purpose)
