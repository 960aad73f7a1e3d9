"""Two admins removing each other at the same moment must not leave zero enabled admins.

Each thread runs the real ``AccountService`` -> ``Guard.run`` -> ``Store.write`` path. A
rendezvous placed just before the write (``set_disabled`` / ``remove_role`` on the
repository) holds the first thread there until the other thread has ALSO done its check
and reached its write (the race: both checked before either wrote), or is observably
blocked by the database (PostgreSQL: its backend waits on a lock; SQLite: writers are
serialized, so the other thread cannot be inside a write transaction at all). Hence the
outcome does not depend on timing: without row locks both writes happen and both commit.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import text

from garrison.errors import Conflict
from garrison.governance import AccountService, Guard
from garrison.identity import Principal
from garrison.storage import Store
from garrison.storage.repos import SQLPrincipalRepository

DEADLINE = 30.0


class _Rendezvous:
    """Per-thread hooks on the principal repository (inactive outside the racing threads)."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._local = threading.local()
        self._lock = threading.Lock()
        self._pids: dict[str, int] = {}
        self._arrived: set[str] = set()
        self.how: dict[str, str] = {}

    def join_as(self, me: str) -> None:
        self._local.me = me

    def _me(self) -> str | None:
        return getattr(self._local, "me", None)

    def entered(self, repo: SQLPrincipalRepository) -> None:
        """First repository call inside the thread's write transaction: note its backend."""
        me = self._me()
        if me is None or me in self._pids:
            return
        conn = repo._conn
        pid = (int(conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())
               if conn.dialect.name == "postgresql" else 0)
        with self._lock:
            self._pids[me] = pid

    def _peer_blocked(self, peer: str) -> bool:
        if self._store.engine.dialect.name == "sqlite":
            return True  # One writer at a time: the peer waits for this transaction.
        with self._lock:
            pid = self._pids.get(peer)
        if pid is None:
            return False  # Not in its transaction yet.
        with self._store.engine.connect() as conn:  # A new transaction: fresh statistics.
            wait = conn.execute(
                text("SELECT wait_event_type FROM pg_stat_activity WHERE pid = :pid"),
                {"pid": pid},
            ).scalar()
        return wait == "Lock"

    def before_write(self) -> None:
        me = self._me()
        if me is None:
            return
        peer = "b" if me == "a" else "a"
        with self._lock:
            self._arrived.add(me)
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline:
            with self._lock:
                if peer in self._arrived:
                    self.how[me] = "peer-checked-too"
                    return
            if self._peer_blocked(peer):
                self.how[me] = "peer-blocked"
                return
            time.sleep(0.01)
        raise AssertionError(f"{peer} neither reached its write nor blocked")


@pytest.fixture
def rendezvous(store: Store, monkeypatch: pytest.MonkeyPatch) -> Iterator[_Rendezvous]:
    rv = _Rendezvous(store)
    get_by_name = SQLPrincipalRepository.get_by_name
    set_disabled = SQLPrincipalRepository.set_disabled
    remove_role = SQLPrincipalRepository.remove_role

    def hooked_get_by_name(self: SQLPrincipalRepository, name: str) -> Principal:
        rv.entered(self)
        return get_by_name(self, name)

    def hooked_set_disabled(self: SQLPrincipalRepository, pid: str, disabled: bool) -> None:
        rv.before_write()
        set_disabled(self, pid, disabled)

    def hooked_remove_role(self: SQLPrincipalRepository, pid: str, role: str) -> None:
        rv.before_write()
        remove_role(self, pid, role)

    monkeypatch.setattr(SQLPrincipalRepository, "get_by_name", hooked_get_by_name)
    monkeypatch.setattr(SQLPrincipalRepository, "set_disabled", hooked_set_disabled)
    monkeypatch.setattr(SQLPrincipalRepository, "remove_role", hooked_remove_role)
    yield rv


def _disable(accounts: AccountService, actor: Principal, target: str) -> Principal:
    return accounts.set_disabled(actor, target, True)


def _demote(accounts: AccountService, actor: Principal, target: str) -> Principal:
    return accounts.revoke_role(actor, target, "admin")


Remove = Callable[[AccountService, Principal, str], Principal]


@pytest.mark.parametrize("remove_a,remove_b", [
    (_disable, _disable),
    (_demote, _demote),
    (_disable, _demote),
], ids=["disable-disable", "demote-demote", "disable-demote"])
def test_two_admins_removing_each_other_leave_one(
    store: Store, clock: Any, rendezvous: _Rendezvous, remove_a: Remove, remove_b: Remove,
) -> None:
    accounts = AccountService(store, Guard(store), clock)
    root, _ = accounts.bootstrap_admin("root")
    root2 = accounts.create_principal(root, "root2", roles=["admin"])
    outcomes: dict[str, object] = {}

    def run(me: str, remove: Remove, actor: Principal, target: str) -> None:
        rendezvous.join_as(me)
        try:
            outcomes[me] = remove(accounts, actor, target)
        except Exception as exc:  # reported by the assertions below
            outcomes[me] = exc

    threads = [
        threading.Thread(target=run, args=("a", remove_a, root, "root2")),
        threading.Thread(target=run, args=("b", remove_b, root2, "root")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(DEADLINE * 2)
    assert not any(t.is_alive() for t in threads), "a racing thread hung"

    failed = [o for o in outcomes.values() if isinstance(o, Exception)]
    succeeded = [o for o in outcomes.values() if isinstance(o, Principal)]
    assert len(succeeded) == 1 and len(failed) == 1, outcomes
    assert isinstance(failed[0], Conflict), failed[0]
    enabled_admins = [p.name for p in accounts.list_principals(root)
                      if "admin" in p.roles and not p.disabled]
    assert len(enabled_admins) == 1, enabled_admins
    if store.engine.dialect.name == "postgresql":
        # The first writer went ahead because the second one was blocked by its row locks.
        assert "peer-blocked" in rendezvous.how.values(), rendezvous.how
