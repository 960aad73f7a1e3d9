"""Authorization: the action registry and the role -> action policy."""

from garrison.authz.actions import ACTIONS, Action, action
from garrison.authz.policy import ROLE_ACTIONS, ROLES, Subject, allowed, require, role_table

__all__ = [
    "ACTIONS",
    "ROLES",
    "ROLE_ACTIONS",
    "Action",
    "Subject",
    "action",
    "allowed",
    "require",
    "role_table",
]
