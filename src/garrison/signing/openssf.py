"""OpenSSF model signing: Sigstore bundles over a model file (the ``model-signing`` package).

Garrison signs every registered artifact twice. Its own DSSE manifest
(:mod:`garrison.registry.manifest`) vouches for what Garrison knows about the version;
the OpenSSF bundle made here is the signature the rest of the ecosystem checks::

    model_signing verify key --signature model.sig --public_key garrison-model.pub model.skops

:class:`ModelSigningKey` holds Garrison's ECDSA P-256 keys (PEM files, mode 0600, the
newest signs, older ones keep verifying). :class:`TrustedSigners` says whose bundles
registration accepts: public keys (``model_signing sign key``) and, where the server
can reach Sigstore, one keyless identity (``model_signing sign sigstore``). Every
failure of the third-party library becomes :class:`~garrison.errors.InvalidSignature`;
no foreign exception leaves this module.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from garrison.errors import ConfigurationError, InvalidSignature
from garrison.signing import _hazmat
from garrison.signing.keyfiles import ensure_private_key_file, write_private_file

__all__ = ["BUNDLE_MEDIA_TYPE", "ModelSignature", "ModelSigningKey", "TrustedSigners",
           "key_id_of"]

BUNDLE_MEDIA_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
#: The largest bundle read; a key-signed one is about 2 KB, a keyless one about 10 KB.
MAX_BUNDLE_BYTES = 256 * 1024


def key_id_of(public_pem: bytes) -> str:
    """The key id model-signing writes into a bundle: SHA-256 (hex) of the public PEM."""
    return hashlib.sha256(public_pem).hexdigest()


@dataclass(frozen=True)
class ModelSignature:
    """A verified OpenSSF signature: how it was made, by whom, and which bundle."""

    method: str  # "key" or "sigstore"
    signer: str  # The key id, or the Sigstore identity.
    bundle_sha256: str
    issuer: str = ""

    def to_dict(self) -> dict[str, str]:
        out = {"format": "openssf-model-signing", "method": self.method, "signer": self.signer,
               "bundle_sha256": self.bundle_sha256}
        if self.issuer:
            out["issuer"] = self.issuer
        return out


def _material(bundle: bytes) -> dict[str, Any]:
    """The bundle's verification material, read only to pick a verifier (never trusted)."""
    if len(bundle) > MAX_BUNDLE_BYTES:
        raise InvalidSignature("the model signature is too large")
    try:
        parsed = json.loads(bundle)
        material = parsed["verificationMaterial"]
        if not isinstance(material, dict):
            raise TypeError
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidSignature("the model signature is not a Sigstore bundle") from exc
    return material


@contextlib.contextmanager
def _scratch() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="garrison-sig-") as tmp:
        yield Path(tmp)


def _verify_with(config: Any, model: Path, bundle: bytes, workdir: Path) -> None:
    """Run model-signing's verification; every failure is an InvalidSignature."""
    sig = workdir / "model.sig"
    sig.write_bytes(bundle)
    try:
        config.verify(model, sig)
    except Exception as exc:  # The library raises ValueError, protobuf and pydantic errors.
        raise InvalidSignature("the OpenSSF model signature does not verify",
                               why=type(exc).__name__) from exc


def _verify_key(public_pem: bytes, model: Path, bundle: bytes) -> None:
    from model_signing import verifying

    with _scratch() as tmp:
        pub = tmp / "signer.pub"
        pub.write_bytes(public_pem)
        _verify_with(verifying.Config().use_elliptic_key_verifier(public_key=pub), model,
                     bundle, tmp)


