"""The dataset registry: versions, digests, schema, scan and poison reports, audit."""

from __future__ import annotations

import hashlib
import threading

import pandas as pd
import pytest

from garrison.errors import DatasetNotFound, DigestMismatch, Forbidden, InvalidInput
from garrison.lineage import DatasetNode

from .datagen import write
from .helpers import events, payloads


def test_register_csv_records_digest_rows_schema_and_pii(env, csv_file) -> None:
    services, people = env
    v = services.datasets.register(people["alice"], csv_file, "customers")
    assert (v.name, v.version, v.format) == ("customers", 1, "csv")
    assert v.digest == hashlib.sha256(csv_file.read_bytes()).hexdigest()
    assert v.rows == 300 and v.size == csv_file.stat().st_size
    assert dict(v.columns)["income"] == "float64" and dict(v.columns)["email"] == "string"
    assert {"name", "email", "phone"} <= set(v.pii_columns)
    assert v.scan_report["rows"] == 300
    assert v.poison_report is None and v.registrant == "alice"
    # The version is stored and has its lineage node, with the same digest.
    assert services.datasets.get(people["dan"], "customers", 1) == v
    node = services.lineage_store.get_node("dataset:customers@1")
    assert isinstance(node, DatasetNode) and node.digest == v.digest and node.rows == 300
    [event] = payloads(services, "register-dataset")
    assert event["sha256"] == v.digest and event["rows"] == 300 and event["version"] == 1


def test_register_parquet_and_versions_per_name(env, frame, tmp_path) -> None:
    services, people = env
    first = write(frame, tmp_path / "a.parquet")
    second = write(frame.head(120), tmp_path / "b.parquet")
    v1 = services.datasets.register(people["alice"], first, "customers")
    v2 = services.datasets.register(people["alice"], second, "customers")
    other = services.datasets.register(people["alice"], second, "holdout")
    assert (v1.version, v2.version, other.version) == (1, 2, 1)
    assert (v1.rows, v2.rows) == (300, 120) and v1.format == "parquet"
    assert dict(v1.columns)["active"] == "bool" and dict(v1.columns)["age"] == "int64"
    assert {"email", "phone"} <= set(v1.pii_columns)
    assert services.datasets.get(people["alice"], "customers") == v2  # newest by default
    listed = services.datasets.list(people["dan"])
    assert [x.ref for x in listed] == ["customers:1", "customers:2", "holdout:1"]
    assert [x.ref for x in services.datasets.list(people["dan"], "holdout")] == ["holdout:1"]


def test_same_bytes_again_return_the_existing_version(env, csv_file) -> None:
    services, people = env
    v1 = services.datasets.register(people["alice"], csv_file, "customers")
    again = services.datasets.register(people["alice"], csv_file, "customers")
    assert again == v1 and len(services.datasets.list(people["alice"], "customers")) == 1
    assert [p.get("unchanged", False) for p in payloads(services, "register-dataset")] == [
        False, True]


def test_changed_bytes_make_a_new_version(env, csv_file, frame) -> None:
    services, people = env
    v1 = services.datasets.register(people["alice"], csv_file, "customers")
    changed = frame.copy()
    changed.loc[0, "income"] = 1.0  # One cell: a different digest.
    write(changed, csv_file)
    v2 = services.datasets.register(people["alice"], csv_file, "customers")
    assert v2.version == 2 and v2.digest != v1.digest and v2.schema_digest == v1.schema_digest


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # The check is storage-free.
def test_target_runs_the_poisoning_check(env, frame, tmp_path) -> None:
    services, people = env
    poisoned = frame.copy()
    flip = poisoned.index[:15]
    poisoned.loc[flip, "label"] = 1 - poisoned.loc[flip, "label"]  # Flipped labels.
    path = write(poisoned, tmp_path / "poisoned.csv")
    # The wiring runs only the label-issue check (3 folds) to keep the test fast.
    v = services.datasets.register(people["alice"], path, "customers", target="label")
    report = v.poison_report
    assert report is not None and report["kind"] == "garrison.poison-check"
    assert report["target"] == "label" and report["rows"] == 300
    assert [c["check"] for c in report["checks"]] == ["label-issue"]
    assert v.suspicious_rows == report["rows_flagged"] > 0
    flagged = {f["row"] for f in report["findings"]}
    assert len(flagged & set(range(15))) >= 5  # Most flipped rows are among the flagged.
    [event] = payloads(services, "register-dataset")
    assert event["poison"] == {"target": "label", "rows_flagged": v.suspicious_rows}


def test_unknown_target_is_refused_and_audited(env, csv_file) -> None:
    services, people = env
    with pytest.raises(InvalidInput, match="no_such"):
        services.datasets.register(people["alice"], csv_file, "customers", target="no_such")
    assert services.datasets.list(people["alice"]) == []
    [failed] = events(services, "register-dataset", "failed")
    assert failed.reason == "invalid-input" and failed.resource == "dataset:customers"


