"""One storage contract, run on SQLite and on the real PostgreSQL server."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import event

from garrison.audit import AuditDraft, AuditQuery
from garrison.errors import AlreadyExists, APIKeyNotFound, PrincipalNotFound, SchemaOutOfDate
from garrison.identity import APIKey, Principal
from garrison.storage import Store
from garrison.testing import make_store


def _principal(name: str, roles=("auditor",)) -> Principal:
    return Principal(id=f"id-{name}", name=name, kind="human",
                     created="2026-01-01T00:00:00.000000Z", roles=frozenset(roles))


def test_principal_round_trip(store: Store) -> None:
    with store.write() as tx:
        tx.principals.add(_principal("alice", ("admin", "auditor")))
    with store.read() as tx:
        got = tx.principals.get_by_name("alice")
        assert got.roles == {"admin", "auditor"} and not got.disabled
        assert tx.principals.get("id-alice") == got
        assert tx.principals.count() == 1


def test_duplicate_name_is_refused_and_nothing_is_written(store: Store) -> None:
    with store.write() as tx:
        tx.principals.add(_principal("alice"))
    with pytest.raises(AlreadyExists), store.write() as tx:
        tx.principals.add(Principal(id="other", name="alice", kind="human", created="x"))
    with store.read() as tx:
        assert [p.id for p in tx.principals.list()] == ["id-alice"]


def test_failed_transaction_writes_nothing(store: Store) -> None:
    """A change and its audit event commit together or not at all."""
    with pytest.raises(RuntimeError), store.write() as tx:
        tx.principals.add(_principal("bob"))
        tx.audit.append(AuditDraft(action="create-principal", actor="admin"))
        raise RuntimeError("boom")
    with store.read() as tx:
        assert tx.principals.count() == 0
    assert list(store.records()) == [] and store.head() is None


def test_missing_objects_raise_not_found(store: Store) -> None:
    with store.read() as tx:
        with pytest.raises(PrincipalNotFound):
            tx.principals.get_by_name("nobody")
        with pytest.raises(APIKeyNotFound):
            tx.api_keys.get_by_prefix("000000000000")


def test_hostile_strings_are_stored_literally(store: Store) -> None:
    """Statements are parameterized: SQL in values is data, never code."""
    evil = "x'); DROP TABLE principals; --"
    store.append(AuditDraft(action="create-principal", actor=evil, resource=evil,
                            payload={"q": evil}))
    with store.write() as tx:
        tx.principals.add(_principal("robert.tables"))
    [rec] = store.query(AuditQuery(actor=evil))
    assert rec.resource == evil
    with store.read() as tx:
        assert tx.principals.count() == 1


def test_roles_and_disable(store: Store) -> None:
    with store.write() as tx:
        tx.principals.add(_principal("carol"))
        tx.principals.add_role("id-carol", "approver")
        tx.principals.add_role("id-carol", "approver")  # idempotent
        tx.principals.remove_role("id-carol", "auditor")
        tx.principals.set_disabled("id-carol", True)
    with store.read() as tx:
        got = tx.principals.get("id-carol")
    assert got.roles == {"approver"} and got.disabled


def test_list_loads_all_roles_in_one_query(store: Store) -> None:
    with store.write() as tx:
        tx.principals.add(_principal("zed", ("admin", "auditor")))
        tx.principals.add(_principal("amy", ()))
        tx.principals.add(_principal("max", ("approver",)))
        tx.principals.set_disabled("id-max", True)
    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany) -> None:
        statements.append(statement)

    with store.read() as tx:
        event.listen(store.engine, "before_cursor_execute", count)
        try:
            got = tx.principals.list()
        finally:
            event.remove(store.engine, "before_cursor_execute", count)
        assert got == [tx.principals.get_by_name(n) for n in ("amy", "max", "zed")]
    assert [(p.name, p.roles, p.disabled) for p in got] == [
        ("amy", frozenset(), False), ("max", {"approver"}, True),
        ("zed", {"admin", "auditor"}, False),
    ]
    assert len(statements) == 2, statements  # principals, then every role: no N+1


def test_lock_enabled_admins(store: Store) -> None:
    with store.write() as tx:
        assert tx.principals.lock_enabled_admins() == []
        for name in ("bea", "al", "cy", "dee"):
            tx.principals.add(_principal(name, ("admin", "auditor")))
        tx.principals.add(_principal("eve", ("auditor",)))
        tx.principals.set_disabled("id-cy", True)
        tx.principals.remove_role("id-dee", "admin")
        assert tx.principals.lock_enabled_admins() == ["id-al", "id-bea"]


def test_api_key_lifecycle(store: Store) -> None:
    with store.write() as tx:
        tx.principals.add(_principal("dave"))
        tx.api_keys.add(APIKey(id="k1", prefix="abcdef012345", principal_id="id-dave",
                               name="ci", key_hash="0" * 64, created="2026-01-01T00:00:00Z"))
    with store.write() as tx:
        tx.api_keys.touch("k1", "2026-01-02T00:00:00Z")
        tx.api_keys.revoke("k1", "2026-01-03T00:00:00Z")
        tx.api_keys.revoke("k1", "2026-01-09T00:00:00Z")  # first revocation time is kept
    with store.read() as tx:
        key = tx.api_keys.get_by_prefix("abcdef012345")
        assert (key.last_used, key.revoked) == ("2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z")
        assert [k.id for k in tx.api_keys.list("id-dave")] == ["k1"]
        assert tx.api_keys.list("someone-else") == []


def test_audit_query_filters(store: Store, clock) -> None:
    store.append(AuditDraft(action="create-principal", actor="alice"))
    clock.advance(3600)
    store.append(AuditDraft(action="grant-role", actor="bob", outcome="denied"))
    store.append(AuditDraft(action="grant-role", actor="alice", request_id="r-1"))
    assert [r.seq for r in store.query(AuditQuery(actor="alice"))] == [1, 3]
    assert [r.seq for r in store.query(AuditQuery(action="grant-role"))] == [2, 3]
    assert [r.seq for r in store.query(AuditQuery(outcome="denied"))] == [2]
    assert [r.seq for r in store.query(AuditQuery(request_id="r-1"))] == [3]
    assert [r.seq for r in store.query(AuditQuery(since="2026-01-01T00:30:00Z"))] == [2, 3]
    assert [r.seq for r in store.query(AuditQuery(until="2026-01-01T00:30:00Z"))] == [1]
    assert [r.seq for r in store.query(AuditQuery(limit=1, after_seq=1))] == [2]


def test_latest_seq_of_successful_actions(store: Store) -> None:
    assert store.latest_seq(["revoke-api-key"]) == 0
    first = store.append(AuditDraft(action="revoke-api-key", actor="root")).seq
    store.append(AuditDraft(action="grant-role", actor="root", outcome="denied"))
    store.append(AuditDraft(action="view-model", actor="alice"))
    assert store.latest_seq(["revoke-api-key", "grant-role"]) == first  # ok events only
    last = store.append(AuditDraft(action="grant-role", actor="root")).seq
    assert store.latest_seq(["revoke-api-key", "grant-role"]) == last
    assert store.latest_seq(["x'; DROP TABLE audit_events; --"]) == 0


def test_append_many_is_one_chain(store: Store) -> None:
    out = store.append_many([AuditDraft(action="invoke-model", actor="app")] * 25)
    assert [r.seq for r in out] == list(range(1, 26))
    assert all(b.prev_hash == a.hash for a, b in zip(out, out[1:], strict=False))
    assert store.head().seq == 25  # type: ignore[union-attr]
    assert [c.seq for c in store.checkpoints()] == [10, 20]


def test_concurrent_threads_make_one_chain(store: Store) -> None:
    def work(n: int) -> None:
        for i in range(20):
            store.append(AuditDraft(action="invoke-model", actor=f"t{n}", payload={"i": i}))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    records = list(store.records())
    assert [r.seq for r in records] == list(range(1, 81))
    assert all(b.prev_hash == a.hash for a, b in zip(records, records[1:], strict=False))


def test_schema_check(db_url: str) -> None:
    fresh = Store(db_url, signer=None)  # type: ignore[arg-type]
    with pytest.raises(SchemaOutOfDate):
        fresh.ensure_current()
    fresh.upgrade()
    fresh.upgrade()  # idempotent
    fresh.ensure_current()
    fresh.dispose()


def test_make_store_upgrades(db_url: str) -> None:
    s = make_store(db_url)
    s.ensure_current()
    s.dispose()
