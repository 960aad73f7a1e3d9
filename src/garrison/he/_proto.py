"""Private: a strict reader and writer for the few protobuf messages TenSEAL exchanges.

.. warning::
   Hazmat. This module handles bytes that come straight from the network, before
   TenSEAL or SEAL ever see them. TenSEAL trusts its own serializations (a vector
   proto whose ``sizes`` and ``ciphertexts`` disagree is read out of bounds), so the
   server never hands it an attacker-shaped message: it reads the message here,
   checks every field, and rebuilds a canonical message from the checked parts.

The messages (see ``tenseal/proto/*.proto``)::

    CKKSVectorProto      1: repeated uint32 sizes   2: repeated bytes ciphertexts   3: double scale
    TenSEALContextProto  1: bytes encryption_parameters   2: TenSEALPublicProto
                         3: TenSEALPrivateProto          4: uint32 encryption_type
    TenSEALPublicProto   1: bytes public_key   2: uint32 auto_flags   3: double scale
                         4: bytes relin_keys   5: bytes galois_keys
    TenSEALPrivateProto  1: bytes secret_key   2: bool relin_keys_generated
                         3: bool galois_keys_generated

Every embedded SEAL object starts with SEAL's 16-byte header (magic ``0xA15E``,
header size, version, compression mode, reserved, total size), which
:func:`check_seal_header` verifies against the exact length of the blob.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

__all__ = [
    "SEAL_MAGIC",
    "ContextMessage",
    "ProtoError",
    "SealHeader",
    "VectorMessage",
    "check_seal_header",
    "decode_context",
    "decode_vector",
    "encode_public_context",
    "encode_vector",
]

SEAL_MAGIC = 0xA15E
_SEAL_HEADER = struct.Struct("<HBBBBHQ")
_COMPRESSION_MODES = (0, 1, 2)  # none, zlib, zstandard
_VARINT, _FIXED64, _LENGTH, _FIXED32 = 0, 1, 2, 5


class ProtoError(ValueError):
    """The bytes are not a well-formed message of the expected shape."""


@dataclass(frozen=True)
class SealHeader:
    version: tuple[int, int]
    compression: int
    size: int


def check_seal_header(blob: bytes, *, version: tuple[int, int], what: str) -> SealHeader:
    """Check the SEAL header of ``blob``; raise :class:`ProtoError` unless it is sound."""
    if len(blob) < _SEAL_HEADER.size:
        raise ProtoError(f"{what} is shorter than a SEAL header")
    magic, header_size, major, minor, compression, reserved, size = _SEAL_HEADER.unpack_from(blob)
    if magic != SEAL_MAGIC or header_size != _SEAL_HEADER.size or reserved != 0:
        raise ProtoError(f"{what} does not start with a SEAL header")
    if (major, minor) != version:
        raise ProtoError(
            f"{what} was written by SEAL {major}.{minor}; "
            f"this side speaks {version[0]}.{version[1]}"
        )
    if compression not in _COMPRESSION_MODES:
        raise ProtoError(f"{what} names an unknown compression mode")
    if size != len(blob):
        raise ProtoError(f"{what} is truncated or has trailing bytes")
    return SealHeader(version=(major, minor), compression=compression, size=size)


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = 0
    for shift in range(0, 70, 7):
        if pos >= len(data):
            raise ProtoError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            if result >= 1 << 64:
                raise ProtoError("varint overflows 64 bits")
            return result, pos
    raise ProtoError("varint longer than 10 bytes")


def _fields(data: bytes, allowed: dict[int, int]) -> dict[int, list[int | bytes]]:
    """Split a message into ``{field: [values]}``; only ``allowed`` fields and wire types."""
    out: dict[int, list[int | bytes]] = {}
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        value: int | bytes
        if wire == _VARINT:
            value, pos = _varint(data, pos)
        elif wire == _FIXED64:
            if pos + 8 > len(data):
                raise ProtoError("truncated fixed64 field")
            value, pos = int.from_bytes(data[pos : pos + 8], "little"), pos + 8
        elif wire == _LENGTH:
            length, pos = _varint(data, pos)
            if length > len(data) - pos:
                raise ProtoError("length-delimited field runs past the end")
            value, pos = data[pos : pos + length], pos + length
        elif wire == _FIXED32:
            if pos + 4 > len(data):
                raise ProtoError("truncated fixed32 field")
            value, pos = int.from_bytes(data[pos : pos + 4], "little"), pos + 4
        else:
            raise ProtoError(f"unsupported wire type {wire}")
        expected = allowed.get(number)
        if expected is None:
            raise ProtoError(f"unexpected field {number}")
        # A packed repeated varint field arrives length-delimited; it is the only mix allowed.
        if wire != expected and not (expected == _VARINT and wire == _LENGTH):
            raise ProtoError(f"field {number} has the wrong wire type")
        out.setdefault(number, []).append(value)
    return out


def _single(fields: dict[int, list[int | bytes]], number: int, kind: type) -> int | bytes | None:
    values = fields.get(number, [])
    if len(values) > 1:
        raise ProtoError(f"field {number} is repeated")
    if values and not isinstance(values[0], kind):
        raise ProtoError(f"field {number} has the wrong type")
    return values[0] if values else None


def _as_double(raw: int | bytes | None) -> float | None:
    if raw is None:
        return None
    assert isinstance(raw, int)
    return float(struct.unpack("<d", raw.to_bytes(8, "little"))[0])


def _key(number: int, wire: int) -> bytes:
    return _encode_varint(number << 3 | wire)


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _length_field(number: int, payload: bytes) -> bytes:
    return _key(number, _LENGTH) + _encode_varint(len(payload)) + payload


def _double_field(number: int, value: float) -> bytes:
    return _key(number, _FIXED64) + struct.pack("<d", value)


def _varint_field(number: int, value: int) -> bytes:
    return _key(number, _VARINT) + _encode_varint(value) if value else b""


@dataclass(frozen=True)
class VectorMessage:
    """A decoded ``CKKSVectorProto``: chunk sizes, ciphertext blobs, scale."""

    sizes: tuple[int, ...]
    ciphertexts: tuple[bytes, ...]
    scale: float


def decode_vector(data: bytes) -> VectorMessage:
    fields = _fields(data, {1: _VARINT, 2: _LENGTH, 3: _FIXED64})
    sizes: list[int] = []
    for raw in fields.get(1, []):
        if isinstance(raw, bytes):  # Packed encoding.
            pos = 0
            while pos < len(raw):
                value, pos = _varint(raw, pos)
                sizes.append(value)
        else:
            sizes.append(raw)
    blobs = tuple(b for b in fields.get(2, []) if isinstance(b, bytes))
    scale = _as_double(_single(fields, 3, int))
    return VectorMessage(tuple(sizes), blobs, 0.0 if scale is None else scale)


def encode_vector(message: VectorMessage) -> bytes:
    packed = b"".join(_encode_varint(size) for size in message.sizes)
    parts = [_length_field(1, packed)]
    parts += [_length_field(2, blob) for blob in message.ciphertexts]
    parts.append(_double_field(3, message.scale))
    return b"".join(parts)


@dataclass(frozen=True)
class ContextMessage:
    """A decoded ``TenSEALContextProto`` (the parts a public context may hold)."""

    encryption_parameters: bytes
    public_key: bytes
    auto_flags: int
    scale: float | None
    relin_keys: bytes
    galois_keys: bytes
    encryption_type: int
    secret_key: bytes = b""
    private_flags: dict[str, bool] = field(default_factory=dict)


def decode_context(data: bytes) -> ContextMessage:
    top = _fields(data, {1: _LENGTH, 2: _LENGTH, 3: _LENGTH, 4: _VARINT})
    params = _single(top, 1, bytes)
    public = _single(top, 2, bytes)
    private = _single(top, 3, bytes)
    enc_type = _single(top, 4, int)
    if not isinstance(params, bytes) or not isinstance(public, bytes):
        raise ProtoError("context lacks encryption parameters or its public part")
    pub = _fields(public, {1: _LENGTH, 2: _VARINT, 3: _FIXED64, 4: _LENGTH, 5: _LENGTH})
    secret = b""
    flags: dict[str, bool] = {}
    if isinstance(private, bytes):
        priv = _fields(private, {1: _LENGTH, 2: _VARINT, 3: _VARINT})
        secret = bytes(_single(priv, 1, bytes) or b"")
        flags = {"relin": bool(_single(priv, 2, int)), "galois": bool(_single(priv, 3, int))}
    return ContextMessage(
        encryption_parameters=params,
        public_key=bytes(_single(pub, 1, bytes) or b""),
        auto_flags=int(_single(pub, 2, int) or 0),
        scale=_as_double(_single(pub, 3, int)),
        relin_keys=bytes(_single(pub, 4, bytes) or b""),
        galois_keys=bytes(_single(pub, 5, bytes) or b""),
        encryption_type=int(enc_type or 0),
        secret_key=secret,
        private_flags=flags,
    )


def encode_public_context(message: ContextMessage) -> bytes:
    """Write the public part of a context message; a secret key is never written."""
    public = b"".join(
        [
            _length_field(1, message.public_key) if message.public_key else b"",
            _varint_field(2, message.auto_flags),
            _double_field(3, message.scale) if message.scale is not None else b"",
            _length_field(4, message.relin_keys) if message.relin_keys else b"",
            _length_field(5, message.galois_keys) if message.galois_keys else b"",
        ]
    )
    parts = [_length_field(1, message.encryption_parameters), _length_field(2, public)]
    parts.append(_varint_field(4, message.encryption_type))
    return b"".join(parts)
