"""Regressions: verification beside live writers, the witness file and rollbacks, --home."""

from __future__ import annotations

import threading

import pytest

from garrison.app import read_witness
from garrison.audit import AuditDraft
from garrison.governance import AuditService, Guard
from garrison.signing import Keyring
from garrison.testing import make_store


def test_verify_while_others_append(store) -> None:
    service = AuditService(store, Guard(store))
    for _ in range(30):
        store.append(AuditDraft(action="invoke-model", actor="seed"))
    stop = threading.Event()

    def writer() -> None:
        while not stop.is_set():
            store.append(AuditDraft(action="invoke-model", actor="writer"))

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        for _ in range(5):
            assert service.verify_unaudited().events >= 30  # never a false "inserted"
    finally:
        stop.set()
        thread.join()


def test_witness_is_written_only_after_commit(tmp_path) -> None:
    witness = tmp_path / "witness.jsonl"
    store = make_store(f"sqlite:///{tmp_path / 'g.db'}", Keyring.generate(), checkpoint_every=2,
                       witness=witness)
    store.append(AuditDraft(action="a", actor="x"))
    with pytest.raises(RuntimeError), store.write() as tx:
        tx.audit.append(AuditDraft(action="a", actor="x"))  # would be checkpoint 2
        raise RuntimeError("rolled back")
    assert read_witness(witness) == []
    store.append(AuditDraft(action="a", actor="y"))
    [cp] = read_witness(witness)
    assert cp.seq == 2 and cp.hash == store.head().hash  # type: ignore[union-attr]
    store.dispose()


def test_home_option_reads_its_config_file(tmp_path, monkeypatch) -> None:
    from garrison.config import load_settings

    monkeypatch.delenv("GARRISON_CONFIG", raising=False)
    monkeypatch.setenv("GARRISON_HOME", str(tmp_path / "elsewhere"))
    home = tmp_path / "home"
    home.mkdir()
    (home / "garrison.toml").write_text("audit_checkpoint_every = 7\n")
    assert load_settings(home=home).audit_checkpoint_every == 7
