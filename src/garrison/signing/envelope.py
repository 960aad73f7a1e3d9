"""DSSE envelopes: the signed-statement format of in-toto and OpenSSF model signing.

An envelope is ``{"payloadType", "payload" (base64), "signatures": [{"keyid", "sig"}]}``
and the signature covers the DSSE pre-authentication encoding (PAE) of the payload
type and payload, so an envelope signed for one purpose (payload type) can never be
replayed as another. :func:`verify` raises and returns the verified payload; there
is no way to read a payload without verifying it except the private
``_unverified_payload``.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from garrison.errors import InvalidSignature
from garrison.signing.keyring import Keyring

__all__ = ["IN_TOTO_PAYLOAD_TYPE", "pae", "sign", "sign_json", "verify", "verify_json"]

IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding."""
    ptype = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(ptype), ptype, len(payload), payload)


def sign(keyring: Keyring, payload_type: str, payload: bytes) -> dict[str, Any]:
    key_id, signature = keyring.sign(pae(payload_type, payload))
    return {
        "payloadType": payload_type,
        "payload": base64.b64encode(payload).decode(),
        "signatures": [{"keyid": key_id, "sig": base64.b64encode(signature).decode()}],
    }


def sign_json(keyring: Keyring, payload_type: str, statement: dict[str, Any]) -> dict[str, Any]:
    body = json.dumps(statement, sort_keys=True, separators=(",", ":")).encode()
    return sign(keyring, payload_type, body)


def _unverified_payload(envelope: Any) -> tuple[str, bytes, list[Any]]:
    if not isinstance(envelope, dict):
        raise InvalidSignature("envelope is not an object")
    ptype, payload_b64, sigs = (
        envelope.get("payloadType"),
        envelope.get("payload"),
        envelope.get("signatures"),
    )
    if not isinstance(ptype, str) or not isinstance(payload_b64, str):
        raise InvalidSignature("envelope lacks payloadType or payload")
    if not isinstance(sigs, list) or not sigs:
        raise InvalidSignature("envelope is unsigned")
    try:
        payload = base64.b64decode(payload_b64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidSignature("envelope payload is not base64") from exc
    return ptype, payload, sigs


def verify(keyring: Keyring, envelope: Any, *, payload_type: str) -> bytes:
    """Return the payload if one signature by a known key verifies; raise otherwise."""
    ptype, payload, sigs = _unverified_payload(envelope)
    if ptype != payload_type:
        raise InvalidSignature(
            "envelope was signed for another purpose", expected=payload_type, got=ptype
        )
    message = pae(ptype, payload)
    last: InvalidSignature | None = None
    for entry in sigs:
        if not isinstance(entry, dict):
            continue
        try:
            sig = base64.b64decode(str(entry.get("sig", "")), validate=True)
            keyring.verify(str(entry.get("keyid", "")), sig, message)
            return payload
        except (binascii.Error, ValueError):
            last = InvalidSignature("signature is not base64")
        except InvalidSignature as exc:
            last = exc
    raise last or InvalidSignature("no usable signature")


def verify_json(keyring: Keyring, envelope: Any, *, payload_type: str) -> dict[str, Any]:
    payload = verify(keyring, envelope, payload_type=payload_type)
    try:
        statement = json.loads(payload)
    except ValueError as exc:
        raise InvalidSignature("signed payload is not JSON") from exc
    if not isinstance(statement, dict):
        raise InvalidSignature("signed payload is not a JSON object")
    return statement
