"""Console sessions: opened once from a key, ended for good by everything that should."""

from __future__ import annotations

import pytest

from garrison.audit import AuditQuery
from garrison.errors import AuthenticationFailed, Forbidden, RateLimited
from garrison.governance import AccountService, Guard, LoginThrottle, SessionService
from garrison.identity import session_id_of


@pytest.fixture
def world(store, clock):
    guard = Guard(store)
    accounts = AccountService(store, guard, clock)
    root, root_key = accounts.bootstrap_admin("root")
    people = {"root": root}
    keys = {"root": root_key.secret}
    for name, roles in (("bob", ["approver"]), ("eve", ["client"])):
        people[name] = accounts.create_principal(root, name, roles=roles)
        keys[name] = accounts.create_key(root, name, days=30).secret
    sessions = SessionService(store, guard, accounts, clock, idle_timeout=600, lifetime=3600,
                              throttle=LoginThrottle(max_failures=3, window=600, clock=clock))
    return sessions, accounts, people, keys


def events(store, **filters):
    return store.query(AuditQuery(limit=None, **filters))


def test_a_key_is_exchanged_for_a_session_stored_only_as_a_hash(world, store) -> None:
    sessions, _, people, keys = world
    opened = sessions.open_with_key(keys["bob"], client="10.0.0.7", request_id="r1")
    assert opened.token.startswith("gs1_") and opened.principal == people["bob"]
    assert opened.session.id == session_id_of(opened.token)
    with store.engine.connect() as conn:
        dump = "\n".join(str(row) for table in ("console_sessions", "audit_events")
                         for row in conn.exec_driver_sql(f"SELECT * FROM {table}"))
    assert opened.token not in dump and opened.token[4:] not in dump
    active = sessions.resume(opened.token)
    assert active.principal.name == "bob" and active.session.ref == opened.session.ref
    [event] = events(store, action="open-console-session")
    assert (event.actor, event.outcome, event.request_id) == ("bob", "ok", "r1")
    assert f'"console_ref":"{opened.session.ref}"' in event.payload
    assert '"client":"10.0.0.7"' in event.payload


def test_sign_out_revokes_and_a_replayed_cookie_is_refused_and_recorded(world, store) -> None:
    sessions, *_ , keys = world
    opened = sessions.open_with_key(keys["bob"])
    assert sessions.close(opened.token, request_id="bye") is True
    assert sessions.close(opened.token) is False  # Already closed: nothing to do.
    with pytest.raises(AuthenticationFailed) as info:
        sessions.resume(opened.token, request_id="replay")
    assert info.value.detail["why"] == "revoked-session"
    closed = events(store, action="close-console-session")
    assert [(e.actor, e.request_id) for e in closed] == [("bob", "bye")]
    [denied] = events(store, action="authenticate", request_id="replay")
    assert (denied.outcome, denied.reason) == ("denied", "revoked-session")
    assert opened.session.ref in denied.payload


def test_idle_timeout_ends_the_session_for_good(world, clock) -> None:
    sessions, *_ , keys = world
    opened = sessions.open_with_key(keys["bob"])
    clock.advance(599)
    sessions.resume(opened.token)  # Activity: the idle clock starts again.
    clock.advance(599)
    sessions.resume(opened.token)
    clock.advance(600)
    with pytest.raises(AuthenticationFailed) as info:
        sessions.resume(opened.token)
    assert info.value.detail["why"] == "idle-session"
    clock.advance(-1200)  # Even if the clock went back, an ended session stays ended.
    with pytest.raises(AuthenticationFailed) as again:
        sessions.resume(opened.token)
    assert again.value.detail["why"] == "revoked-session"


def test_absolute_lifetime_ends_an_active_session(world, clock) -> None:
    sessions, *_ , keys = world
    opened = sessions.open_with_key(keys["bob"])
    for _ in range(7):
        clock.advance(500)
        sessions.resume(opened.token)
    clock.advance(100)
    with pytest.raises(AuthenticationFailed) as info:
        sessions.resume(opened.token)
    assert info.value.detail["why"] == "expired-session"


def test_a_session_never_outlives_its_key(world, clock, store) -> None:
    sessions, accounts, people, _ = world
    short = accounts.create_key(people["root"], "bob", days=1)
    clock.advance(86_400 - 1800)
    opened = sessions.open_with_key(short.secret)
    assert opened.session.expires == short.record.expires
    clock.advance(1800)
    with pytest.raises(AuthenticationFailed) as info:
        sessions.resume(opened.token)
    assert info.value.detail["why"] == "expired-session"


@pytest.mark.parametrize("change,why", [
    (lambda a, root: a.revoke_key(root, "PREFIX"), "revoked-key"),
    (lambda a, root: a.set_disabled(root, "bob", True), "disabled-principal"),
])
def test_revoking_the_key_or_disabling_the_person_ends_their_sessions(world, change,
                                                                      why) -> None:
    sessions, accounts, people, _ = world
    new = accounts.create_key(people["root"], "bob")
    opened = sessions.open_with_key(new.secret)
    sessions.resume(opened.token)
    if why == "revoked-key":
        accounts.revoke_key(people["root"], new.record.prefix)
    else:
        change(accounts, people["root"])
    with pytest.raises(AuthenticationFailed) as info:
        sessions.resume(opened.token)
    assert info.value.detail["why"] == why