def test_bad_names_are_refused(env, csv_file) -> None:
    services, people = env
    for name in ["", "a:b", "a@b", "../x", "a/b", "x" * 129, "café"]:
        with pytest.raises(InvalidInput):
            services.datasets.register(people["alice"], csv_file, name)
    assert services.datasets.list(people["alice"]) == []


def test_registration_needs_register_dataset(env, csv_file) -> None:
    services, people = env
    for who in ("bob", "dan", "eve"):
        with pytest.raises(Forbidden):
            services.datasets.register(people[who], csv_file, "customers")
    assert len(events(services, "register-dataset", "denied")) == 3
    with pytest.raises(Forbidden):
        services.datasets.list(people["eve"])
    assert services.lineage_store.get_node("dataset:customers@1") is None


def test_unreadable_file_is_refused_and_nothing_stored(env, tmp_path) -> None:
    services, people = env
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"a,b\n1,2,3,4\n\x00")
    with pytest.raises(InvalidInput):
        services.datasets.register(people["alice"], bad, "customers")
    assert services.datasets.list(people["alice"]) == []
    with pytest.raises(DatasetNotFound):
        services.datasets.get(people["alice"], "customers")


def test_repeated_csv_headers_are_refused_and_nothing_stored(env, tmp_path) -> None:
    services, people = env
    dup = tmp_path / "dup.csv"
    dup.write_text("id,email,email\n1,a@example.com,b@example.com\n")
    with pytest.raises(InvalidInput, match=r"duplicate column name\(s\) \['email'\]"):
        services.datasets.register(people["alice"], dup, "customers")
    assert services.datasets.list(people["alice"]) == []


def test_quasi_identifiers_drive_the_risk_report(env, csv_file) -> None:
    services, people = env
    v = services.datasets.register(people["alice"], csv_file, "customers", quasi=["age"])
    assert v.scan_report["risk"]["quasi_identifiers"] == ["age"]


def test_empty_csv_with_header_registers_zero_rows(env, tmp_path) -> None:
    services, people = env
    path = tmp_path / "empty.csv"
    pd.DataFrame({"a": [], "b": []}).to_csv(path, index=False)
    v = services.datasets.register(people["alice"], path, "empty")
    assert v.rows == 0 and [c for c, _ in v.columns] == ["a", "b"]


def test_concurrent_registrations_get_distinct_versions(env, frame, tmp_path) -> None:
    services, people = env
    paths = [write(frame.head(50 + i), tmp_path / f"part{i}.csv") for i in range(4)]
    results: list[int] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(paths))

    def register(path) -> None:
        barrier.wait()
        try:
            results.append(services.datasets.register(people["alice"], path, "parts").version)
        except BaseException as exc:  # Collected and reported by the assertion below.
            errors.append(exc)

    threads = [threading.Thread(target=register, args=(p,)) for p in paths]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and sorted(results) == [1, 2, 3, 4]
    nodes = [services.lineage_store.get_node(f"dataset:parts@{n}") for n in range(1, 5)]
    assert sorted(n.rows for n in nodes) == [50, 51, 52, 53]  # type: ignore[union-attr]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # Hashing is storage-free.
def test_registration_hashes_the_file_exactly_twice(env, csv_file, monkeypatch) -> None:
    import garrison.datasets.describe as describe_module
    import garrison.datasets.service as service_module

    services, people = env
    hashed: list[str] = []
    real = describe_module.file_sha256

    def counting(path):
        hashed.append(str(path))
        return real(path)

    monkeypatch.setattr(service_module, "file_sha256", counting)
    monkeypatch.setattr(describe_module, "file_sha256", counting)
    v = services.datasets.register(people["alice"], csv_file, "customers")
    # Once to identify the bytes, once after the scans to prove they did not change.
    assert hashed == [str(csv_file)] * 2
    assert v.digest == hashlib.sha256(csv_file.read_bytes()).hexdigest()
    hashed.clear()
    assert services.datasets.register(people["alice"], csv_file, "customers") == v
    assert hashed == [str(csv_file)]  # Known bytes: the lookup needs the one digest only.


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_file_changed_during_registration_is_refused(env, csv_file, frame,
                                                       monkeypatch) -> None:
    import garrison.datasets.service as service_module

    services, people = env
    real_scan = service_module.scan_file

    def scan_then_change(path, **kwargs):
        report = real_scan(path, **kwargs)
        changed = frame.copy()
        changed.loc[0, "income"] = 1.0
        write(changed, csv_file)  # The bytes change after they were hashed and scanned.
        return report

    monkeypatch.setattr(service_module, "scan_file", scan_then_change)
    with pytest.raises(DigestMismatch, match="changed while it was being registered"):
        services.datasets.register(people["alice"], csv_file, "customers")
    assert services.datasets.list(people["alice"]) == []
    assert services.lineage_store.get_node("dataset:customers@1") is None
    [failed] = events(services, "register-dataset", "failed")
    assert failed.reason == "digest-mismatch"
