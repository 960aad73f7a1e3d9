"""Encryption at rest: a misuse-resistant recipe over AES-256-GCM.

Each artifact gets a fresh 256-bit data key, wrapped (AES-256-GCM) by the master
key; the artifact is encrypted as a stream of 1 MiB segments (STREAM construction,
as in Tink's streaming AEAD): segment ``i`` uses nonce ``prefix || i || last`` and
the header as associated data, so reordering, truncating or splicing segments,
or moving a blob to another artifact (the ``context`` is bound in), fails
authentication. Blob layout::

    b"GSEAL1\\n" | u32 header length | header JSON | segments...

Header: ``{"v":1,"alg":"A256GCM-STREAM-1M","mk":master-key-id,"wk":wrapped-data-key,
"np":nonce-prefix,"ctx":context}`` (binary values base64).

``DeterministicCipher`` (AES-SIV) serves reversible pseudonymization: equal inputs
give equal outputs under one key, which is the point and the limit of it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from garrison.errors import ConfigurationError, DecryptionFailed
from garrison.signing import _hazmat
from garrison.signing.keyfiles import read_key_file, write_private_file

__all__ = [
    "ACTIVE_MASTER_FILE",
    "DeterministicCipher",
    "MasterKeys",
    "open_sealed",
    "seal",
    "seal_file",
    "seal_stream",
    "unseal",
]

#: In a key directory, names the id of the master key that wraps new data keys.
ACTIVE_MASTER_FILE = "master-active"

MAGIC = b"GSEAL1\n"
SEGMENT = 1 << 20
_TAG = 16
_MAX_HEADER = 4096


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: object) -> bytes:
    try:
        return base64.b64decode(str(text), validate=True)
    except ValueError as exc:
        raise DecryptionFailed("sealed header is malformed") from exc


@dataclass
class MasterKeys:
    """Master keys by id; the newest wraps, every one unwraps (rotation)."""

    keys: dict[str, bytes]
    active: str

    @staticmethod
    def key_id(key: bytes) -> str:
        return hashlib.sha256(b"garrison-master-key\n" + key).hexdigest()[:16]

    @classmethod
    def from_bytes(cls, *keys: bytes) -> MasterKeys:
        if not keys or any(len(k) != 32 for k in keys):
            raise ConfigurationError("a master key must be exactly 32 bytes")
        table = {cls.key_id(k): k for k in keys}
        return cls(table, cls.key_id(keys[-1]))

    @classmethod
    def from_base64(cls, text: str) -> MasterKeys:
        try:
            raw = base64.b64decode(text.strip(), validate=True)
        except ValueError as exc:
            raise ConfigurationError("GARRISON_MASTER_KEY is not valid base64") from exc
        return cls.from_bytes(raw)

    @classmethod
    def load_or_create(cls, directory: Path) -> MasterKeys:
        """Keys in ``directory/master-*.key``; creates the first one if there is none.

        The newest file wraps, unless ``master-active`` names the active key id (a
        mounted Secret gives every file the same time, so it must say which). Key files
        must pass :func:`~garrison.signing.keyfiles.ensure_private_key_file`; a missing
        key in a read-only directory is a configuration error, never created elsewhere.
        """
        files = sorted(directory.glob("master-*.key"), key=lambda p: p.stat().st_mtime_ns)
        if not files:
            key = os.urandom(32)
            path = directory / f"master-{cls.key_id(key)}.key"
            try:
                write_private_file(path, key)
            except OSError as exc:
                raise ConfigurationError(
                    f"no master key in {directory} and it cannot be created there (create "
                    "the keys with `garrison secrets create` and mount them)") from exc
            return cls.from_bytes(key)
        ring = cls.from_bytes(*(read_key_file(p, size=32) for p in files))
        active_file = directory / ACTIVE_MASTER_FILE
        if active_file.exists():
            active = active_file.read_text(encoding="ascii", errors="replace").strip()
            if active not in ring.keys:
                raise ConfigurationError(f"{ACTIVE_MASTER_FILE} names a master key that is "
                                         f"not in {directory}")
            ring.active = active
        return ring


def _nonce(prefix: bytes, index: int, last: bool) -> bytes:
    return prefix + struct.pack(">I", index) + (b"\x01" if last else b"\x00")


def _header(keys: MasterKeys, context: str) -> tuple[bytes, bytes, bytes]:
    data_key = os.urandom(32)
    prefix = os.urandom(7)
    wrap_nonce = os.urandom(12)
    mk = keys.keys[keys.active]
    wrapped = wrap_nonce + _hazmat.aes_gcm_encrypt(mk, wrap_nonce, data_key,
                                                   b"garrison-wrap\n" + context.encode())
    header = json.dumps({"v": 1, "alg": "A256GCM-STREAM-1M", "mk": keys.active,
                         "wk": _b64(wrapped), "np": _b64(prefix), "ctx": context},
                        sort_keys=True, separators=(",", ":")).encode()
    return header, data_key, prefix


def seal_stream(keys: MasterKeys, source: BinaryIO, context: str) -> Iterator[bytes]:
    """Yield the sealed blob for ``source`` piece by piece (constant memory)."""
    header, data_key, prefix = _header(keys, context)
    yield MAGIC + struct.pack(">I", len(header)) + header
    index = 0
    chunk = source.read(SEGMENT)
    while True:
        nxt = source.read(SEGMENT)
        last = not nxt
        yield _hazmat.aes_gcm_encrypt(data_key, _nonce(prefix, index, last), chunk, header)
        if last:
            return
        chunk, index = nxt, index + 1


def seal(keys: MasterKeys, plaintext: bytes, context: str) -> bytes:
    import io

    return b"".join(seal_stream(keys, io.BytesIO(plaintext), context))


def seal_file(keys: MasterKeys, source: Path, dest: Path, context: str) -> None:
    tmp = dest.with_name(dest.name + ".partial")
    dest.parent.mkdir(parents=True, exist_ok=True)
    with source.open("rb") as src, tmp.open("wb") as out:
        for piece in seal_stream(keys, src, context):
            out.write(piece)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, dest)


def _read_header(
    blob: memoryview, keys: MasterKeys, context: str
) -> tuple[bytes, bytes, bytes, int]:
    if bytes(blob[: len(MAGIC)]) != MAGIC or len(blob) < len(MAGIC) + 4:
        raise DecryptionFailed("not a sealed Garrison blob")
    (length,) = struct.unpack(">I", blob[len(MAGIC): len(MAGIC) + 4])
    start = len(MAGIC) + 4
    if length > _MAX_HEADER or start + length > len(blob):
        raise DecryptionFailed("sealed header is malformed")
    header = bytes(blob[start: start + length])
    try:
        fields = json.loads(header)
    except ValueError as exc:
        raise DecryptionFailed("sealed header is malformed") from exc
    if not isinstance(fields, dict) or fields.get("v") != 1:
        raise DecryptionFailed("unsupported sealed format")
    if fields.get("ctx") != context:
        raise DecryptionFailed("sealed blob belongs to another artifact")
    mk = keys.keys.get(str(fields.get("mk")))
    if mk is None:
        raise DecryptionFailed("sealed with an unknown master key")
    wrapped = _unb64(fields.get("wk"))
    prefix = _unb64(fields.get("np"))
    if len(wrapped) != 12 + 32 + _TAG or len(prefix) != 7:
        raise DecryptionFailed("sealed header is malformed")
    data_key = _hazmat.aes_gcm_decrypt(mk, wrapped[:12], wrapped[12:],
                                       b"garrison-wrap\n" + context.encode())
    return header, data_key, prefix, start + length


def unseal(keys: MasterKeys, blob: bytes, context: str) -> bytes:
    """Authenticate and decrypt a whole blob; any change raises :class:`DecryptionFailed`."""
    view = memoryview(blob)
    header, data_key, prefix, offset = _read_header(view, keys, context)
    out = bytearray()
    index = 0
    step = SEGMENT + _TAG
    while True:
        segment = view[offset: offset + step]
        last = offset + step >= len(view)
        if not segment or len(segment) < _TAG:
            raise DecryptionFailed("sealed blob is truncated")
        out += _hazmat.aes_gcm_decrypt(data_key, _nonce(prefix, index, last), bytes(segment),
                                       header)
        if last:
            return bytes(out)
        offset += step
        index += 1


def open_sealed(keys: MasterKeys, path: Path, context: str) -> bytes:
    try:
        return unseal(keys, path.read_bytes(), context)
    except FileNotFoundError as exc:
        raise DecryptionFailed("sealed artifact is missing") from exc


class DeterministicCipher:
    """AES-SIV (RFC 5297): deterministic authenticated encryption for reversible pseudonyms."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 64:
            raise ConfigurationError("AES-SIV-256 needs a 64-byte key")
        self._key = key
        self.key_id = hashlib.sha256(b"garrison-siv\n" + key).hexdigest()[:8]

    def encrypt(self, plaintext: bytes, context: bytes) -> bytes:
        return _hazmat.aes_siv_encrypt(self._key, plaintext, [context])

    def decrypt(self, ciphertext: bytes, context: bytes) -> bytes:
        return _hazmat.aes_siv_decrypt(self._key, ciphertext, [context])