def test_a_role_taken_away_is_gone_at_the_next_request(world) -> None:
    sessions, accounts, people, keys = world
    opened = sessions.open_with_key(keys["bob"])
    accounts.revoke_role(people["root"], "bob", "approver")
    assert sessions.resume(opened.token).principal.roles == frozenset()


def test_signing_in_again_rotates_the_token_and_revokes_the_old_one(world) -> None:
    sessions, *_ , keys = world
    first = sessions.open_with_key(keys["bob"])
    second = sessions.open_with_key(keys["bob"], replaces=first.token)
    assert second.token != first.token and second.session.csrf != first.session.csrf
    sessions.resume(second.token)
    with pytest.raises(AuthenticationFailed):
        sessions.resume(first.token)


def test_a_client_may_not_open_a_console_session(world, store) -> None:
    sessions, *_ , keys = world
    with pytest.raises(Forbidden):
        sessions.open_with_key(keys["eve"], request_id="c1")
    [denied] = events(store, action="open-console-session")
    assert (denied.actor, denied.outcome, denied.reason) == ("eve", "denied",
                                                             "no-role-grants-action")
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM console_sessions").scalar() == 0


def test_failed_sign_ins_are_throttled_and_every_one_is_recorded(world, store, clock) -> None:
    sessions, *_ , keys = world
    wrong = keys["bob"][:-4] + "AAAA"
    for _ in range(3):
        with pytest.raises(AuthenticationFailed):
            sessions.open_with_key(wrong, client="203.0.113.9")
    # Locked out: even the right key is refused from that address until the window ends.
    with pytest.raises(RateLimited) as info:
        sessions.open_with_key(keys["bob"], client="203.0.113.9")
    assert 0 < info.value.retry_after <= 600
    sessions.open_with_key(keys["root"], client="198.51.100.1")  # Another address is fine.
    reasons = [e.reason for e in events(store, action="authenticate")]
    assert reasons == ["wrong-secret"] * 3 + ["sign-in-throttled"]
    assert all('"client":"203.0.113.9"' in e.payload
               for e in events(store, action="authenticate"))
    clock.advance(601)
    sessions.open_with_key(keys["bob"], client="203.0.113.9")


def test_the_throttle_also_follows_the_key_across_addresses(world) -> None:
    sessions, *_ , keys = world
    wrong = keys["bob"][:-4] + "AAAA"
    for n in range(3):
        with pytest.raises(AuthenticationFailed):
            sessions.open_with_key(wrong, client=f"192.0.2.{n}")
    with pytest.raises(RateLimited):
        sessions.open_with_key(keys["bob"], client="192.0.2.200")


def test_a_verified_identity_must_name_an_enabled_principal(world, store) -> None:
    sessions, accounts, people, _ = world
    opened = sessions.open_for_verified_identity("bob", issuer="https://idp.example")
    assert opened.session.method == "oidc" and opened.session.key_id is None
    with pytest.raises(AuthenticationFailed) as unknown:
        sessions.open_for_verified_identity("mallory", issuer="https://idp.example")
    assert unknown.value.detail["why"] == "unknown-principal"
    accounts.set_disabled(people["root"], "bob", True)
    with pytest.raises(AuthenticationFailed) as disabled:
        sessions.open_for_verified_identity("bob", issuer="https://idp.example")
    assert disabled.value.detail["why"] == "disabled-principal"
    reasons = [e.reason for e in events(store, action="authenticate", outcome="denied")]
    assert reasons[-2:] == ["unknown-principal", "disabled-principal"]


def test_an_admin_signs_a_person_out_everywhere(world, store) -> None:
    sessions, _, people, keys = world
    a = sessions.open_with_key(keys["bob"], client="a")
    b = sessions.open_with_key(keys["bob"], client="b")
    listed = sessions.active(people["root"])
    assert {s.ref for s, name in listed if name == "bob"} == {a.session.ref, b.session.ref}
    with pytest.raises(Forbidden):
        sessions.close_all(people["bob"], "root")
    assert sessions.close_all(people["root"], "bob") == 2
    for opened in (a, b):
        with pytest.raises(AuthenticationFailed):
            sessions.resume(opened.token)
    [event] = events(store, action="close-console-session", outcome="ok")
    assert event.actor == "root" and '"signed_out":2' in event.payload


@pytest.mark.parametrize("token", ["", "gs1_short", "gk_000000000000_" + "A" * 43,
                                   "gs1_" + "A" * 43])
def test_malformed_and_unknown_cookies_are_refused(world, token) -> None:
    sessions, *_ = world
    with pytest.raises(AuthenticationFailed):
        sessions.resume(token)
