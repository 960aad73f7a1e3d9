"""The shape of an allow-list entry (shared by the tables in ``_allow_table`` and
``_allow_libs``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["ALL_LOADERS", "AllowEntry", "Family", "Kind", "same"]

ALL_LOADERS = frozenset({"pickle", "joblib", "torch"})

#: ``value``: may be imported, called with allow-listed data and stored anywhere.
#: ``reconstructor``: creates an instance of the class given as its first argument, which
#: must be a directly imported, allow-listed class (like ``copyreg.__newobj__``).
#: ``guarded``: only a call whose arguments have the fixed form its guard checks is
#: allowed; the global itself may not be stored, passed or returned.
#: ``partial``: ``functools.partial``, whose target must be a value entry.
Kind = Literal["value", "reconstructor", "guarded", "partial"]


@dataclass(frozen=True)
class AllowEntry:
    """One exact ``module.name`` entry."""

    why: str
    loaders: frozenset[str] = ALL_LOADERS
    kind: Kind = "value"
    #: For ``guarded`` entries: the id of the argument check in ``_pickle_guards``.
    guard: str | None = None


@dataclass(frozen=True)
class Family:
    """A documented group of entries decided by module and name rules (see allowlist.py)."""

    id: str
    pattern: str
    why: str
    kind: Kind = "value"


def same(
    why: str,
    *names: str,
    loaders: frozenset[str] = ALL_LOADERS,
    kind: Kind = "value",
    guard: str | None = None,
) -> dict[str, AllowEntry]:
    """The same entry (reason, loaders, kind) for several names."""
    return {name: AllowEntry(why, loaders, kind, guard) for name in names}
