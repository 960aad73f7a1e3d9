"""Web console sessions as audited workflows: sign in, resume, sign out.

A person signs in once, with an API key or (through the web adapter's OIDC client)
an identity provider, and gets a server-side session; the cookie carries only the
session token. Every sign-in and sign-out is an audit event naming the person and the
session's public ``ref``; the adapter prefixes the request id of every action taken in
the session with that ref, so the trail ties each action to its sign-in.

A session ends, for good, when it is signed out, when it has been idle for
``idle_timeout`` seconds, when its absolute ``lifetime`` is over, when the API key it
was opened with is revoked or expires, or when its principal is disabled. Every
request re-reads the principal, so a role taken away is gone at the next click.
Signing in again always issues a new token and revokes the one presented (rotation).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
from dataclasses import dataclass

from garrison.errors import (
    AuthenticationFailed,
    GarrisonError,
    PrincipalNotFound,
    StateUnverified,
)
from garrison.governance.accounts import AccountService
from garrison.governance.guard import Guard
from garrison.governance.ports import TxView, UnitOfWork
from garrison.governance.throttle import LoginThrottle
from garrison.identity import (
    ConsoleSession,
    IssuedSession,
    Principal,
    issue_session,
    parse_key,
    session_id_of,
)
from garrison.types import Clock, parse_utc, utc_iso

__all__ = ["ActiveSession", "OpenedSession", "SessionService"]

_FAILED = "authentication failed"


@dataclass(frozen=True)
class OpenedSession:
    """A new session: ``token`` is for the cookie and exists only here."""

    token: str
    session: ConsoleSession
    principal: Principal


@dataclass(frozen=True)
class ActiveSession:
    """A resumed session and its principal as they are now."""

    session: ConsoleSession
    principal: Principal


class SessionService:
    def __init__(
        self, store: UnitOfWork, guard: Guard, accounts: AccountService, clock: Clock, *,
        idle_timeout: float = 900.0, lifetime: float = 8 * 3600.0,
        throttle: LoginThrottle | None = None, touch_every: float = 30.0,
    ) -> None:
        if idle_timeout <= 0 or lifetime <= 0 or touch_every < 0:
            raise ValueError("session timeouts must be positive")
        self._store = store
        self._guard = guard
        self._accounts = accounts
        self._clock = clock
        self.idle_timeout = float(idle_timeout)
        self.lifetime = float(lifetime)
        self._touch_every = min(float(touch_every), self.idle_timeout / 10)
        self.throttle = throttle or LoginThrottle(clock=clock)

    # -- signing in ---------------------------------------------------------------
    def open_with_key(self, presented: str, *, client: str = "", replaces: str | None = None,
                      request_id: str = "") -> OpenedSession:
        """Exchange an API key for a session; the key is not used again by the console.

        Throttled per client address and per key prefix; every failure, throttled ones
        included, is an audit event with its exact reason (the caller sees one message).
        """
        keys = [f"client:{client}"]
        with contextlib.suppress(AuthenticationFailed):
            keys.append(f"key:{parse_key(presented)}")
        context = {"client": client[:64], "via": "console"}
        self._ensure_not_throttled(keys, context, request_id)
        try:
            principal, key = self._accounts.authenticate_record(
                presented, request_id=request_id, context=context)
        except AuthenticationFailed:
            self.throttle.failed(keys)
            raise
        self.throttle.succeeded(keys)
        limit = None if key.expires is None else parse_utc(key.expires)
        return self._open(principal, "api-key", key.id, limit, client, replaces, request_id)

    def open_for_verified_identity(
        self, name: str, *, issuer: str, client: str = "", replaces: str | None = None,
        request_id: str = "",
    ) -> OpenedSession:
        """Open a session for the principal ``name`` after the adapter has verified an
        identity provider's ID token for it. The principal must exist and be enabled:
        the provider proves who the person is, Garrison's role table says what they may do.
        """
        context = {"client": client[:64], "via": "console-oidc", "issuer": issuer[:200]}
        keys = [f"client:{client}"]
        self._ensure_not_throttled(keys, context, request_id)
        try:
            principal = self._accounts.get(name)
        except StateUnverified:
            self._deny("unverified-state", {**context, "name": name[:64]}, request_id)
            self.throttle.failed(keys)
            raise AuthenticationFailed(_FAILED, why="unverified-state") from None
        except PrincipalNotFound:
            self._deny("unknown-principal", {**context, "name": name[:64]}, request_id)
            self.throttle.failed(keys)
            raise AuthenticationFailed(_FAILED, why="unknown-principal") from None
        if principal.disabled:
            self._deny("disabled-principal", {**context, "name": name[:64]}, request_id)
            self.throttle.failed(keys)
            raise AuthenticationFailed(_FAILED, why="disabled-principal")
        self.throttle.succeeded(keys)
        return self._open(principal, "oidc", None, None, client, replaces, request_id)

    def record_failed_identity(self, reason: str, *, client: str = "", issuer: str = "",
                               request_id: str = "") -> None:
        """Audit (and count towards the throttle) a sign-in the identity provider's
        answer did not support: a bad state, code or ID token."""
        self._deny(reason, {"client": client[:64], "via": "console-oidc",
                            "issuer": issuer[:200]}, request_id)
        self.throttle.failed([f"client:{client}"])

    def _ensure_not_throttled(self, keys: list[str], context: dict[str, str],
                              request_id: str) -> None:
        try:
            self.throttle.ensure_allowed(keys)
        except GarrisonError:
            self._deny("sign-in-throttled", context, request_id)
            raise

    def _deny(self, reason: str, payload: dict[str, str], request_id: str) -> None:
        self._guard.record("anonymous", "authenticate", outcome="denied", reason=reason,
                           request_id=request_id, payload=payload)

    def _open(self, principal: Principal, method: str, key_id: str | None,
              limit: _dt.datetime | None, client: str, replaces: str | None,
              request_id: str) -> OpenedSession:
        now = self._clock.now()
        expires = now + _dt.timedelta(seconds=self.lifetime)
        if limit is not None:
            expires = min(expires, limit)
        issued: IssuedSession = issue_session()
        record = ConsoleSession(
            id=issued.id, ref=issued.ref, principal_id=principal.id, method=method,
            csrf=issued.csrf, created=utc_iso(now), last_seen=utc_iso(now),
            expires=utc_iso(expires), client=client[:64], key_id=key_id,
        )
        previous = self._presented_id(replaces)

        def change(tx: TxView) -> ConsoleSession:
            if previous is not None:
                tx.sessions.revoke(previous, utc_iso(now), principal.name)
            tx.sessions.purge(utc_iso(now - _dt.timedelta(days=1)))
            tx.sessions.add(record)
            return record

        self._guard.run(
            principal, "open-console-session", f"principal:{principal.name}", change,
            request_id=request_id,
            payload={"console_ref": issued.ref, "method": method, "client": client[:64],
                     "expires": record.expires, "replaced": previous is not None},
        )
        return OpenedSession(issued.token, record, principal)

    @staticmethod
    def _presented_id(token: str | None) -> str | None:
        if not token:
            return None
        try:
            return session_id_of(token)
        except AuthenticationFailed:
            return None

    # -- each request -------------------------------------------------------------
    def resume(self, token: str, *, request_id: str = "") -> ActiveSession:
        """The session behind a cookie, checked afresh; ``AuthenticationFailed`` if it is
        unknown or has ended (the end is recorded, and an ended session stays ended)."""
        sid = session_id_of(token)
        now = self._clock.now()
        with self._store.read() as tx:
            session = tx.sessions.get(sid)
            if session is None:
                raise AuthenticationFailed(_FAILED, why="unknown-session")
            principal = tx.principals.get(session.principal_id)
            why = self._ended(tx, session, principal, now)
        if why is not None:
            self._end(session, principal, why, now, request_id)
            raise AuthenticationFailed(_FAILED, why=why)
        if (now - parse_utc(session.last_seen)).total_seconds() >= self._touch_every:
            with self._store.write() as wtx:
                wtx.sessions.touch(sid, utc_iso(now))
        return ActiveSession(session, principal)

    def _ended(self, tx: TxView, session: ConsoleSession, principal: Principal,
               now: _dt.datetime) -> str | None:
        if session.revoked is not None:
            return "revoked-session"
        if now >= parse_utc(session.expires):
            return "expired-session"
        if (now - parse_utc(session.last_seen)).total_seconds() >= self.idle_timeout:
            return "idle-session"
        if principal.disabled:
            return "disabled-principal"
        key = tx.api_keys.get(session.key_id) if session.key_id is not None else None
        if key is not None:
            if key.revoked is not None:
                return "revoked-key"
            if key.expires is not None and parse_utc(key.expires) <= now:
                return "expired-key"
        try:
            self._accounts.ensure_backed(tx, principal, key)
        except StateUnverified:
            return "unverified-state"
        return None

    def _end(self, session: ConsoleSession, principal: Principal, why: str,
             now: _dt.datetime, request_id: str) -> None:
        """Record a refused session (a replayed cookie shows up here) and make sure it
        can never come back."""
        if session.revoked is None:
            with self._store.write() as tx:
                tx.sessions.revoke(session.id, utc_iso(now), f"system:{why}")
        self._deny(why, {"console_ref": session.ref, "principal": principal.name,
                         "via": "console"}, request_id)

    # -- signing out --------------------------------------------------------------
    def close(self, token: str, *, request_id: str = "") -> bool:
        """Sign out: revoke the session behind ``token``; False if it was not open.

        Holding the token is the authority to end it, so this is never refused.
        """
        sid = self._presented_id(token)
        if sid is None:
            return False
        with self._store.read() as tx:
            session = tx.sessions.get(sid)
            if session is None or session.revoked is not None:
                return False
            principal = tx.principals.get(session.principal_id)
        when = utc_iso(self._clock.now())

        def change(tx: TxView) -> bool:
            return tx.sessions.revoke(sid, when, principal.name)

        return self._guard.run(principal, "close-console-session",
                               f"principal:{principal.name}", change, authorize=False,
                               request_id=request_id, payload={"console_ref": session.ref})

    def close_all(self, actor: Principal, name: str, *, request_id: str = "") -> int:
        """Sign every open session of ``name`` out (an admin's action, or one's own)."""
        when = utc_iso(self._clock.now())

        def change(tx: TxView) -> int:
            target = tx.principals.get_by_name(name)
            return tx.sessions.revoke_for_principal(target.id, when, actor.name)

        return self._guard.run(actor, "close-console-session", f"principal:{name}", change,
                               request_id=request_id,
                               result_payload=lambda n: {"signed_out": n})

    def active(self, actor: Principal) -> list[tuple[ConsoleSession, str]]:
        """Open sessions with their principal's name, newest first (``list-principals``)."""
        self._guard.require(actor, "list-principals")
        now = self._clock.now()
        with self._store.read() as tx:
            names = {p.id: p.name for p in tx.principals.list()}
            sessions = tx.sessions.active(utc_iso(now))
        idle = _dt.timedelta(seconds=self.idle_timeout)
        return [(s, names.get(s.principal_id, "?")) for s in sessions
                if parse_utc(s.last_seen) + idle > now]
