"""Governance workflows: audited accounts and keys, console sessions, the audit trail."""

from garrison.governance.accounts import AccountService, NewKey
from garrison.governance.auditing import AuditService
from garrison.governance.guard import Guard
from garrison.governance.ports import AuditWriter, TxView, UnitOfWork
from garrison.governance.sessions import ActiveSession, OpenedSession, SessionService
from garrison.governance.throttle import LoginThrottle

__all__ = [
    "AccountService",
    "ActiveSession",
    "AuditService",
    "AuditWriter",
    "Guard",
    "LoginThrottle",
    "NewKey",
    "OpenedSession",
    "SessionService",
    "TxView",
    "UnitOfWork",
]
