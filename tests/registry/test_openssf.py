"""OpenSSF model signing both ways, with the real ``model-signing`` package.

A Garrison-signed artifact verifies with ``model_signing`` (its Python API and its
command line) outside Garrison; an artifact signed with ``model_signing`` elsewhere
verifies at registration. A tampered artifact, bundle or key fails in both directions.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from model_signing import signing as ms_signing
from model_signing import verifying as ms_verifying

from garrison.app import build_services
from garrison.audit import AuditQuery
from garrison.errors import ArtifactRefused, ConfigurationError, DigestMismatch, InvalidSignature
from garrison.signing import ModelSigningKey, TrustedSigners, _hazmat

MODEL_SIGNING_CLI = [sys.executable, "-m", "model_signing"]


def _keypair(tmp_path: Path, name: str) -> tuple[Path, Path]:
    private = tmp_path / f"{name}.pem"
    private.write_bytes(_hazmat.ec_generate_pem())
    public = tmp_path / f"{name}.pub"
    public.write_bytes(_hazmat.ec_public_pem_from_private(private.read_bytes()))
    return private, public


def _ms_verify(model: Path, sig: Path, pub: Path) -> None:
    ms_verifying.Config().use_elliptic_key_verifier(public_key=pub).verify(model, sig)


def _trusting(env, *keys: Path, require: bool = False):
    """The same installation, rebuilt with these trusted signer keys."""
    services, people = env
    settings = services.settings.model_copy(update={
        "model_signing_trusted_keys": list(keys), "require_model_signature": require})
    return build_services(settings, clock=services.clock), people


# -- Garrison signs, model_signing verifies -----------------------------------------

def test_garrison_signature_verifies_with_model_signing(env, model_file, tmp_path) -> None:
    services, p = env
    services.registry.register(p["alice"], "fraud", model_file, {"framework": "sklearn"})
    downloaded = tmp_path / "downloaded.pkl"
    downloaded.write_bytes(services.registry.download(p["root"], "fraud", 1))
    sig = tmp_path / "model.sig"
    sig.write_bytes(services.registry.model_signature(p["dan"], "fraud", 1))
    pub = tmp_path / "garrison.pub"
    pub.write_bytes(services.registry.provenance.key.public_pem())
    _ms_verify(downloaded, sig, pub)
    cli = subprocess.run([*MODEL_SIGNING_CLI, "verify", "key", "--signature", str(sig),
                          "--public_key", str(pub), str(downloaded)],
                         capture_output=True, text=True, timeout=120)
    assert cli.returncode == 0 and "Verification succeeded" in cli.stdout, cli.stderr


def test_tampered_artifact_fails_model_signing(env, model_file, tmp_path) -> None:
    services, p = env
    services.registry.register(p["alice"], "fraud", model_file)
    tampered = tmp_path / "tampered.pkl"
    data = bytearray(services.registry.download(p["root"], "fraud", 1))
    data[len(data) // 2] ^= 0x01
    tampered.write_bytes(bytes(data))
    sig = tmp_path / "model.sig"
    sig.write_bytes(services.registry.model_signature(p["dan"], "fraud", 1))
    pub = tmp_path / "garrison.pub"
    pub.write_bytes(services.registry.provenance.key.public_pem())
    with pytest.raises(ValueError, match="mismatch"):
        _ms_verify(tampered, sig, pub)
    cli = subprocess.run([*MODEL_SIGNING_CLI, "verify", "key", "--signature", str(sig),
                          "--public_key", str(pub), str(tampered)],
                         capture_output=True, text=True, timeout=120)
    assert cli.returncode != 0


def test_a_foreign_key_does_not_verify_garrison_signatures(env, model_file, tmp_path) -> None:
    services, p = env
    services.registry.register(p["alice"], "fraud", model_file)
    artifact = tmp_path / "a.pkl"
    artifact.write_bytes(services.registry.download(p["root"], "fraud", 1))
    sig = tmp_path / "model.sig"
    sig.write_bytes(services.registry.model_signature(p["dan"], "fraud", 1))
    _, other = _keypair(tmp_path, "other")
    with pytest.raises(ValueError):
        _ms_verify(artifact, sig, other)


def test_verify_checks_the_openssf_bundle_too(env, model_file, tmp_path) -> None:
    """A bundle swapped at rest (re-sealed, so it opens) fails ``garrison model verify``."""
    services, p = env
    services.registry.register(p["alice"], "fraud", model_file)
    out = services.registry.verify(p["dan"], "fraud", 1)
    assert out["model_signed_by"] == services.registry.provenance.key.active_id
    other = tmp_path / "other.pkl"
    other.write_bytes(b"not the model")
    forged = tmp_path / "forged.sig"
    forged.write_bytes(services.registry.provenance.key.sign_file(other))
    v = services.registry.get("fraud", 1)
    from garrison.registry.documents import side_context
    from garrison.registry.manifest import verify_manifest

    record = verify_manifest(services.keyring, v.manifest, name="fraud", version=1,
                             digest=v.digest, metadata=v.metadata.to_dict())["model_signature"]
    services.registry._artifacts.put("fraud", 1, forged, side_context(
        "model-signature", "fraud", 1, record["bundle_sha256"]), kind="model-signature")
    with pytest.raises(DigestMismatch):
        services.registry.verify(p["dan"], "fraud", 1)
    [failed] = services.store.query(AuditQuery(limit=None, action="verify-model-version",
                                               outcome="failed"))
    assert failed.reason == "digest-mismatch"
    # Past the digest, the ECDSA check itself refuses a bundle over other bytes.
    artifact = tmp_path / "artifact.pkl"
    artifact.write_bytes(services.registry.download(p["root"], "fraud", 1))
    bundle = forged.read_bytes()
    with pytest.raises(InvalidSignature):
        services.registry.provenance.verify(artifact, bundle, {
            "bundle_sha256": hashlib.sha256(bundle).hexdigest()})


def test_keys_persist_and_rotation_keeps_verifying(tmp_path) -> None:
    directory = tmp_path / "model-signing"
    key = ModelSigningKey.load_or_create(directory)
    assert oct((directory / f"{key.active_id}.pem").stat().st_mode & 0o777) == "0o600"
    model = tmp_path / "m.bin"
    model.write_bytes(b"weights")
    old = key.sign_file(model)
    new_id = key.rotate()
    again = ModelSigningKey.load_or_create(directory)
    assert again.active_id == new_id and len(again.key_ids()) == 2
    assert again.verify_file(model, old).signer != new_id  # The old key still verifies.
    (directory / f"{new_id}.pem").chmod(0o644)
    with pytest.raises(ConfigurationError, match="0600"):
        ModelSigningKey.load_or_create(directory)


# -- model_signing signs elsewhere, Garrison verifies at registration --------------------

def test_externally_signed_model_verifies_at_registration(env, model_file, tmp_path) -> None:
    private, public = _keypair(tmp_path, "ci")
    sig = tmp_path / "model.sig"
    ms_signing.Config().use_elliptic_key_signer(private_key=private).sign(model_file, sig)
    services, p = _trusting(env, public)
    try:
        v = services.registry.register(p["alice"], "fraud", model_file, signature=sig)
        bom = json.loads(services.registry.bom(p["dan"], "fraud", v.version))
        props = {x["name"]: x["value"] for x in bom["metadata"]["component"]["properties"]}
        assert props["garrison:signature:supplied:method"] == "key"
        assert props["garrison:signature:supplied:signer"] == TrustedSigners.from_files(
            [public]).verify_file(model_file, sig.read_bytes()).signer
    finally:
        services.close()


def test_externally_signed_with_the_cli_verifies(env, model_file, tmp_path) -> None:
    private, public = _keypair(tmp_path, "ci")
    sig = tmp_path / "model.sig"
    subprocess.run([*MODEL_SIGNING_CLI, "sign", "key", "--private_key", str(private),
                    "--signature", str(sig), str(model_file)], check=True,
                   capture_output=True, timeout=120)
    services, p = _trusting(env, public)
    try:
        assert services.registry.register(p["alice"], "fraud", model_file,
                                          signature=sig).version == 1
    finally:
        services.close()


@pytest.mark.parametrize("attack", ["tampered-artifact", "untrusted-key", "garbage",
                                    "tampered-bundle", "another-model"])
def test_bad_supplied_signatures_are_refused_and_nothing_stored(env, model_file, tmp_path,
                                                                attack) -> None:
    private, public = _keypair(tmp_path, "ci")
    rogue, _ = _keypair(tmp_path, "rogue")
    sig = tmp_path / "model.sig"
    signer = rogue if attack == "untrusted-key" else private
    ms_signing.Config().use_elliptic_key_signer(private_key=signer).sign(model_file, sig)
    artifact = model_file
    if attack == "tampered-artifact":
        artifact = tmp_path / "tampered.pkl"
        data = bytearray(model_file.read_bytes())
        data[-3] ^= 0x01
        artifact.write_bytes(bytes(data))
    elif attack == "garbage":
        sig.write_bytes(b"\x00not a bundle")
    elif attack == "tampered-bundle":
        bundle = json.loads(sig.read_bytes())
        sigbytes = bundle["dsseEnvelope"]["signatures"][0]["sig"]
        bundle["dsseEnvelope"]["signatures"][0]["sig"] = (
            sigbytes[:10] + ("A" if sigbytes[10] != "A" else "B") + sigbytes[11:])
        sig.write_bytes(json.dumps(bundle).encode())
    elif attack == "another-model":
        other = tmp_path / "other.pkl"
        other.write_bytes(b"\x80\x05N.")
        ms_signing.Config().use_elliptic_key_signer(private_key=private).sign(other, sig)
    services, p = _trusting(env, public)
    try:
        with pytest.raises(InvalidSignature):
            services.registry.register(p["alice"], "fraud", artifact, signature=sig)
        assert services.registry.list_versions(p["root"]) == []
        [failed] = services.store.query(AuditQuery(
            limit=None, action="register-model-version", outcome="failed"))
        assert failed.reason == "invalid-signature"
    finally:
        services.close()


def test_signature_without_trusted_signers_is_refused(env, model_file, tmp_path) -> None:
    services, p = env
    private, _ = _keypair(tmp_path, "ci")
    sig = tmp_path / "model.sig"
    ms_signing.Config().use_elliptic_key_signer(private_key=private).sign(model_file, sig)
    with pytest.raises(InvalidSignature, match="no model signers are trusted"):
        services.registry.register(p["alice"], "fraud", model_file, signature=sig)


def test_policy_can_require_a_signature(env, model_file, tmp_path) -> None:
    _, public = _keypair(tmp_path, "ci")
    services, p = _trusting(env, public, require=True)
    try:
        with pytest.raises(ArtifactRefused, match="OpenSSF signature"):
            services.registry.register(p["alice"], "fraud", model_file)
        assert services.registry.list_versions(p["root"]) == []
    finally:
        services.close()


def test_trusted_key_files_are_checked_at_startup(tmp_path) -> None:
    bad = tmp_path / "bad.pub"
    bad.write_text("-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n")
    with pytest.raises(ConfigurationError, match=r"bad\.pub"):
        TrustedSigners.from_files([bad])
    with pytest.raises(ConfigurationError, match="cannot read"):
        TrustedSigners.from_files([tmp_path / "missing.pub"])
    with pytest.raises(ConfigurationError, match="identity and an issuer"):
        TrustedSigners.from_files([], identity="ci@example.org")


def test_keyless_bundle_is_refused_without_a_trusted_identity(tmp_path) -> None:
    """A certificate (keyless Sigstore) bundle needs a configured identity; offline and
    without one it fails closed with InvalidSignature, never a crash."""
    model = tmp_path / "m.bin"
    model.write_bytes(b"w")
    bundle = json.dumps({"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
                         "verificationMaterial": {"certificate": {"rawBytes": "AAAA"}},
                         "dsseEnvelope": {}}).encode()
    with pytest.raises(InvalidSignature, match="keyless"):
        TrustedSigners({}).verify_file(model, bundle)