class ModelSigningKey:
    """Garrison's OpenSSF model-signing keys: ECDSA P-256, newest signs, all verify.

    On disk: ``<key-id>.pem`` files (mode 0600) and an ``active`` file naming the key
    that signs, in one directory (``HOME/keys/model-signing``).
    """

    def __init__(self, keys: dict[str, bytes], active: str, directory: Path | None) -> None:
        self._private = keys
        self._public = {kid: _hazmat.ec_public_pem_from_private(pem) for kid, pem in
                        keys.items()}
        self.active_id = active
        self.directory = directory

    @classmethod
    def generate(cls) -> ModelSigningKey:
        """An in-memory key (tests, ephemeral use)."""
        pem = _hazmat.ec_generate_pem()
        kid = key_id_of(_hazmat.ec_public_pem_from_private(pem))
        return cls({kid: pem}, kid, None)

    @classmethod
    def load_or_create(cls, directory: Path) -> ModelSigningKey:
        """Load the keys in ``directory``; create it with one key if it has none.

        A read-only directory (a mounted Secret) must already hold them; key files must
        pass :func:`~garrison.signing.keyfiles.ensure_private_key_file`.
        """
        if not (directory / "active").exists():
            try:
                directory.mkdir(parents=True, exist_ok=True, mode=0o700)
                ring = cls.generate()
                ring.directory = directory
                ring._persist(ring.active_id)
            except OSError as exc:
                raise ConfigurationError(
                    f"no model-signing key in {directory} and it cannot be created there "
                    "(create the keys with `garrison secrets create` and mount them)") from exc
            return ring
        keys = {}
        for pem in sorted(directory.glob("*.pem")):
            ensure_private_key_file(pem)
            data = pem.read_bytes()
            keys[key_id_of(_hazmat.ec_public_pem_from_private(data))] = data
        active = (directory / "active").read_text().strip()
        if active not in keys:
            raise ConfigurationError("the active model-signing key file is missing")
        return cls(keys, active, directory)

    def _persist(self, kid: str) -> None:
        assert self.directory is not None
        write_private_file(self.directory / f"{kid}.pem", self._private[kid])
        write_private_file(self.directory / "active", kid.encode())

    def rotate(self) -> str:
        """Make a fresh key the signing key; older keys keep verifying. Returns its id."""
        pem = _hazmat.ec_generate_pem()
        kid = key_id_of(_hazmat.ec_public_pem_from_private(pem))
        self._private[kid] = pem
        self._public[kid] = _hazmat.ec_public_pem_from_private(pem)
        self.active_id = kid
        if self.directory is not None:
            self._persist(kid)
        return kid

    def public_pem(self, key_id: str | None = None) -> bytes:
        """A public key in PEM (the signing key's by default), for ``model_signing verify``."""
        try:
            return self._public[key_id or self.active_id]
        except KeyError:
            raise InvalidSignature("unknown model-signing key", key_id=key_id) from None

    def key_ids(self) -> list[str]:
        return sorted(self._public)

    def sign_file(self, model: Path) -> bytes:
        """An OpenSSF model-signing bundle (JSON) over the file ``model``."""
        from model_signing import signing

        with _scratch() as tmp:
            key_file = (self.directory / f"{self.active_id}.pem" if self.directory is not None
                        else tmp / "key.pem")
            if self.directory is None:
                write_private_file(key_file, self._private[self.active_id])
            out = tmp / "model.sig"
            try:
                signing.Config().use_elliptic_key_signer(private_key=key_file).sign(model, out)
            except Exception as exc:
                raise InvalidSignature("OpenSSF model signing failed",
                                       why=type(exc).__name__) from exc
            return out.read_bytes()

    def verify_file(self, model: Path, bundle: bytes) -> ModelSignature:
        """Check a bundle Garrison made over ``model``; raise ``InvalidSignature``."""
        hint = _material(bundle).get("publicKey", {}).get("hint", "")
        if hint not in self._public:
            raise InvalidSignature("the model signature was not made by a Garrison key")
        _verify_key(self._public[hint], model, bundle)
        return ModelSignature("key", hint, hashlib.sha256(bundle).hexdigest())


@dataclass(frozen=True)
class TrustedSigners:
    """Whose OpenSSF signatures registration accepts.

    ``keys`` maps key ids to EC public keys (PEM). ``identity`` and ``issuer`` admit one
    keyless Sigstore signer (an e-mail or workflow URI, and its OIDC issuer); checking
    such a bundle fetches Sigstore's trust root, so it needs network access.
    """

    keys: dict[str, bytes]
    identity: str = ""
    issuer: str = ""

    @classmethod
    def from_files(cls, paths: Iterable[Path], *, identity: str = "",
                   issuer: str = "") -> TrustedSigners:
        keys = {}
        for path in paths:
            try:
                pem = _hazmat.ec_public_pem(Path(path).read_bytes())
            except OSError as exc:
                raise ConfigurationError(f"cannot read the trusted key {path}") from exc
            except InvalidSignature as exc:
                raise ConfigurationError(f"trusted key {path}: {exc.message}") from exc
            keys[key_id_of(pem)] = pem
        if bool(identity) != bool(issuer):
            raise ConfigurationError("a keyless signer needs both an identity and an issuer")
        return cls(keys, identity, issuer)

    @property
    def empty(self) -> bool:
        return not self.keys and not self.identity

    def verify_file(self, model: Path, bundle: bytes) -> ModelSignature:
        """Check a bundle made elsewhere over ``model``; raise ``InvalidSignature``."""
        material = _material(bundle)
        digest = hashlib.sha256(bundle).hexdigest()
        if "publicKey" in material:
            hint = (material.get("publicKey") or {}).get("hint", "")
            candidates = [hint] if hint in self.keys else ([] if hint else list(self.keys))
            for kid in candidates:
                with contextlib.suppress(InvalidSignature):
                    _verify_key(self.keys[kid], model, bundle)
                    return ModelSignature("key", kid, digest)
            raise InvalidSignature("the model signature is not from a trusted key")
        if not self.identity:
            raise InvalidSignature("keyless model signatures are not trusted here")
        return self._verify_sigstore(model, bundle, digest)

    def _verify_sigstore(self, model: Path, bundle: bytes, digest: str) -> ModelSignature:
        from model_signing import verifying

        try:
            config = verifying.Config().use_sigstore_verifier(identity=self.identity,
                                                              oidc_issuer=self.issuer)
        except Exception as exc:  # Fetching the trust root needs the network.
            raise InvalidSignature("Sigstore's trust root is out of reach",
                                   why=type(exc).__name__) from exc
        with _scratch() as tmp:
            _verify_with(config, model, bundle, tmp)
        return ModelSignature("sigstore", self.identity, digest, issuer=self.issuer)
