"""The hash chain and its verification.

Record ``n`` stores ``hash_n = SHA-256(encode(fields_n, seq=n, prev_hash=hash_{n-1}))``
with ``hash_0`` the all-zero genesis. The chain head (latest ``seq`` and ``hash``)
is signed with the server's Ed25519 key after every append, and signed
checkpoints are kept as history (and optionally in a witness file outside the
database). :func:`verify_chain` walks the records once and raises
:class:`~garrison.errors.AuditChainBroken` naming the first bad position and why:

``modified``
    a stored field no longer matches the record's hash.
``deleted``
    a position is missing (with or without the later records renumbered).
``inserted``
    a record that was never appended sits in the chain (or past the signed head).
``reordered``
    records were moved to other positions.
``truncated``
    the signed head or a checkpoint names a position past the last record.
``rewritten``
    the records chain correctly but differ from a signed checkpoint (the
    attacker recomputed hashes; only the signature could catch it).
``bad-checkpoint``
    a head or checkpoint signature does not verify.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

from garrison.audit.events import AuditRecord
from garrison.audit.incidents import Incident
from garrison.errors import AuditChainBroken, InvalidSignature

__all__ = [
    "CHAIN_VERSION",
    "GENESIS",
    "Checkpoint",
    "Verifier",
    "VerifyReport",
    "checkpoint_message",
    "record_hash",
    "verify_chain",
]

CHAIN_VERSION = "garrison-audit/1"
GENESIS = "0" * 64
_CHECKPOINT_TAG = b"garrison-audit-checkpoint/1\n"
_SEARCH = 1024


def _make_encoder() -> Callable[[list[object]], str]:
    """One reused C encoder (the stdlib builds a new one per ``encode`` call).

    Byte-identical to ``json.dumps(value, ensure_ascii=False, separators=(",", ":"))``
    for the flat list of strings and ints that a record is.
    """
    c_make = getattr(json.encoder, "c_make_encoder", None)
    if c_make is None:  # pragma: no cover - only without the C accelerator.
        return json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    enc = c_make(None, None, json.encoder.encode_basestring, None, ":", ",", False, False, False)
    return lambda value: "".join(enc(value, 0))


_encode = _make_encoder()


def record_hash(
    seq: int,
    event_id: str,
    created: str,
    actor: str,
    action: str,
    resource: str,
    outcome: str,
    reason: str,
    request_id: str,
    payload: str,
    prev_hash: str,
) -> str:
    """The hash of one record: SHA-256 of a JSON array of its fields, version first."""
    body = _encode(
        [CHAIN_VERSION, seq, event_id, created, actor, action, resource, outcome, reason,
         request_id, payload, prev_hash]
    )
    return hashlib.sha256(body.encode()).hexdigest()


def _rehash(rec: AuditRecord, *, seq: int | None = None, prev: str | None = None) -> str:
    return record_hash(
        rec.seq if seq is None else seq, rec.event_id, rec.created, rec.actor, rec.action,
        rec.resource, rec.outcome, rec.reason, rec.request_id, rec.payload,
        rec.prev_hash if prev is None else prev,
    )


@dataclass(frozen=True)
class Checkpoint:
    """A signed statement that the chain had ``hash`` at position ``seq``."""

    seq: int
    hash: str
    created: str
    key_id: str
    signature: bytes

    def to_dict(self) -> dict[str, object]:
        return {
            "seq": self.seq,
            "hash": self.hash,
            "created": self.created,
            "key_id": self.key_id,
            "signature": self.signature.hex(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> Checkpoint:
        return cls(
            seq=int(data["seq"]),  # type: ignore[call-overload]
            hash=str(data["hash"]),
            created=str(data["created"]),
            key_id=str(data["key_id"]),
            signature=bytes.fromhex(str(data["signature"])),
        )


def checkpoint_message(seq: int, head_hash: str, created: str) -> bytes:
    return _CHECKPOINT_TAG + f"{seq}\n{head_hash}\n{created}".encode()


class Verifier(Protocol):
    def verify(self, key_id: str, signature: bytes, message: bytes) -> None: ...


@dataclass(frozen=True)
class VerifyReport:
    events: int
    head_seq: int
    head_hash: str
    checkpoints_checked: int
    #: Incidents recorded in the chain (all acknowledged, or verification fails).
    incidents: tuple[Incident, ...] = ()

    def to_dict(self) -> dict[str, object]:
        return {
            "ok": True,
            "events": self.events,
            "head_seq": self.head_seq,
            "head_hash": self.head_hash,
            "checkpoints_checked": self.checkpoints_checked,
            "incidents": [i.to_dict() for i in self.incidents],
        }


def _broken(position: int, reason: str, message: str) -> AuditChainBroken:
    return AuditChainBroken(f"audit chain broken at position {position}: {message}",
                            position=position, reason=reason)


def _written_for(rec: AuditRecord, around: int) -> int | None:
    """The position a record was originally appended at, found from its own hash."""
    if _rehash(rec) == rec.hash:
        return rec.seq
    for delta in range(1, _SEARCH + 1):
        for seq in (around + delta, around - delta):
            if seq >= 1 and _rehash(rec, seq=seq) == rec.hash:
                return seq
    if _rehash(rec, seq=around) == rec.hash:
        return around
    return None


def _classify(records: list[AuditRecord], i: int) -> AuditChainBroken:
    """Work out why ``records[i]`` does not fit (slow path, runs only on failure)."""
    rec = records[i]
    pos = i + 1
    origin = _written_for(rec, pos)
    known_prev = any(r.hash == rec.prev_hash for r in records)
    if origin is None:
        return _broken(pos, "modified", "stored fields do not match the record hash")
    if origin == rec.seq and rec.seq > pos:
        return _broken(pos, "deleted", f"position {pos} is missing")
    if origin > pos:
        if not known_prev:
            return _broken(pos, "deleted", f"{origin - pos} record(s) deleted and renumbered")
        return _broken(pos, "reordered", f"record appended at {origin} was moved here")
    if origin < pos:
        return _broken(origin, "inserted", f"records were inserted before position {pos}")
    # The record is intact where it stands but does not link to its predecessor.
    nxt = records[i + 1] if i + 1 < len(records) else None
    if nxt is not None and _written_for(nxt, pos + 1) == pos:
        return _broken(pos, "inserted", "this record was never appended")
    return _broken(max(pos - 1, 1), "modified", "record was replaced (its hash recomputed)")


def _walk(records: Iterable[AuditRecord]) -> Iterator[tuple[int, AuditRecord, str | None]]:
    """Yield only the first record that does not fit, or nothing when all fit.

    Also yields ``(position, record, None)`` for records that carry a checkpoint check
    (see ``_verify``): the loop is the hot path of verification, so it hashes inline
    instead of calling :func:`record_hash` per record.
    """
    prev = GENESIS
    expected = 1
    encode = _encode
    sha256 = hashlib.sha256
    version = CHAIN_VERSION
    for rec in records:
        if rec[0] != expected:
            yield expected, rec, "seq"
            return
        if rec[10] != prev:
            yield expected, rec, "link"
            return
        body = encode([version, *rec[:10], prev])
        if sha256(body.encode()).hexdigest() != rec[11]:
            yield expected, rec, "hash"
            return
        yield expected, rec, None
        prev = rec[11]
        expected += 1


def verify_chain(
    records: Iterable[AuditRecord],
    *,
    verifier: Verifier,
    head: Checkpoint | None,
    checkpoints: Iterable[Checkpoint] = (),
    reload: Callable[[], Iterable[AuditRecord]] | None = None,
) -> VerifyReport:
    """Verify records (ordered by ``seq``) against the signed head and checkpoints.

    ``reload`` returns the full record list again; it is used only on failure, to
    classify the break. Raises :class:`AuditChainBroken`; returns a report.
    """
    try:
        return _verify(records, verifier, head, list(checkpoints), reload)
    finally:
        close = getattr(records, "close", None)
        if close is not None:
            close()  # Release the database cursor even when verification fails.


def _verify(
    records: Iterable[AuditRecord],
    verifier: Verifier,
    head: Checkpoint | None,
    checkpoints: list[Checkpoint],
    reload: Callable[[], Iterable[AuditRecord]] | None,
) -> VerifyReport:
    wanted = sorted(checkpoints, key=lambda c: c.seq)
    for cp in [*wanted, *([head] if head else [])]:
        try:
            verifier.verify(cp.key_id, cp.signature, checkpoint_message(cp.seq, cp.hash,
                                                                        cp.created))
        except InvalidSignature:
            raise _broken(cp.seq, "bad-checkpoint",
                          "checkpoint signature does not verify") from None
    by_seq: dict[int, list[Checkpoint]] = {}
    for cp in wanted:
        by_seq.setdefault(cp.seq, []).append(cp)
    last_good_checkpoint = 0
    count = 0
    last_hash = GENESIS
    last_seq = 0
    for position, rec, problem in _walk(records):
        if problem is not None:
            full = list(reload()) if reload is not None else []
            if full:
                raise _classify(full, position - 1)
            reason = {"seq": "deleted", "link": "inserted", "hash": "modified"}[problem]
            raise _broken(position, reason, "record does not fit the chain")
        for cp in by_seq.get(rec.seq, ()):
            if cp.hash != rec.hash:
                raise _broken(last_good_checkpoint + 1, "rewritten",
                              f"chain differs from the checkpoint signed at {cp.seq}")
            last_good_checkpoint = rec.seq
        count += 1
        last_hash, last_seq = rec.hash, rec.seq
    beyond = [cp.seq for cp in wanted if cp.seq > last_seq]
    if (head is not None and head.seq > last_seq) or beyond:
        raise _broken(last_seq + 1, "truncated", "records after the last one were removed")
    if head is not None:
        if head.seq < last_seq:
            raise _broken(head.seq + 1, "inserted", "records past the signed head")
        if head.hash != last_hash:
            raise _broken(last_good_checkpoint + 1, "rewritten",
                          "chain differs from the signed head")
    elif last_seq:
        raise _broken(1, "bad-checkpoint", "the chain has records but no signed head")
    return VerifyReport(count, last_seq, last_hash, len(wanted) + (1 if head else 0))
