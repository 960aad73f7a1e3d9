"""Pseudonymization: joins survive, keys separate, tokens leak nothing, ciphers reverse."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from pathlib import Path

import pandas as pd
import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESSIV

from garrison.errors import DecryptionFailed, InvalidInput
from garrison.privacy import (
    HMAC_PURPOSE,
    CipherTokenizer,
    DeterministicCipher,
    HMACTokenizer,
    pseudonymize_file,
    pseudonymize_frame,
)
from garrison.signing import KeyedHasher

from .datagen import column_values
from .helpers import load_vector

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))


def hmac_tokenizer(key: bytes, key_id: str) -> HMACTokenizer:
    """An HMAC tokenizer as the application wires it: its keyed hash from garrison.signing."""
    return HMACTokenizer(KeyedHasher(key, HMAC_PURPOSE), key_id)


class SIVCipher:
    """A real AES-SIV cipher built in the test (the package itself never imports cryptography)."""

    def __init__(self, key: bytes) -> None:
        self._siv = AESSIV(key)

    def encrypt(self, plaintext: bytes, context: bytes) -> bytes:
        return self._siv.encrypt(plaintext, [context])

    def decrypt(self, ciphertext: bytes, context: bytes) -> bytes:
        try:
            return self._siv.decrypt(ciphertext, [context])
        except InvalidTag as exc:
            raise DecryptionFailed("bad token") from exc


def _tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    emails = column_values("email", 300, seed=1)
    customers = pd.DataFrame({"email": emails, "segment": [i % 4 for i in range(300)]})
    orders = pd.DataFrame({"email": emails[::3] * 2, "amount": range(200)})
    return customers, orders


@pytest.mark.parametrize(
    "make", [lambda k: hmac_tokenizer(k, "k1"), lambda k: CipherTokenizer(SIVCipher(k * 2), "k1")]
)
def test_joins_still_match_with_the_same_key(make: object) -> None:
    customers, orders = _tables()
    expected = orders.merge(customers, on="email")
    tok = make(KEY)  # type: ignore[operator]
    joined = pseudonymize_frame(orders, ["email"], tok).merge(
        pseudonymize_frame(customers, ["email"], tok), on="email"
    )
    assert len(joined) == len(expected) >= 200
    pairs = sorted(zip(joined["amount"], joined["segment"], strict=True))
    assert pairs == sorted(zip(expected["amount"], expected["segment"], strict=True))


@pytest.mark.parametrize(
    "make", [lambda k: hmac_tokenizer(k, "k1"), lambda k: CipherTokenizer(SIVCipher(k * 2), "k1")]
)
def test_a_different_key_gives_no_match(make: object) -> None:
    customers, orders = _tables()
    left = pseudonymize_frame(orders, ["email"], make(KEY))  # type: ignore[operator]
    right = pseudonymize_frame(customers, ["email"], make(OTHER_KEY))  # type: ignore[operator]
    assert left.merge(right, on="email").empty


def test_tokens_do_not_contain_the_plaintext() -> None:
    customers, _ = _tables()
    for tok in (hmac_tokenizer(KEY, "k1"), CipherTokenizer(SIVCipher(KEY * 2), "k1")):
        out = pseudonymize_frame(customers, ["email"], tok)
        for plain, token in zip(customers["email"], out["email"], strict=True):
            assert plain not in token
            assert plain.split("@")[0] not in token
            assert token.startswith(("tok_k1_", "enc_k1_"))
        assert out["email"].nunique() == customers["email"].nunique()


def test_token_format_and_strength() -> None:
    token = hmac_tokenizer(KEY, "k7").tokenize("alice@example.com")
    prefix, key_id, body = token.split("_")
    assert (prefix, key_id) == ("tok", "k7")
    assert len(body) * 5 >= 128
    assert set(body) <= set("abcdefghijklmnopqrstuvwxyz234567")


@pytest.mark.parametrize("case", load_vector("hmac_tokens.json")["cases"])
def test_known_answer_tokens(case: dict[str, str]) -> None:
    key = bytes.fromhex(case["key_hex"])
    token = hmac_tokenizer(key, case["key_id"]).tokenize(case["value"], case["context"])
    assert token == case["token"]
    # Independent recomputation of the documented construction.
    message = (
        b"garrison-pseudonym-v1\x00" + case["context"].encode() + b"\x00" + case["value"].encode()
    )
    digest = hmac.new(key, message, hashlib.sha256).digest()
    body = base64.b32encode(digest).decode().lower()[:26]
    assert token == f"tok_{case['key_id']}_{body}"


def test_context_separates_namespaces() -> None:
    tok = hmac_tokenizer(KEY, "k1")
    assert tok.tokenize("42", "customers") != tok.tokenize("42", "patients")


@pytest.mark.parametrize("key", [b"short", b"x" * 31, "a string key" * 4])
def test_weak_keys_are_refused(key: object) -> None:
    with pytest.raises(InvalidInput):
        hmac_tokenizer(key, "k1")  # type: ignore[arg-type]


@pytest.mark.parametrize("key_id", ["", "K1", "k_1", "x" * 17])
def test_bad_key_ids_are_refused(key_id: str) -> None:
    with pytest.raises(InvalidInput):
        hmac_tokenizer(KEY, key_id)


@pytest.mark.parametrize("mac", [KEY, KeyedHasher(KEY, "garrison-decision-inputs-v1")])
def test_a_raw_key_or_a_hash_for_another_purpose_is_refused(mac: object) -> None:
    """The tokenizer computes no MAC itself, and one bound to another purpose could make
    a token equal to some other digest under the same key."""
    with pytest.raises(InvalidInput):
        HMACTokenizer(mac, "k1")  # type: ignore[arg-type]


def test_the_key_never_appears_in_repr() -> None:
    assert KEY.hex() not in repr(hmac_tokenizer(KEY, "k1"))
    assert repr(KEY) not in repr(hmac_tokenizer(KEY, "k1"))


def test_authorized_reidentification_round_trips() -> None:
    cipher = SIVCipher(os.urandom(64))
    assert isinstance(cipher, DeterministicCipher)
    tok = CipherTokenizer(cipher, "k2")
    for value in ("alice@example.com", "José Müller", ""):
        token = tok.tokenize(value, "crm")
        assert tok.tokenize(value, "crm") == token  # deterministic
        assert tok.detokenize(token, "crm") == value


def test_decryption_failures_are_one_opaque_error() -> None:
    tok = CipherTokenizer(SIVCipher(KEY * 2), "k2")
    token = tok.tokenize("alice@example.com", "crm")
    other = CipherTokenizer(SIVCipher(OTHER_KEY * 2), "k2")
    tampered = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    attempts = [
        lambda: other.detokenize(token, "crm"),  # wrong key
        lambda: tok.detokenize(token, "billing"),  # wrong context
        lambda: tok.detokenize(tampered, "crm"),  # tampered
        lambda: tok.detokenize("enc_k2_!!!", "crm"),  # malformed
        lambda: tok.detokenize(token.replace("enc_k2_", "enc_k3_"), "crm"),  # other key id
    ]
    for attempt in attempts:
        with pytest.raises(DecryptionFailed):
            attempt()


def test_a_bare_cipher_is_accepted_and_nulls_stay_null() -> None:
    frame = pd.DataFrame({"ssn": ["536-22-1234", None, "536-22-1234"], "n": [1, 2, 3]})
    out = pseudonymize_frame(frame, ["ssn"], SIVCipher(KEY * 2))
    assert out["ssn"].isna().tolist() == [False, True, False]
    assert "None" not in out["ssn"].tolist()  # pandas 2's astype("str") wrote the text "None".
    assert out.loc[0, "ssn"] == out.loc[2, "ssn"]
    assert out["n"].tolist() == [1, 2, 3]
    with pytest.raises(InvalidInput):
        pseudonymize_frame(frame, ["missing"], hmac_tokenizer(KEY, "k1"))


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_pseudonymize_file_streams(tmp_path: Path, suffix: str) -> None:
    customers, _ = _tables()
    source, out = tmp_path / f"in{suffix}", tmp_path / f"out{suffix}"
    customers.to_csv(source, index=False) if suffix == ".csv" else customers.to_parquet(source)
    tok = hmac_tokenizer(KEY, "k1")
    rows = pseudonymize_file(source, out, ["email"], tok, chunk_rows=64)
    written = pd.read_csv(out) if suffix == ".csv" else pd.read_parquet(out)
    assert rows == len(written) == len(customers)
    assert (
        written["email"].tolist() == pseudonymize_frame(customers, ["email"], tok)["email"].tolist()
    )
    assert written["segment"].tolist() == customers["segment"].tolist()
    raw = out.read_bytes()
    assert not any(e.encode() in raw for e in customers["email"])
    with pytest.raises(InvalidInput):
        pseudonymize_file(source, source, ["email"], tok)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_missing_values_stay_missing_in_files(tmp_path: Path, suffix: str) -> None:
    frame = pd.DataFrame({"email": ["a@example.com", None, "b@example.com"], "n": ["1", "2", "3"]})
    source, out = tmp_path / f"in{suffix}", tmp_path / f"out{suffix}"
    frame.to_csv(source, index=False) if suffix == ".csv" else frame.to_parquet(source)
    pseudonymize_file(source, out, ["email"], hmac_tokenizer(KEY, "k1"))
    written = pd.read_csv(out, keep_default_na=False) if suffix == ".csv" else pd.read_parquet(out)
    emails = written["email"].tolist()
    assert (emails[1] == "") if suffix == ".csv" else pd.isna(emails[1])
    assert "None" not in emails and all(str(e).startswith("tok_k1_") for e in emails[::2])
