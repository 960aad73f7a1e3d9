"""Signed gate documents: the gate report (in-toto), the stored policy and the overrides.

Everything a release gate decides on is read back from a signed envelope, never from
the database columns next to it: the columns only find the row.

* The **gate report** is an in-toto Statement v1 in a DSSE envelope. Its subject is the
  artifact (``NAME:VERSION`` and its SHA-256), its predicate (``PREDICATE_TYPE``) holds
  the digests of the holdout dataset, of the training datasets and of the policy, the
  production version it was compared with, and every check's numbers, thresholds and
  verdict. :func:`verify_report` refuses an envelope that does not verify or vouches
  for another artifact.
* A **policy record** binds a model name, a revision number and the policy's digest
  (payload type ``POLICY_PAYLOAD_TYPE``).
* An **override** is two envelopes (payload type ``OVERRIDE_PAYLOAD_TYPE``): the
  request (who, why, for which artifact and policy) and the approval by a second admin,
  which names the request's digest.

Each payload type is its own purpose, so no document can be replayed as another.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from garrison.errors import InvalidSignature
from garrison.signing import IN_TOTO_PAYLOAD_TYPE, Keyring, sign_json, verify_json

__all__ = [
    "OVERRIDE_PAYLOAD_TYPE",
    "POLICY_PAYLOAD_TYPE",
    "PREDICATE_TYPE",
    "STATEMENT_TYPE",
    "build_report_statement",
    "envelope_sha256",
    "sign_document",
    "sign_report",
    "verify_document",
    "verify_report",
]

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://garrison.dev/gate-report/v1"
POLICY_PAYLOAD_TYPE = "application/vnd.garrison.gate-policy+json"
OVERRIDE_PAYLOAD_TYPE = "application/vnd.garrison.gate-override+json"


def canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def envelope_sha256(envelope: dict[str, Any]) -> str:
    """The SHA-256 of an envelope's canonical JSON (what audit events and overrides name)."""
    return hashlib.sha256(canonical(envelope)).hexdigest()


def build_report_statement(*, name: str, version: int, digest: str,
                           predicate: dict[str, Any]) -> dict[str, Any]:
    """The in-toto statement of one gate run over the artifact ``name:version``."""
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": f"{name}:{version}", "digest": {"sha256": digest}}],
        "predicateType": PREDICATE_TYPE,
        "predicate": predicate,
    }


def sign_report(keyring: Keyring, statement: dict[str, Any]) -> dict[str, Any]:
    return sign_json(keyring, IN_TOTO_PAYLOAD_TYPE, statement)


def verify_report(keyring: Keyring, envelope: Any, *, name: str, version: int,
                  digest: str) -> dict[str, Any]:
    """Verify a gate report's signature and that it is about exactly this artifact;
    return its predicate. Raises :class:`InvalidSignature`."""
    statement = verify_json(keyring, envelope, payload_type=IN_TOTO_PAYLOAD_TYPE)
    if (statement.get("_type") != STATEMENT_TYPE
            or statement.get("predicateType") != PREDICATE_TYPE):
        raise InvalidSignature("the envelope does not hold a Garrison gate report")
    expected = {"name": f"{name}:{version}", "digest": {"sha256": digest}}
    if statement.get("subject") != [expected]:
        raise InvalidSignature("the gate report vouches for another artifact",
                               expected=expected)
    predicate = statement.get("predicate")
    if not isinstance(predicate, dict):
        raise InvalidSignature("the gate report has no predicate")
    return predicate


def sign_document(keyring: Keyring, payload_type: str, body: dict[str, Any]) -> dict[str, Any]:
    """Sign a policy record or an override (``POLICY_PAYLOAD_TYPE``, ``OVERRIDE_PAYLOAD_TYPE``)."""
    return sign_json(keyring, payload_type, body)


def verify_document(keyring: Keyring, envelope: Any, payload_type: str,
                    expect: dict[str, Any]) -> dict[str, Any]:
    """Verify ``envelope`` for ``payload_type`` and that its body holds ``expect``'s values
    (the row's keys: a signed document moved to another row is refused)."""
    body = verify_json(keyring, envelope, payload_type=payload_type)
    for key, value in expect.items():
        if body.get(key) != value:
            raise InvalidSignature(f"the signed gate document does not match its record "
                                   f"({key})", field=key)
    return body
