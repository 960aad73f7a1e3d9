"""The versioned wire and file format of encrypted inference (JSON with base64).

Three documents, each an object with ``"format"`` and ``"version": 1``:

* ``garrison-he-context`` (client -> server, once): the public evaluation context.
* ``garrison-he-request`` (client -> server): ciphertexts to score.
* ``garrison-he-response`` (server -> client): ciphertexts of the scores.

The same JSON is the body of the HTTP endpoints and the content of the CLI files
(one document per line, JSON Lines, when a file holds several). Every ciphertext is a
TenSEAL ``CKKSVectorProto`` holding exactly one SEAL ciphertext; :func:`open_ciphertext`
checks that envelope strictly before anything deserializes it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from garrison.errors import InvalidCiphertext, InvalidInput, PayloadTooLarge
from garrison.he import _proto
from garrison.he._seal import seal_version

__all__ = [
    "MODES",
    "OUTPUTS",
    "ContextRegistration",
    "EncryptedRequest",
    "EncryptedResponse",
    "context_id_for",
    "open_ciphertext",
    "wrap_ciphertext",
]

MODES = ("single", "batch")
OUTPUTS = ("score", "probability")
_CONTEXT_ID = re.compile(r"^hectx-[0-9a-f]{40}$")
_FINGERPRINT = re.compile(r"^sha256:[0-9a-f]{64}$")
_MAX_CIPHERTEXTS = 65_536


def context_id_for(params_fingerprint: str, context: bytes) -> str:
    """The content address of a public context under a parameter set."""
    digest = hashlib.sha256(params_fingerprint.encode() + b"\n" + context).hexdigest()
    return "hectx-" + digest[:40]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: Any, what: str) -> bytes:
    if not isinstance(text, str):
        raise InvalidInput(f"{what} must be a base64 string")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidInput(f"{what} is not valid base64") from exc


def _load_json(data: bytes | str, max_bytes: int, fmt: str) -> dict[str, Any]:
    if len(data) > max_bytes:
        raise PayloadTooLarge(f"the {fmt} document is larger than {max_bytes} bytes")
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"the {fmt} document is not JSON") from exc
    if not isinstance(doc, dict) or doc.get("format") != fmt:
        raise InvalidInput(f"not a {fmt} document")
    if doc.get("version") != 1:
        raise InvalidInput(f"unsupported {fmt} version {doc.get('version')!r}; this side speaks 1")
    return doc


def _context_id(value: Any) -> str:
    if not isinstance(value, str) or not _CONTEXT_ID.match(value):
        raise InvalidInput("context_id must look like 'hectx-' followed by 40 hex digits")
    return value


def _ciphertexts(value: Any) -> tuple[bytes, ...]:
    if not isinstance(value, list) or not 0 < len(value) <= _MAX_CIPHERTEXTS:
        raise InvalidInput("ciphertexts must be a non-empty list")
    return tuple(_unb64(item, "a ciphertext") for item in value)


def _positive_int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInput(f"{what} must be a positive integer")
    return value


def _dumps(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, separators=(",", ":")).encode()


@dataclass(frozen=True)
class ContextRegistration:
    """A public evaluation context, named by its content address."""

    params_fingerprint: str
    context: bytes

    @property
    def context_id(self) -> str:
        return context_id_for(self.params_fingerprint, self.context)

    def to_json(self) -> bytes:
        return _dumps({
            "format": "garrison-he-context", "version": 1,
            "params_fingerprint": self.params_fingerprint,
            "context_id": self.context_id, "context": _b64(self.context),
        })

    @classmethod
    def from_json(cls, data: bytes | str, *, max_bytes: int) -> ContextRegistration:
        doc = _load_json(data, max_bytes, "garrison-he-context")
        fingerprint = doc.get("params_fingerprint")
        if not isinstance(fingerprint, str) or not _FINGERPRINT.match(fingerprint):
            raise InvalidInput("params_fingerprint must be 'sha256:' and 64 hex digits")
        registration = cls(fingerprint, _unb64(doc.get("context"), "the context"))
        if _context_id(doc.get("context_id")) != registration.context_id:
            raise InvalidInput("context_id is not the content address of the context")
        return registration


@dataclass(frozen=True)
class EncryptedRequest:
    """Ciphertexts to score: one packed sample (single) or one per feature (batch)."""

    mode: str
    context_id: str
    ciphertexts: tuple[bytes, ...]
    n_samples: int
    output: str = "score"

    def __post_init__(self) -> None:
        if self.mode not in MODES or self.output not in OUTPUTS:
            raise InvalidInput(f"mode must be one of {MODES} and output one of {OUTPUTS}")
        if self.mode == "single" and (self.n_samples != 1 or len(self.ciphertexts) != 1):
            raise InvalidInput("a single-mode request holds one ciphertext of one sample")

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": "garrison-he-request", "version": 1, "mode": self.mode,
            "context_id": self.context_id, "n_samples": self.n_samples, "output": self.output,
            "ciphertexts": [_b64(c) for c in self.ciphertexts],
        }

    def to_json(self) -> bytes:
        return _dumps(self.to_dict())

    @classmethod
    def from_json(cls, data: bytes | str, *, max_bytes: int) -> EncryptedRequest:
        doc = _load_json(data, max_bytes, "garrison-he-request")
        return cls(
            mode=str(doc.get("mode")),
            context_id=_context_id(doc.get("context_id")),
            ciphertexts=_ciphertexts(doc.get("ciphertexts")),
            n_samples=_positive_int(doc.get("n_samples"), "n_samples"),
            output=str(doc.get("output", "score")),
        )


@dataclass(frozen=True)
class EncryptedResponse:
    """Ciphertexts of the scores: one (single) or one per output (batch)."""

    mode: str
    context_id: str
    ciphertexts: tuple[bytes, ...]
    n_samples: int
    n_outputs: int
    output: str = "score"

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": "garrison-he-response", "version": 1, "mode": self.mode,
            "context_id": self.context_id, "n_samples": self.n_samples,
            "n_outputs": self.n_outputs, "output": self.output,
            "ciphertexts": [_b64(c) for c in self.ciphertexts],
        }

    def to_json(self) -> bytes:
        return _dumps(self.to_dict())

    @classmethod
    def from_json(cls, data: bytes | str, *, max_bytes: int) -> EncryptedResponse:
        doc = _load_json(data, max_bytes, "garrison-he-response")
        mode, output = doc.get("mode"), doc.get("output", "score")
        if mode not in MODES or output not in OUTPUTS:
            raise InvalidInput("unknown mode or output in the response")
        return cls(
            mode=str(mode),
            context_id=_context_id(doc.get("context_id")),
            ciphertexts=_ciphertexts(doc.get("ciphertexts")),
            n_samples=_positive_int(doc.get("n_samples"), "n_samples"),
            n_outputs=_positive_int(doc.get("n_outputs"), "n_outputs"),
            output=str(output),
        )


def open_ciphertext(data: bytes, *, size: int | None, max_bytes: int) -> tuple[bytes, float, int]:
    """Check a ciphertext envelope; return ``(SEAL blob, declared scale, declared size)``.

    Refuses anything but one SEAL ciphertext with a sound header, whose declared slot
    count is ``size`` (when given). Nothing is deserialized here.
    """
    if len(data) > max_bytes:
        raise PayloadTooLarge(f"a ciphertext is larger than {max_bytes} bytes")
    try:
        message = _proto.decode_vector(data)
        if len(message.ciphertexts) != 1 or len(message.sizes) != 1:
            raise _proto.ProtoError("the envelope must hold exactly one ciphertext")
        _proto.check_seal_header(message.ciphertexts[0], version=seal_version(), what="ciphertext")
    except _proto.ProtoError as exc:
        raise InvalidCiphertext(f"malformed ciphertext: {exc}") from exc
    declared = message.sizes[0]
    if size is not None and declared != size:
        raise InvalidCiphertext(f"the ciphertext declares {declared} slots; expected {size}")
    return message.ciphertexts[0], message.scale, declared


def wrap_ciphertext(blob: bytes, *, size: int, scale: float) -> bytes:
    """Put one SEAL ciphertext in a TenSEAL vector envelope of ``size`` slots."""
    return _proto.encode_vector(_proto.VectorMessage((size,), (blob,), scale))
