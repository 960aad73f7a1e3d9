"""The CycloneDX ML-BOM of a version: complete, schema-valid, signed, refused when altered."""

from __future__ import annotations

import dataclasses
import hashlib
import json

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from garrison.errors import DecryptionFailed, DigestMismatch, Forbidden, NotFound
from garrison.registry import build_statement, verify_manifest
from garrison.registry.documents import side_context
from garrison.registry.manifest import sign_manifest


@pytest.fixture
def trained(env, tmp_path, model_file):
    """customers:1 registered as a dataset; fraud:1 registered as trained on it."""
    services, people = env
    csv = tmp_path / "customers.csv"
    csv.write_text("a,b,label\n" + "".join(f"{i},{i * 2},{i % 2}\n" for i in range(50)))
    dataset = services.datasets.register(people["alice"], csv, "customers")
    v = services.registry.register(
        people["alice"], "fraud", model_file,
        {"framework": "scikit-learn", "metrics": {"auc": 0.91},
         "datasets": [dataset.model_reference()]})
    return services, people, dataset, v


def _bom(services, people, ref=("fraud", 1)) -> dict:
    return json.loads(services.registry.bom(people["dan"], *ref))


def test_bom_is_valid_cyclonedx_and_describes_the_version(trained) -> None:
    services, people, dataset, v = trained
    raw = services.registry.bom(people["dan"], "fraud", 1)
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(raw.decode()) is None
    bom = json.loads(raw)
    assert bom["bomFormat"] == "CycloneDX" and bom["specVersion"] == "1.6"
    model = bom["metadata"]["component"]
    assert (model["type"], model["name"], model["version"]) == (
        "machine-learning-model", "fraud", "1")
    assert model["hashes"] == [{"alg": "SHA-256", "content": v.digest}]
    props = {p["name"]: p["value"] for p in model["properties"]}
    assert props["garrison:format"] == v.format == "pickle"
    assert props["garrison:framework"] == "scikit-learn"
    assert props["garrison:scan:verdict"] == "safe"
    assert props["garrison:metric:auc"] == "0.91"
    key = services.registry.provenance.key
    assert props["garrison:signature:openssf:signer"] == key.active_id
    bundle = services.registry.model_signature(people["dan"], "fraud", 1)
    assert props["garrison:signature:openssf:bundle_sha256"] == hashlib.sha256(
        bundle).hexdigest()
    assert props["garrison:manifest:key-id"] == services.keyring.active_id
    by_type = {c["type"]: c for c in bom["components"]}
    framework = by_type["framework"]
    import sklearn

    assert (framework["name"], framework["version"]) == ("scikit-learn", sklearn.__version__)
    assert framework["purl"] == f"pkg:pypi/scikit-learn@{sklearn.__version__}"
    data = by_type["data"]
    assert (data["name"], data["version"]) == ("customers", "1")
    assert data["hashes"] == [{"alg": "SHA-256", "content": dataset.digest}]
    [deps] = [d for d in bom["dependencies"] if d["ref"] == model["bom-ref"]]
    assert set(deps["dependsOn"]) == {framework["bom-ref"], data["bom-ref"]}


def test_bom_digest_is_part_of_the_signed_manifest(trained) -> None:
    services, people, _, v = trained
    predicate = verify_manifest(services.keyring, v.manifest, name="fraud", version=1,
                                digest=v.digest, metadata=v.metadata.to_dict())
    raw = services.registry.bom(people["dan"], "fraud", 1)
    assert predicate["bom_sha256"] == hashlib.sha256(raw).hexdigest()
    assert predicate["model_signature"]["signer"] == services.registry.provenance.key.active_id


def test_an_altered_bom_is_refused(trained, tmp_path) -> None:
    """A BOM re-sealed with the right key but other content no longer matches the
    digest the manifest signs: served never, refused with DigestMismatch."""
    services, people, _, v = trained
    bom = _bom(services, people)
    bom["components"] = [c for c in bom["components"] if c["type"] != "data"]  # Hide data.
    forged = tmp_path / "forged.json"
    forged.write_bytes(json.dumps(bom).encode())
    predicate = verify_manifest(services.keyring, v.manifest, name="fraud", version=1,
                                digest=v.digest, metadata=v.metadata.to_dict())
    services.registry._artifacts.put(
        "fraud", 1, forged, side_context("bom", "fraud", 1, predicate["bom_sha256"]),
        kind="bom")
    with pytest.raises(DigestMismatch):
        services.registry.bom(people["dan"], "fraud", 1)


def test_bom_needs_view_model(trained) -> None:
    services, people, _, _ = trained
    outsider = services.accounts.create_principal(people["root"], "eve", roles=[])
    with pytest.raises(Forbidden):
        services.registry.bom(outsider, "fraud", 1)


def test_version_registered_before_boms_says_so(trained) -> None:
    """A manifest signed without a BOM digest (an older version): NotFound, not a crash."""
    services, people, _, v = trained
    statement = build_statement(
        name="fraud", version=1, digest=v.digest, size=v.size, fmt=v.format,
        registrant="alice", created=v.created, scan=v.scan_report,
        metadata=v.metadata.to_dict())
    older = dataclasses.replace(v, manifest=sign_manifest(services.keyring, statement))
    with pytest.raises(NotFound, match="before"):
        services.registry._documents.bom(older)
    with pytest.raises(NotFound, match="before"):
        services.registry._documents.model_signature(older)
    assert services.registry._documents.verify_openssf(older, b"") is None


def test_a_missing_bom_file_is_an_integrity_failure(trained) -> None:
    services, people, _, _ = trained
    services.registry._artifacts.path("fraud", 1, "bom").unlink()
    with pytest.raises(DecryptionFailed):
        services.registry.bom(people["dan"], "fraud", 1)
