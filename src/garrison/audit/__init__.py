"""The tamper-evident audit trail: events, redaction, the hash chain and its verification."""

from garrison.audit.chain import (
    CHAIN_VERSION,
    GENESIS,
    Checkpoint,
    Verifier,
    VerifyReport,
    checkpoint_message,
    record_hash,
    verify_chain,
)
from garrison.audit.events import (
    OUTCOMES,
    SYSTEM_ACTOR,
    AuditDraft,
    AuditRecord,
    Outcome,
    canonical_json,
)
from garrison.audit.incidents import (
    ACKNOWLEDGE_ACTION,
    QUARANTINE_ACTION,
    Incident,
    incidents_from,
)
from garrison.audit.ports import AuditLog, AuditQuery, Signer
from garrison.audit.redact import REDACTED, redact

__all__ = [
    "ACKNOWLEDGE_ACTION",
    "CHAIN_VERSION",
    "GENESIS",
    "OUTCOMES",
    "QUARANTINE_ACTION",
    "REDACTED",
    "SYSTEM_ACTOR",
    "AuditDraft",
    "AuditLog",
    "AuditQuery",
    "AuditRecord",
    "Checkpoint",
    "Incident",
    "Outcome",
    "Signer",
    "Verifier",
    "VerifyReport",
    "canonical_json",
    "checkpoint_message",
    "incidents_from",
    "record_hash",
    "redact",
    "verify_chain",
]
