"""Governance workflows: audited accounts and keys, and the audit trail service."""

from garrison.governance.accounts import AccountService, NewKey
from garrison.governance.auditing import AuditService
from garrison.governance.decisions_audit import DecisionAudit, DecisionChecker
from garrison.governance.guard import Guard
from garrison.governance.ports import AuditWriter, TxView, UnitOfWork

__all__ = [
    "AccountService",
    "AuditService",
    "AuditWriter",
    "DecisionAudit",
    "DecisionChecker",
    "Guard",
    "NewKey",
    "TxView",
    "UnitOfWork",
]
