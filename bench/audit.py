"""Audit trail throughput: appends per second and verification speed.

Run: ``python bench/audit.py [--events N] [--no-postgres] [--strict]``.

Append: ``Store.append`` of one event per transaction (lock, chain, insert, sign
the head, commit), from one writer and from 4 processes sharing one database, on
SQLite (a temporary directory; N/50 events per run, 2,000 by default) and on
PostgreSQL (a fresh schema of the local server, dropped at the end; N/250 events
per run, because every commit waits for the server's fsync). Baseline: the raw
driver (``sqlite3`` / ``psycopg``) inserting the same row into the same table,
one transaction per event, with no chain and no signature.

Verify: ``verify_chain`` over the records read from the store (what ``garrison
audit verify`` does) for N events (100,000 by default; N/10 on PostgreSQL), written
beforehand with ``Store.append_many`` in batches of 1,000, and the pure hash-chain
walk over the same records already in memory. Baseline: plain SHA-256 over the
very bytes the chain hashes. A breakdown of the store path in CPU microseconds
per event follows, with a minimal walk over raw tuples as a lower bound.

Goals (on the wall-clock rate): >= 2,000 appends/s on SQLite with one writer, and
>= 200,000 events/s verified from the store. ``--strict`` exits 1 when one is missed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing as mp
import queue
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from json.encoder import c_make_encoder, encode_basestring
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import Figure, Rate, Results, best_of, load_line, measure, strict_argument  # noqa: E402

from garrison.audit import (  # noqa: E402
    CHAIN_VERSION,
    GENESIS,
    AuditDraft,
    AuditRecord,
    Checkpoint,
    checkpoint_message,
    record_hash,
    verify_chain,
)
from garrison.signing import Keyring  # noqa: E402
from garrison.storage import Store  # noqa: E402
from garrison.types import SystemClock, utc_iso  # noqa: E402

APPEND_GOAL = 2_000.0
VERIFY_GOAL = 200_000.0
PROCESSES = 4
BATCH = 1_000
BREAKDOWN = 20_000
BARRIER_TIMEOUT = 120
POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
COLUMNS = ("seq, event_id, created, actor, action, resource, outcome, reason, request_id, "
           "payload, prev_hash, hash")
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


# -- the event every run appends --------------------------------------------------------
def _payload(worker: int, i: int) -> dict[str, object]:
    return {"model": "fraud", "version": 3, "worker": worker, "i": i, "latency_ms": 12.5,
            "features": 30, "outcome": "approve"}


def _draft(worker: int, i: int) -> AuditDraft:
    return AuditDraft(action="invoke-model", actor=f"svc-checkout-{worker}",
                      resource="model:fraud@3", request_id=uuid.uuid4().hex,
                      payload=_payload(worker, i))


def _raw_row(seq: int, worker: int, i: int) -> tuple[object, ...]:
    """The same row Garrison stores, built the cheap way: no chain, no signature."""
    payload = json.dumps(_payload(worker, i), sort_keys=True, separators=(",", ":"))
    return (seq, str(uuid.uuid4()), utc_iso(SystemClock().now()), f"svc-checkout-{worker}",
            "invoke-model", "model:fraud@3", "ok", "", uuid.uuid4().hex, payload, GENESIS,
            GENESIS)


# -- backends ----------------------------------------------------------------------------
Insert = Callable[[tuple[object, ...]], None]


class SQLiteBackend:
    """Fresh database files in one temporary directory."""

    name, driver, local = "SQLite", "sqlite3", True

    def __init__(self, directory: Path) -> None:
        self._dir = directory
        self._n = 0

    def fresh(self) -> AbstractContextManager[str]:
        self._n += 1
        return _given(f"sqlite:///{self._dir / f'db{self._n}.sqlite'}")

    @staticmethod
    def raw_insert(url: str) -> tuple[Insert, Callable[[], None]]:
        # The same pragmas and write transaction as Garrison's SQLite engine.
        conn = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None,
                               timeout=30)
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=30000",
                       "foreign_keys=ON"):
            conn.execute(f"PRAGMA {pragma}")
        sql = f"INSERT INTO audit_events ({COLUMNS}) VALUES ({', '.join('?' * 12)})"

        def insert(row: tuple[object, ...]) -> None:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(sql, row)
            conn.execute("COMMIT")

        return insert, conn.close


class PostgresBackend:
    """A fresh schema per database, created and dropped like ``temporary_postgres_schema``."""

    name, driver, local = "PostgreSQL", "psycopg", False

    def __init__(self, base: str) -> None:
        self._base = base

    @contextmanager
    def fresh(self) -> Iterator[str]:
        from sqlalchemy import create_engine, text

        schema = f"bench_{uuid.uuid4().hex[:12]}"
        admin = create_engine(self._base)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        try:
            yield f"{self._base}?options=-csearch_path%3D{schema}"
        finally:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()

    @staticmethod
    def raw_insert(url: str) -> tuple[Insert, Callable[[], None]]:
        import psycopg

        conn = psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"))
        sql = f"INSERT INTO audit_events ({COLUMNS}) VALUES ({', '.join(['%s'] * 12)})"

        def insert(row: tuple[object, ...]) -> None:
            with conn.cursor() as cur:
                cur.execute(sql, row)
            conn.commit()

        return insert, conn.close


Backend = SQLiteBackend | PostgresBackend


@contextmanager
def _given(url: str) -> Iterator[str]:
    yield url


def postgres_reachable(url: str) -> bool:
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import OperationalError

    engine = create_engine(url, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True
    except OperationalError:
        return False
    finally:
        engine.dispose()


def _migrated(url: str, keyring: Keyring, witness: Path | None = None) -> Store:
    store = Store(url, signer=keyring, witness=witness)
    store.upgrade()
    return store


# -- append: one writer ------------------------------------------------------------------
def garrison_single(backend: Backend, url: str, keyring: Keyring, witness: Path,
                    count: int) -> Rate:
    store = _migrated(url, keyring, witness)
    store.head()  # Open the pooled connection before the clock starts.

    def run() -> int:
        for i in range(count):
            store.append(_draft(0, i))
        return count

    try:
        return measure(run, local=backend.local)
    finally:
        store.dispose()


def raw_single(backend: Backend, url: str, keyring: Keyring, count: int) -> Rate:
    _migrated(url, keyring).dispose()
    insert, close = backend.raw_insert(url)

    def run() -> int:
        for i in range(count):
            insert(_raw_row(i + 1, 0, i))
        return count

    try:
        return measure(run, local=backend.local)
    finally:
        close()


# -- append: several processes -------------------------------------------------------------
def _garrison_worker(url: str, key_dir: str, worker: int, count: int, barrier: Any,
                     out: Any) -> None:
    store = Store(url, signer=Keyring.load(Path(key_dir)))
    store.head()
    barrier.wait(timeout=BARRIER_TIMEOUT)
    start = time.perf_counter()
    for i in range(count):
        store.append(_draft(worker, i))
    out.put((start, time.perf_counter()))
    store.dispose()


def _raw_worker(backend: Backend, url: str, worker: int, count: int, barrier: Any,
                out: Any) -> None:
    insert, close = backend.raw_insert(url)
    barrier.wait(timeout=BARRIER_TIMEOUT)
    start = time.perf_counter()
    for i in range(count):
        # Disjoint ranges of positions: without a chain there is nothing to agree on.
        insert(_raw_row(worker * 10_000_000 + i + 1, worker, i))
    out.put((start, time.perf_counter()))
    close()


def _in_processes(target: Callable[..., None], args: tuple[object, ...], each: int) -> Rate:
    """Events/s of PROCESSES workers, from the first one's start to the last one's end."""
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(PROCESSES), ctx.Queue()
    procs = [ctx.Process(target=target, args=(*args, w, each, barrier, out))
             for w in range(PROCESSES)]
    for p in procs:
        p.start()
    spans: list[tuple[float, float]] = []
    while len(spans) < PROCESSES:
        try:
            spans.append(out.get(timeout=1))
        except queue.Empty:
            if any(p.exitcode not in (None, 0) for p in procs):
                for p in procs:
                    p.kill()
                raise RuntimeError("a benchmark worker failed; see its traceback above") from None
    for p in procs:
        p.join(60)
    elapsed = max(end for _, end in spans) - min(start for start, _ in spans)
    return Rate(each * PROCESSES / elapsed)


def garrison_multi(url: str, keyring: Keyring, key_dir: Path, count: int) -> Rate:
    store = _migrated(url, keyring)
    each = count // PROCESSES
    try:
        result = _in_processes(_garrison_worker, (url, str(key_dir)), each)
        report = verify_chain(store.records(), verifier=keyring, head=store.head(),
                              checkpoints=store.checkpoints())
        if report.events != each * PROCESSES:
            raise RuntimeError(f"expected {each * PROCESSES} chained events, "
                               f"found {report.events}")
        return result
    finally:
        store.dispose()


def raw_multi(backend: Backend, url: str, keyring: Keyring, count: int) -> Rate:
    _migrated(url, keyring).dispose()
    return _in_processes(_raw_worker, (backend, url), count // PROCESSES)


def bench_append(backend: Backend, keyring: Keyring, key_dir: Path, witness: Path,
                 count: int, results: Results) -> None:
    baseline = f"raw {backend.driver} insert, tx/event"
    with backend.fresh() as url:
        raw = raw_single(backend, url, keyring, count)
    with backend.fresh() as url:
        ours = garrison_single(backend, url, keyring, witness, count)
    goal = APPEND_GOAL if backend.name == "SQLite" else None
    results.add(Figure(f"append, {backend.name}, 1 writer", ours, baseline, raw, goal))
    with backend.fresh() as url:
        raw = raw_multi(backend, url, keyring, count)
    with backend.fresh() as url:
        ours = garrison_multi(url, keyring, key_dir, count)
    results.add(Figure(f"append, {backend.name}, {PROCESSES} processes", ours, baseline, raw))


# -- verification --------------------------------------------------------------------------
def populate(store: Store, count: int) -> Rate:
    def run() -> int:
        for start in range(0, count, BATCH):
            store.append_many([_draft(0, i) for i in range(start, min(count, start + BATCH))])
        return count

    return measure(run, local=False)


def chain_body(rec: AuditRecord) -> bytes:
    """The exact bytes ``record_hash`` hashes (checked against the stored hash)."""
    return _encode([CHAIN_VERSION, rec.seq, rec.event_id, rec.created, rec.actor, rec.action,
                    rec.resource, rec.outcome, rec.reason, rec.request_id, rec.payload,
                    rec.prev_hash]).encode()


def bench_verify(backend: Backend, keyring: Keyring, count: int, results: Results) -> None:
    with backend.fresh() as url:
        store = _migrated(url, keyring)
        try:
            filled = populate(store, count)
            print(f"{backend.name}: wrote {count:,} events with append_many (batches of "
                  f"{BATCH:,}) at {filled.wall:,.0f} events/s")
            head, checkpoints = store.head(), store.checkpoints()
            records = list(store.records())
            bodies = [chain_body(r) for r in records]
            if hashlib.sha256(bodies[-1]).hexdigest() != records[-1].hash:
                raise RuntimeError("the benchmark's chain encoding differs from Garrison's")

            def sha256_only() -> int:
                for body in bodies:
                    hashlib.sha256(body).hexdigest()
                return len(bodies)

            def from_store() -> int:
                return verify_chain(store.records(), verifier=keyring, head=head,
                                    checkpoints=checkpoints).events

            def in_memory() -> int:
                return verify_chain(records, verifier=keyring, head=head).events

            baseline = best_of(sha256_only)
            sqlite = backend.name == "SQLite"
            label = "" if sqlite else f" ({count:,} events)"
            whole = best_of(from_store, 2, local=backend.local)
            results.add(Figure(f"verify, {backend.name}, read from the store{label}", whole,
                               "sha256 of the same rows", baseline,
                               VERIFY_GOAL if sqlite else None))
            if sqlite:
                results.add(Figure("verify, hash-chain walk, records in memory",
                                   best_of(in_memory, 2), "sha256 of the same rows", baseline))
                print_breakdown(store, url.removeprefix("sqlite:///"), records, bodies, whole)
        finally:
            store.dispose()


# -- where the verification time goes ---------------------------------------------------------
def _reused_encoder() -> Callable[[list[object]], str]:
    """A C encoder built once, giving ``_encode``'s exact output.

    ``JSONEncoder.encode`` builds a new C encoder object (and two closures) on every call.
    """
    make = c_make_encoder(None, None, encode_basestring, None, ":", ",", False, False, False)
    return lambda fields: "".join(make(fields, 0))


def prototype_walk(rows: Iterable[tuple[Any, ...]]) -> int:
    """A lower bound, not Garrison code: raw DBAPI tuples hashed with the same encoder."""
    encode, sha256 = _reused_encoder(), hashlib.sha256
    prev, expected = GENESIS, 1
    for row in rows:
        digest = sha256(encode([CHAIN_VERSION, *row[:11]]).encode()).hexdigest()
        if row[0] != expected or row[10] != prev or digest != row[11]:
            raise RuntimeError(f"prototype walk disagrees at position {expected}")
        prev, expected = row[11], expected + 1
    return expected - 1


def _sqlite_rows(path: str, last: int) -> Iterator[tuple[Any, ...]]:
    conn = sqlite3.connect(path)
    try:
        cur = conn.execute(f"SELECT {COLUMNS} FROM audit_events WHERE seq <= ? ORDER BY seq",
                           (last,))
        while batch := cur.fetchmany(5000):
            yield from batch
    finally:
        conn.close()


def _first_records(store: Store, count: int) -> int:
    records = store.records()
    try:
        return sum(1 for _, _ in zip(range(count), records, strict=False))
    finally:
        records.close()  # type: ignore[attr-defined]


def print_breakdown(store: Store, path: str, records: list[AuditRecord], bodies: list[bytes],
                    whole: Rate) -> None:
    """CPU microseconds per event of each step of the store path, measured separately.

    Each step runs over the first BREAKDOWN events (best of 2); the costs are per event.
    """
    n = min(len(records), BREAKDOWN)
    records, bodies = records[:n], bodies[:n]
    rows = list(_sqlite_rows(path, n))
    fields = [r[:11] for r in rows]
    texts = [b.decode() for b in bodies]
    created = utc_iso(SystemClock().now())
    key_id, signature = store.signer.sign(checkpoint_message(n, records[-1].hash, created))
    head = Checkpoint(n, records[-1].hash, created, key_id, signature)

    def cpu_us(fn: Callable[[], object]) -> float:
        best = float("inf")
        for _ in range(2):
            start = time.process_time()
            fn()
            best = min(best, time.process_time() - start)
        return best / n * 1e6

    hash_only = cpu_us(lambda: [record_hash(*f) for f in fields])
    steps = [
        ("verify_chain(Store.records()): the whole store path, all events",
         1e6 / whole.cpu if whole.cpu else float("nan")),
        ("  fetch: Store.records() (DBAPI cursor rows -> AuditRecord named tuples)",
         cpu_us(lambda: _first_records(store, n))),
        ("    part, measured alone: raw sqlite3 cursor, tuples only",
         cpu_us(lambda: list(_sqlite_rows(path, n)))),
        ("    part, measured alone: AuditRecord._make(row), a named tuple of 12 fields",
         cpu_us(lambda: [AuditRecord._make(r) for r in rows])),
        ("  hash: record_hash(...) per record", hash_only),
        ("    part, measured alone: JSON-encode the field array (one reused C encoder)",
         cpu_us(lambda: [_encode([CHAIN_VERSION, *f]) for f in fields])),
        ("    part, measured alone: UTF-8 encode", cpu_us(lambda: [t.encode() for t in texts])),
        ("    part, measured alone: sha256(body).hexdigest()",
         cpu_us(lambda: [hashlib.sha256(b).hexdigest() for b in bodies])),
        ("verify_chain(records in memory): hash + walk, no fetch",
         cpu_us(lambda: verify_chain(records, verifier=store.signer, head=head))),
        ("reference: the least a walk can do (raw tuples, no records, no checkpoints)",
         cpu_us(lambda: prototype_walk(_sqlite_rows(path, n)))),
    ]
    print(f"where the time of 'verify, SQLite, read from the store' goes (CPU microseconds "
          f"per event, first {n:,} events, best of 2):")
    for label, value in steps:
        print(f"  {value:6.2f} us  {1e6 / value if value > 0 else 0:>9,.0f}/CPU-s  {label}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000,
                        help="Events to verify (default 100000); append runs use N/50.")
    parser.add_argument("--no-postgres", action="store_true",
                        help="Skip PostgreSQL even when the local server is reachable.")
    parser.add_argument("--postgres-url", default=POSTGRES_URL,
                        help=f"Server for the PostgreSQL runs (default {POSTGRES_URL}).")
    strict_argument(parser)
    args = parser.parse_args(argv)
    events = max(args.events, 1_000)
    print(load_line())
    results = Results()
    with tempfile.TemporaryDirectory(prefix="garrison-bench-") as tmp:
        tmp_path = Path(tmp)
        keyring = Keyring.create(tmp_path / "keys")
        backends: list[Backend] = [SQLiteBackend(tmp_path)]
        if args.no_postgres:
            pass
        elif postgres_reachable(args.postgres_url):
            backends.append(PostgresBackend(args.postgres_url))
        else:
            print(f"PostgreSQL at {args.postgres_url} is not reachable: its runs are skipped")
        for backend in backends:
            scale = 50 if backend.name == "SQLite" else 250
            bench_append(backend, keyring, tmp_path / "keys", tmp_path / "witness.jsonl",
                         max(PROCESSES * 10, events // scale), results)
        for backend in backends:
            bench_verify(backend, keyring, events if backend.name == "SQLite" else events // 10,
                         results)
    print()
    print(results.table())
    for figure in results.missed():
        print(f"goal missed: {figure.name}: {figure.value.wall:,.0f} < {figure.goal:,.0f}")
    return 1 if args.strict and results.missed() else 0


if __name__ == "__main__":
    sys.exit(main())
