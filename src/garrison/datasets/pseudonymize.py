"""Pseudonymization with managed keys: tokens for joins, AES-SIV for authorized re-identification.

``PseudonymKeys`` keeps two keys in the key directory (``HOME/keys``), each created on
first use with mode 0600 and refused if group or others can read it:

* ``pseudonym-hmac.key`` (32 bytes): HMAC-SHA256 tokens ``tok_<key id>_...``, deterministic
  per key (tables pseudonymized with it still join) and not reversible;
* ``pseudonym-siv.key`` (64 bytes): AES-SIV tokens ``enc_<key id>_...``, reversible by
  ``reidentify`` for a principal holding ``reidentify-data``.

Every use is audited (``pseudonymize-data`` / ``reidentify-data``) with the file digests,
columns, row count, mode and key id; never the key itself. A failed re-identification
deletes its partial output.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from garrison.datasets.describe import file_sha256
from garrison.errors import InvalidInput
from garrison.governance import Guard
from garrison.identity import Principal
from garrison.privacy import (
    HMAC_PURPOSE,
    CipherTokenizer,
    HMACTokenizer,
    iter_chunks,
    list_columns,
)
from garrison.privacy import pseudonymize_file as _pseudonymize_file
from garrison.privacy.pseudonym import map_values
from garrison.privacy.tabular import FrameWriter
from garrison.signing import DeterministicCipher, KeyedHasher, create_key_file, read_key_file

__all__ = [
    "HMAC_KEY_FILE",
    "SIV_KEY_FILE",
    "PseudonymKeys",
    "PseudonymizationResult",
    "PseudonymizationService",
    "reidentify_file",
]

HMAC_KEY_FILE = "pseudonym-hmac.key"
SIV_KEY_FILE = "pseudonym-siv.key"
_SIZES = {HMAC_KEY_FILE: 32, SIV_KEY_FILE: 64}


class PseudonymKeys:
    """The two pseudonymization keys of an installation, created on first use (0600)."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def __repr__(self) -> str:
        return f"PseudonymKeys({str(self.directory)!r})"

    def _load(self, filename: str) -> tuple[bytes, bool]:
        """The key bytes and whether this call created the key.

        Missing keys are created (of racing creators, one wins and the others use its
        key); a mounted, read-only key directory must already hold them.
        """
        path = self.directory / filename
        created = create_key_file(path, _SIZES[filename])
        return read_key_file(path, size=_SIZES[filename]), created

    def tokenizer(self) -> tuple[HMACTokenizer, bool]:
        """The HMAC-SHA256 tokenizer and whether its key was just created."""
        key, created = self._load(HMAC_KEY_FILE)
        key_id = hashlib.sha256(b"garrison-pseudonym-hmac\n" + key).hexdigest()[:8]
        return HMACTokenizer(KeyedHasher(key, HMAC_PURPOSE), key_id), created

    def hasher(self, purpose: str) -> KeyedHasher:
        """A keyed hash under the HMAC pseudonymization key, bound to ``purpose``.

        The gateway keys its digests of recorded decision inputs this way: the one
        managed key, separated from the pseudonym tokens by the purpose prefix.
        """
        key, _ = self._load(HMAC_KEY_FILE)
        return KeyedHasher(key, purpose)

    def cipher(self) -> tuple[CipherTokenizer, bool]:
        """The AES-SIV tokenizer and whether its key was just created."""
        key, created = self._load(SIV_KEY_FILE)
        cipher = DeterministicCipher(key)
        return CipherTokenizer(cipher, cipher.key_id), created


@dataclass(frozen=True)
class PseudonymizationResult:
    """What one pseudonymization or re-identification did (no key material)."""

    action: str
    mode: str
    key_id: str
    columns: tuple[str, ...]
    rows: int
    input_sha256: str
    output: str
    output_sha256: str
    key_created: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "mode": self.mode,
            "key_id": self.key_id,
            "columns": list(self.columns),
            "rows": self.rows,
            "input_sha256": self.input_sha256,
            "output": self.output,
            "output_sha256": self.output_sha256,
            "key_created": self.key_created,
        }


