"""Newest-first pages of the audit trail (the console's), on both backends."""

from __future__ import annotations

import io
import json

from garrison.audit import AuditDraft, AuditQuery
from garrison.governance import AuditService, Guard
from garrison.identity import Principal


def _fill(store, n: int = 12) -> None:
    for i in range(n):
        store.append(AuditDraft(action="view-model", actor="ann" if i % 2 else "bo",
                                resource=f"model:m:{i}"))


def test_newest_first_pages_walk_back_without_gaps_or_repeats(store) -> None:
    _fill(store)
    first = store.query(AuditQuery(newest_first=True, limit=5))
    assert [r.seq for r in first] == [12, 11, 10, 9, 8]
    second = store.query(AuditQuery(newest_first=True, limit=5, before_seq=first[-1].seq))
    assert [r.seq for r in second] == [7, 6, 5, 4, 3]
    filtered = store.query(AuditQuery(actor="ann", newest_first=True, before_seq=9, limit=3))
    assert [r.seq for r in filtered] == [8, 6, 4]
    # Oldest first stays the default (the API, the CLI and exports rely on it).
    assert [r.seq for r in store.query(AuditQuery(limit=3))] == [1, 2, 3]


def test_an_export_keeps_its_upper_bound_and_is_oldest_first(store) -> None:
    _fill(store)
    auditor = Principal(id="a", name="aud", kind="human", created="t",
                        roles=frozenset({"auditor"}))
    out = io.StringIO()
    service = AuditService(store, Guard(store))
    count = service.export(auditor, AuditQuery(before_seq=6, newest_first=True, limit=None), out)
    assert count == 5
    assert [json.loads(line)["seq"] for line in out.getvalue().splitlines()] == [1, 2, 3, 4, 5]
