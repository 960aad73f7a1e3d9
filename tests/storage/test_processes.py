"""Several processes appending to one database still produce one valid chain."""

from __future__ import annotations

import multiprocessing as mp

import pytest

from garrison.audit import AuditDraft, verify_chain
from garrison.signing import Keyring
from garrison.storage import Store
from tests.waiting import HANG_GUARD

PROCESSES, EACH = 4, 60


def _writer(url: str, key_dir: str, worker: int) -> None:
    store = Store(url, signer=Keyring.load(__import__("pathlib").Path(key_dir)))
    for i in range(EACH):
        store.append(AuditDraft(action="invoke-model", actor=f"worker{worker}", payload={"i": i}))
    store.dispose()


@pytest.mark.slow
def test_processes_share_one_chain(db_url: str, tmp_path) -> None:
    keyring = Keyring.create(tmp_path / "keys")
    store = Store(db_url, signer=keyring)
    store.upgrade()
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(db_url, str(tmp_path / "keys"), w))
             for w in range(PROCESSES)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(5 * HANG_GUARD)  # A hang guard: spawned workers start slowly under load.
        assert p.exitcode == 0
    report = verify_chain(store.records(), verifier=keyring, head=store.head(),
                          checkpoints=store.checkpoints())
    assert report.events == PROCESSES * EACH  # nothing lost, nothing forked
    per_worker = {}
    for rec in store.records():
        per_worker[rec.actor] = per_worker.get(rec.actor, 0) + 1
    assert per_worker == {f"worker{w}": EACH for w in range(PROCESSES)}
    store.dispose()
