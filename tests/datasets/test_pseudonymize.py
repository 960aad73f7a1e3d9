"""Pseudonymization with managed keys: joins, key files, audit, re-identification."""

from __future__ import annotations

import base64
import json
import os
import stat
import threading

import pandas as pd
import pytest

from garrison.datasets import HMAC_KEY_FILE, SIV_KEY_FILE, PseudonymKeys
from garrison.errors import ConfigurationError, DecryptionFailed, Forbidden, InvalidInput
from garrison.testing import sqlite_url

from .datagen import orders, write
from .helpers import events


@pytest.fixture
def db_url(tmp_path) -> str:
    """Key handling does not depend on the database; the CLI tests cover PostgreSQL too."""
    return sqlite_url(tmp_path)


def _read(path):
    return pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path, dtype=str)


def test_tokens_join_across_files_and_hide_values(env, frame, tmp_path) -> None:
    services, people = env
    alice = people["alice"]
    people_csv = write(frame, tmp_path / "people.csv")
    orders_pq = write(orders(frame), tmp_path / "orders.parquet")
    a = services.pseudonyms.pseudonymize(alice, people_csv, tmp_path / "p.csv",
                                         ["email", "name", "phone"])
    b = services.pseudonyms.pseudonymize(alice, orders_pq, tmp_path / "o.parquet", ["email"])
    assert a.key_created and not b.key_created and a.key_id == b.key_id
    assert (a.rows, b.rows, a.mode) == (300, 600, "hmac-sha256")
    left, right = _read(tmp_path / "p.csv"), _read(tmp_path / "o.parquet")
    assert left["email"].str.startswith(f"tok_{a.key_id}_").all()
    assert not set(left["email"]) & set(frame["email"])  # No original value survives.
    joined = right.merge(left, on="email")
    expected = orders(frame).merge(frame, on="email")
    assert len(joined) == len(expected) == 600
    assert sorted(joined["amount"].astype(float)) == sorted(expected["amount"])
    # Other columns are untouched.
    assert left["income"].astype(float).tolist() == frame["income"].tolist()


def test_key_files_are_private_and_stable(env, csv_file, tmp_path) -> None:
    services, people = env
    keys = services.settings.keys_dir
    services.pseudonyms.pseudonymize(people["alice"], csv_file, tmp_path / "1.csv", ["email"])
    services.pseudonyms.pseudonymize(people["alice"], csv_file, tmp_path / "2.csv", ["email"],
                                     reversible=True)
    for name, size in ((HMAC_KEY_FILE, 32), (SIV_KEY_FILE, 64)):
        path = keys / name
        assert stat.S_IMODE(path.stat().st_mode) == 0o600 and len(path.read_bytes()) == size
    assert not [p for p in keys.iterdir() if ".key." in p.name]  # No staging files left.
    services.pseudonyms.pseudonymize(people["alice"], csv_file, tmp_path / "3.csv", ["email"])
    assert (tmp_path / "1.csv").read_bytes() == (tmp_path / "3.csv").read_bytes()


def test_keys_never_reach_the_audit_trail(env, csv_file, tmp_path) -> None:
    services, people = env
    for reversible in (False, True):
        services.pseudonyms.pseudonymize(people["alice"], csv_file, tmp_path / "o.csv",
                                         ["email"], reversible=reversible)
    services.pseudonyms.reidentify(people["dan"], tmp_path / "o.csv", tmp_path / "r.csv",
                                   ["email"])
    keys = [(services.settings.keys_dir / n).read_bytes() for n in (HMAC_KEY_FILE, SIV_KEY_FILE)]
    forms = [f for k in keys for f in (k.hex(), k.hex().upper(), base64.b64encode(k).decode(),
                                       base64.urlsafe_b64encode(k).decode().rstrip("="))]
    recorded = events(services, "pseudonymize-data") + events(services, "reidentify-data")
    assert len(recorded) == 3
    for event in recorded:
        text = json.dumps(event.to_dict())
        assert not any(form in text for form in forms)
        payload = json.loads(event.payload)
        assert set(payload) >= {"input_sha256", "columns", "rows", "key_id", "mode"}
        assert payload["columns"] == ["email"] and payload["rows"] == 300


