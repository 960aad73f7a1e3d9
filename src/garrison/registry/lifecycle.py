"""The lifecycle of a model version: a pure table of allowed stage transitions.

::

    registered -> approved -> shadow -> production -> retired
         \\-> rejected   \\-------------^     |
                                             v (superseded or rolled back)
                                          approved

``approved`` is the only way past ``registered``; ``rejected`` and ``retired`` are final.
"""

from __future__ import annotations

from enum import StrEnum

from garrison.errors import InvalidTransition

__all__ = ["TRANSITIONS", "Stage", "ensure_transition"]


class Stage(StrEnum):
    REGISTERED = "registered"
    APPROVED = "approved"
    REJECTED = "rejected"
    SHADOW = "shadow"
    PRODUCTION = "production"
    RETIRED = "retired"


TRANSITIONS: dict[Stage, frozenset[Stage]] = {
    Stage.REGISTERED: frozenset({Stage.APPROVED, Stage.REJECTED}),
    Stage.APPROVED: frozenset({Stage.SHADOW, Stage.PRODUCTION, Stage.RETIRED, Stage.REJECTED}),
    Stage.SHADOW: frozenset({Stage.PRODUCTION, Stage.APPROVED, Stage.RETIRED}),
    Stage.PRODUCTION: frozenset({Stage.APPROVED, Stage.RETIRED}),
    Stage.REJECTED: frozenset(),
    Stage.RETIRED: frozenset(),
}


def ensure_transition(current: str, target: str) -> None:
    """Raise :class:`InvalidTransition` unless ``current -> target`` is in the table."""
    try:
        src, dst = Stage(current), Stage(target)
    except ValueError as exc:
        raise InvalidTransition(f"unknown stage in {current!r} -> {target!r}") from exc
    if dst not in TRANSITIONS[src]:
        raise InvalidTransition(f"a {src} version cannot become {dst}", current=src, target=dst)
