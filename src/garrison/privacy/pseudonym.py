"""Pseudonymization: keyed tokens (HMAC-SHA256) and reversible deterministic encryption.

Tokens are deterministic per key, so tables tokenized with the same key still
join; without the key a token reveals nothing and cannot be reversed. The keyed
hash behind ``tok_`` tokens (a :class:`KeyedMAC`, ``garrison.signing.KeyedHasher``
for :data:`HMAC_PURPOSE`) and, where an authorized re-identification is required,
the :class:`DeterministicCipher` behind ``enc_`` tokens (AES-SIV) are supplied by the
caller from ``garrison.signing``: this package computes no MAC and never imports
``cryptography``. Every token starts with
its kind and key id, so a key rotation is visible in the data. Key management and
the audit of key use belong to the caller.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import pandas as pd

from garrison.errors import DecryptionFailed, InvalidInput
from garrison.privacy.tabular import DEFAULT_CHUNK_ROWS, FrameWriter, iter_chunks, list_columns

__all__ = [
    "HMAC_PURPOSE",
    "CipherTokenizer",
    "DeterministicCipher",
    "HMACTokenizer",
    "KeyedMAC",
    "Tokenizer",
    "map_values",
    "pseudonymize_file",
    "pseudonymize_frame",
]

TOKEN_BITS = 130  # 26 base32 characters; at least 128 bits as the issue asks.
_KEY_ID = re.compile(r"^[a-z0-9]{1,16}$")
#: The purpose the keyed hash of ``tok_`` tokens is bound to: the MAC covers
#: ``purpose || 0x00 || context || 0x00 || utf8(value)``.
HMAC_PURPOSE = "garrison-pseudonym-v1"
_SIV_DOMAIN = b"garrison-pseudonym-siv-v1\x00"


@runtime_checkable
class DeterministicCipher(Protocol):
    """Deterministic authenticated encryption (AES-SIV) bound to ``context``."""

    def encrypt(self, plaintext: bytes, context: bytes) -> bytes: ...

    def decrypt(self, ciphertext: bytes, context: bytes) -> bytes: ...


@runtime_checkable
class KeyedMAC(Protocol):
    """HMAC-SHA256 under one key, bound to ``purpose`` (``garrison.signing.KeyedHasher``)."""

    purpose: str

    def digest(self, message: bytes) -> bytes: ...


@runtime_checkable
class Tokenizer(Protocol):
    """Turns a value into a deterministic token."""

    key_id: str

    def tokenize(self, value: str, context: str = "") -> str: ...


def _check_key_id(key_id: str) -> str:
    if not _KEY_ID.match(key_id):
        raise InvalidInput("a key id is 1-16 lowercase letters or digits")
    return key_id


class HMACTokenizer:
    """``tok_<key id>_<26 base32 chars>``: HMAC-SHA256 truncated to 130 bits.

    ``context`` separates namespaces (the same e-mail gives different tokens in
    two contexts); leave it equal across tables that must join.
    """

    def __init__(self, mac: KeyedMAC, key_id: str) -> None:
        if not isinstance(mac, KeyedMAC) or mac.purpose != HMAC_PURPOSE:
            raise InvalidInput("an HMAC tokenizer needs a keyed hash bound to "
                               f"{HMAC_PURPOSE!r} (garrison.signing.KeyedHasher), not a raw key")
        self._mac = mac
        self.key_id = _check_key_id(key_id)

    def __repr__(self) -> str:
        return f"HMACTokenizer(key_id={self.key_id!r}, key=<hidden>)"

    def tokenize(self, value: str, context: str = "") -> str:
        digest = self._mac.digest(context.encode() + b"\x00" + value.encode("utf-8"))
        text = base64.b32encode(digest).decode("ascii").lower()[: TOKEN_BITS // 5]
        return f"tok_{self.key_id}_{text}"


class CipherTokenizer:
    """``enc_<key id>_<base64url>``: reversible for whoever holds the cipher key."""

    def __init__(self, cipher: DeterministicCipher, key_id: str) -> None:
        if not isinstance(cipher, DeterministicCipher):
            raise InvalidInput("the cipher must provide encrypt() and decrypt()")
        self._cipher = cipher
        self.key_id = _check_key_id(key_id)

    def _context(self, context: str) -> bytes:
        return _SIV_DOMAIN + self.key_id.encode() + b"\x00" + context.encode()

    def tokenize(self, value: str, context: str = "") -> str:
        sealed = self._cipher.encrypt(value.encode("utf-8"), self._context(context))
        return f"enc_{self.key_id}_" + base64.urlsafe_b64encode(sealed).decode().rstrip("=")

    def detokenize(self, token: str, context: str = "") -> str:
        """Recover the value; any failure (wrong key, context, tampering) is one error."""
        prefix = f"enc_{self.key_id}_"
        if not token.startswith(prefix):
            raise DecryptionFailed("the token was not made with this key")
        body = token[len(prefix) :]
        try:
            sealed = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            return self._cipher.decrypt(sealed, self._context(context)).decode("utf-8")
        except DecryptionFailed:
            raise
        except Exception as exc:  # Foreign cipher errors are folded into one opaque error.
            raise DecryptionFailed("the token could not be decrypted") from exc


def _as_tokenizer(tokenizer: Tokenizer | DeterministicCipher) -> Tokenizer:
    if isinstance(tokenizer, Tokenizer):
        return tokenizer
    if isinstance(tokenizer, DeterministicCipher):
        return CipherTokenizer(tokenizer, "k0")
    raise InvalidInput("need a tokenizer or a deterministic cipher")


def pseudonymize_frame(
    frame: pd.DataFrame,
    columns: Sequence[str],
    tokenizer: Tokenizer | DeterministicCipher,
    *,
    context: str = "",
) -> pd.DataFrame:
    """Return a copy with ``columns`` replaced by tokens (missing values stay missing).

    Each distinct value is tokenized once. Values are tokenized as text, so the
    integer 42 and the string "42" give the same token.
    """
    tok = _as_tokenizer(tokenizer)
    missing = set(columns) - set(frame.columns)
    if missing:
        raise InvalidInput(f"no such column(s): {sorted(missing)}")
    return map_values(frame, columns, lambda value: tok.tokenize(value, context))


def map_values(frame: pd.DataFrame, columns: Sequence[str],
               fn: Callable[[str], str]) -> pd.DataFrame:
    """A copy with ``fn`` applied to the text of each value of ``columns``, once per
    distinct value; missing values stay missing."""
    out = frame.copy()
    for column in columns:
        series = frame[column]
        present = series.notna()
        text = series[present].map(str)
        mapping = {value: fn(value) for value in pd.unique(text)}
        values = pd.Series(None, index=series.index, dtype="object")
        values[present] = text.map(mapping)
        # astype("str") turns None into the text "None" on pandas 2 (pandas 3 keeps it
        # missing), so mask the missing rows again after the conversion.
        out[column] = values.astype("str").where(present)
    return out


def pseudonymize_file(
    path: str | Path,
    out: str | Path,
    columns: Sequence[str],
    tokenizer: Tokenizer | DeterministicCipher,
    *,
    context: str = "",
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> int:
    """Stream a CSV/Parquet file to ``out`` with ``columns`` tokenized; return rows written."""
    if Path(path).resolve() == Path(out).resolve():
        raise InvalidInput("the output must not overwrite the input")
    names = list_columns(path)
    missing = set(columns) - set(names)
    if missing:
        raise InvalidInput(f"no such column(s): {sorted(missing)}")
    tok = _as_tokenizer(tokenizer)
    rows = 0
    writer = FrameWriter(out)
    try:
        for chunk in iter_chunks(path, chunk_rows=chunk_rows, all_text=False, text_columns=columns):
            result = pseudonymize_frame(chunk, columns, tok, context=context)
            writer.write(result)
            rows += len(result)
    finally:
        writer.close(names)
    return rows