def test_reidentify_restores_the_originals(env, frame, tmp_path) -> None:
    services, people = env
    source = write(frame, tmp_path / "people.parquet")
    sealed = tmp_path / "sealed.parquet"
    result = services.pseudonyms.pseudonymize(people["alice"], source, sealed,
                                              ["email", "name"], reversible=True,
                                              context="crm")
    assert _read(sealed)["email"].str.startswith(f"enc_{result.key_id}_").all()
    back = tmp_path / "back.parquet"
    out = services.pseudonyms.reidentify(people["dan"], sealed, back, ["email", "name"],
                                         context="crm")
    assert out.rows == 300 and stat.S_IMODE(back.stat().st_mode) == 0o600
    restored = _read(back)
    assert restored["email"].tolist() == frame["email"].tolist()
    assert restored["name"].tolist() == frame["name"].tolist()
    assert restored["income"].tolist() == frame["income"].tolist()
    [event] = events(services, "reidentify-data", "ok")
    assert event.actor == "dan"


def test_reidentify_is_denied_to_a_data_scientist_and_audited(env, csv_file, tmp_path) -> None:
    services, people = env
    sealed = tmp_path / "sealed.csv"
    services.pseudonyms.pseudonymize(people["alice"], csv_file, sealed, ["email"],
                                     reversible=True)
    for who in ("alice", "bob", "root"):
        with pytest.raises(Forbidden):
            services.pseudonyms.reidentify(people[who], sealed, tmp_path / "x.csv", ["email"])
    assert not (tmp_path / "x.csv").exists()
    denied = events(services, "reidentify-data", "denied")
    assert [e.actor for e in denied] == ["alice", "bob", "root"]
    with pytest.raises(Forbidden):
        services.pseudonyms.pseudonymize(people["dan"], csv_file, tmp_path / "y.csv", ["email"])


@pytest.mark.parametrize("how", ["hmac-token", "wrong-context", "tampered"])
def test_tokens_that_do_not_open_leave_no_output(env, csv_file, tmp_path, how) -> None:
    services, people = env
    sealed = tmp_path / "sealed.csv"
    services.pseudonyms.pseudonymize(people["alice"], csv_file, sealed, ["email"],
                                     reversible=how != "hmac-token")
    context = "other" if how == "wrong-context" else ""
    if how == "tampered":
        table = pd.read_csv(sealed, dtype=str)
        token = table.loc[7, "email"]
        table.loc[7, "email"] = token[:-3] + ("AAA" if token[-3:] != "AAA" else "BBB")
        table.to_csv(sealed, index=False)
    out = tmp_path / "plain.csv"
    with pytest.raises(DecryptionFailed):
        services.pseudonyms.reidentify(people["dan"], sealed, out, ["email"], context=context)
    assert not out.exists()
    [failed] = events(services, "reidentify-data", "failed")
    assert failed.reason == "decryption-failed"


def test_group_readable_key_is_refused(env, csv_file, tmp_path) -> None:
    services, people = env
    services.pseudonyms.pseudonymize(people["alice"], csv_file, tmp_path / "o.csv", ["email"])
    os.chmod(services.settings.keys_dir / HMAC_KEY_FILE, 0o640)
    with pytest.raises(ConfigurationError, match="0600"):
        services.pseudonyms.pseudonymize(people["alice"], csv_file, tmp_path / "o.csv", ["email"])
    assert events(services, "pseudonymize-data", "failed")[0].reason == "configuration-invalid"


def test_wrong_key_length_is_refused(tmp_path) -> None:
    keys = tmp_path / "keys"
    keys.mkdir()
    fd = os.open(keys / SIV_KEY_FILE, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, b"x" * 32)
    os.close(fd)
    with pytest.raises(ConfigurationError, match="64 bytes"):
        PseudonymKeys(keys).cipher()


def test_racing_creators_agree_on_one_key(tmp_path) -> None:
    keys = PseudonymKeys(tmp_path / "keys")
    seen: list[str] = []
    barrier = threading.Barrier(8)

    def grab() -> None:
        barrier.wait()
        seen.append(keys.tokenizer()[0].tokenize("x"))

    threads = [threading.Thread(target=grab) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(seen) == 8 and len(set(seen)) == 1


def test_bad_requests(env, csv_file, tmp_path) -> None:
    services, people = env
    with pytest.raises(InvalidInput):
        services.pseudonyms.pseudonymize(people["alice"], csv_file, tmp_path / "o.csv", [])
    with pytest.raises(InvalidInput, match="no such column"):
        services.pseudonyms.pseudonymize(people["alice"], csv_file, tmp_path / "o.csv", ["zz"])
    with pytest.raises(InvalidInput, match="overwrite"):
        services.pseudonyms.pseudonymize(people["alice"], csv_file, csv_file, ["email"])
    with pytest.raises(InvalidInput, match="overwrite"):
        services.pseudonyms.reidentify(people["dan"], csv_file, csv_file, ["email"])