def _detokenize_frame(
    frame: pd.DataFrame, columns: Sequence[str], cipher: CipherTokenizer, context: str
) -> pd.DataFrame:
    return map_values(frame, columns, lambda token: cipher.detokenize(token, context))


def reidentify_file(
    path: str | Path,
    out: str | Path,
    columns: Sequence[str],
    cipher: CipherTokenizer,
    *,
    context: str = "",
) -> int:
    """Stream ``path`` to ``out`` (created 0600) with ``columns`` decrypted; return the rows.

    Any token that does not open (an HMAC token, another key, another context, tampering)
    raises DecryptionFailed, and ``out`` is removed so no partial plaintext remains.
    """
    source, target = Path(path), Path(out)
    if source.resolve() == target.resolve():
        raise InvalidInput("the output must not overwrite the input")
    names = list_columns(source)
    missing = set(columns) - set(names)
    if missing:
        raise InvalidInput(f"no such column(s): {sorted(missing)}")
    target.unlink(missing_ok=True)
    os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    rows = 0
    try:
        writer = FrameWriter(target)
        try:
            for chunk in iter_chunks(source, all_text=False, text_columns=columns):
                writer.write(_detokenize_frame(chunk, columns, cipher, context))
                rows += len(chunk)
        finally:
            writer.close(names)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return rows


class PseudonymizationService:
    """Audited use of the managed pseudonymization keys."""

    def __init__(self, keys: PseudonymKeys, guard: Guard) -> None:
        self._keys = keys
        self._guard = guard

    def pseudonymize(
        self, actor: Principal, path: str | Path, out: str | Path, columns: Sequence[str], *,
        reversible: bool = False, context: str = "", request_id: str = "",
    ) -> PseudonymizationResult:
        """Replace ``columns`` of ``path`` by tokens in ``out`` (HMAC, or AES-SIV if reversible)."""
        cols = _columns(columns)
        resource = f"file:{Path(path).name}"
        self._guard.require(actor, "pseudonymize-data", resource, request_id=request_id)

        def work() -> PseudonymizationResult:
            digest = file_sha256(path)
            tokenizer, created = self._keys.cipher() if reversible else self._keys.tokenizer()
            rows = _pseudonymize_file(path, out, cols, tokenizer, context=context)
            return PseudonymizationResult(
                "pseudonymize-data", "aes-siv" if reversible else "hmac-sha256",
                tokenizer.key_id, cols, rows, digest, str(out), file_sha256(out), created,
            )

        return self._run(actor, "pseudonymize-data", resource, request_id, context, work)

    def reidentify(
        self, actor: Principal, path: str | Path, out: str | Path, columns: Sequence[str], *,
        context: str = "", request_id: str = "",
    ) -> PseudonymizationResult:
        """Decrypt the AES-SIV tokens in ``columns``; needs ``reidentify-data``."""
        cols = _columns(columns)
        resource = f"file:{Path(path).name}"
        self._guard.require(actor, "reidentify-data", resource, request_id=request_id)

        def work() -> PseudonymizationResult:
            digest = file_sha256(path)
            cipher, created = self._keys.cipher()
            rows = reidentify_file(path, out, cols, cipher, context=context)
            return PseudonymizationResult(
                "reidentify-data", "aes-siv", cipher.key_id, cols, rows, digest, str(out),
                file_sha256(out), created,
            )

        return self._run(actor, "reidentify-data", resource, request_id, context, work)

    def _run(
        self, actor: Principal, action: str, resource: str, request_id: str, context: str,
        work: Callable[[], PseudonymizationResult],
    ) -> PseudonymizationResult:
        def payload(result: PseudonymizationResult) -> dict[str, Any]:
            out = result.to_dict()
            out.pop("action")
            out["context"] = context
            return out

        return self._guard.audited(actor, action, work, resource=resource,
                                   request_id=request_id, ok_payload=payload)


def _columns(columns: Sequence[str]) -> tuple[str, ...]:
    cols = tuple(dict.fromkeys(c for c in columns if c))
    if not cols:
        raise InvalidInput("name at least one column")
    return cols
