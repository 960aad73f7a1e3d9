"""Signed model manifests: in-toto Statement v1 in a DSSE envelope.

The shape follows the OpenSSF model-signing work: the subject is the artifact with
its SHA-256, the predicate records what Garrison vouches for (name, version, format,
registrant, time, scan verdict, dataset digests, code commit, input-schema digest) and,
since ML-BOMs, the BOM's digest and the OpenSSF signatures of the artifact.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from garrison.errors import InvalidSignature
from garrison.signing import IN_TOTO_PAYLOAD_TYPE, Keyring, sign_json, verify_json

__all__ = ["PREDICATE_TYPE", "build_statement", "sign_manifest", "verify_manifest"]

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://garrison.dev/model-manifest/v1"


def _digest_json(value: Any) -> str:
    body = json.dumps(value, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(body).hexdigest()


def build_statement(
    *, name: str, version: int, digest: str, size: int, fmt: str, registrant: str,
    created: str, scan: dict[str, Any], metadata: dict[str, Any],
    provenance: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The in-toto statement of a version. ``provenance`` adds the ML-BOM's digest
    (``bom_sha256``), Garrison's OpenSSF signature (``model_signature``) and the
    registrant's verified one (``supplied_signature``) to the predicate."""
    statement: dict[str, Any] = {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": f"{name}:{version}", "digest": {"sha256": digest}}],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "name": name,
            "version": version,
            "format": fmt,
            "size": size,
            "registrant": registrant,
            "created": created,
            "scan": {"verdict": scan.get("verdict"), "format": scan.get("format"),
                     "findings": [f.get("rule_id") for f in scan.get("findings", [])],
                     "policy_extension": scan.get("policy_extension", [])},
            "datasets": metadata.get("datasets", []),
            "code_commit": metadata.get("code_commit", ""),
            "framework": metadata.get("framework", ""),
            "input_schema_sha256": _digest_json(metadata.get("input_schema")),
            "metadata_sha256": _digest_json(metadata),
        },
    }
    if provenance:
        statement["predicate"].update(provenance)
    return statement


def sign_manifest(keyring: Keyring, statement: dict[str, Any]) -> dict[str, Any]:
    return sign_json(keyring, IN_TOTO_PAYLOAD_TYPE, statement)


def verify_manifest(
    keyring: Keyring, envelope: Any, *, name: str, version: int, digest: str,
    metadata: dict[str, Any],
) -> dict[str, Any]:
    """Verify the signature and that it vouches for exactly this artifact; return the predicate."""
    statement = verify_json(keyring, envelope, payload_type=IN_TOTO_PAYLOAD_TYPE)
    if statement.get("_type") != STATEMENT_TYPE or statement.get("predicateType") != PREDICATE_TYPE:
        raise InvalidSignature("the envelope does not hold a Garrison model manifest")
    subject = statement.get("subject") or [{}]
    expected = {"name": f"{name}:{version}", "digest": {"sha256": digest}}
    if subject != [expected]:
        raise InvalidSignature("the manifest vouches for another artifact", expected=expected)
    predicate = statement.get("predicate") or {}
    if predicate.get("metadata_sha256") != _digest_json(metadata):
        raise InvalidSignature("the version's metadata differs from the signed manifest")
    return predicate
