"""Registration with reference data and an OpenSSF signature, BOM and key, through the SDK."""

from __future__ import annotations

import hashlib
import io
import json

import pandas as pd
import pytest
from model_signing import verifying as ms_verifying

from garrison.errors import InvalidInput, InvalidSignature, PayloadTooLarge
from tests.web.helpers import model_bytes


def _reference(n: int = 40) -> bytes:
    frame = pd.DataFrame({"x0": [i / n for i in range(n)], "x1": [1.0] * n,
                          "x2": [-i / n for i in range(n)]})
    return frame.to_csv(index=False).encode()


def test_register_with_reference_data_gives_a_servable_version(inst, sdk) -> None:
    alice = sdk("alice")
    v = alice.register("fraud", model_bytes(0), filename="model.pkl",
                       reference=_reference(), reference_filename="train.csv")
    schema = v.metadata["input_schema"]
    assert [f["name"] for f in schema["features"]] == ["x0", "x1", "x2"]
    assert v.metadata["reference_sha256"] and v.metadata["profile"]
    frame = inst.services.registry.reference_frame(inst.services.registry.get("fraud", 1))
    assert list(frame.columns) == ["x0", "x1", "x2"] and len(frame) == 40


def test_reference_as_parquet(inst, sdk) -> None:
    buffer = io.BytesIO()
    pd.read_csv(io.BytesIO(_reference())).to_parquet(buffer, index=False)
    v = sdk("alice").register("fraud", model_bytes(0), reference=buffer.getvalue(),
                              reference_filename="train.parquet")
    assert [f["name"] for f in v.metadata["input_schema"]["features"]] == ["x0", "x1", "x2"]


def test_reference_with_another_suffix_is_refused(inst, sdk) -> None:
    with pytest.raises(InvalidInput, match=r"csv or \.parquet"):
        sdk("alice").register("fraud", model_bytes(0), reference=b"a,b\n1,2\n",
                              reference_filename="train.xlsx")
    assert sdk("dan").list_versions() == []


def test_oversized_signature_part_is_refused(inst, sdk) -> None:
    with pytest.raises(PayloadTooLarge):
        sdk("alice").register("fraud", model_bytes(0), signature=b"{" + b" " * 300_000)


def test_untrusted_signature_is_refused_over_http(inst, sdk) -> None:
    other = inst.services.registry.provenance.key.sign_file  # Garrison's key is not trusted
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / "m.pkl"
        model.write_bytes(model_bytes(0))
        bundle = other(model)
    with pytest.raises(InvalidSignature) as raised:
        sdk("alice").register("fraud", model_bytes(0), signature=bundle)
    assert raised.value.detail["status"] == 409
    assert sdk("dan").list_versions() == []


def test_bom_signature_and_key_through_the_sdk(inst, sdk, tmp_path) -> None:
    alice, dan = sdk("alice"), sdk("dan")
    original = model_bytes(0)
    alice.register("fraud", original, metadata={"framework": "scikit-learn"})
    bom = dan.bom("fraud", 1)
    assert bom["metadata"]["component"]["hashes"][0]["content"] == hashlib.sha256(
        original).hexdigest()
    (tmp_path / "model.pkl").write_bytes(original)
    (tmp_path / "model.sig").write_bytes(dan.model_signature("fraud", 1))
    (tmp_path / "garrison.pub").write_bytes(dan.model_signing_key())
    ms_verifying.Config().use_elliptic_key_verifier(
        public_key=tmp_path / "garrison.pub").verify(tmp_path / "model.pkl",
                                                     tmp_path / "model.sig")
    assert json.loads((tmp_path / "model.sig").read_text())["mediaType"].startswith(
        "application/vnd.dev.sigstore.bundle")
    assert dan.verify("fraud", 1).model_signed_by == json.loads(
        (tmp_path / "model.sig").read_text())["verificationMaterial"]["publicKey"]["hint"]
