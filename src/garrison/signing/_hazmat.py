"""Thin private wrappers over the ``cryptography`` package.

.. danger::
   This is Garrison's hazmat layer. Nothing outside ``garrison.signing`` (and the
   registry's encryption-at-rest recipe, which goes through :mod:`garrison.signing.sealing`)
   should call these functions directly: they take raw bytes and make no policy
   decisions. Use :mod:`garrison.signing.envelope` and :mod:`garrison.signing.keyring`.
"""

from __future__ import annotations

import hashlib
import hmac
import os

from cryptography.exceptions import InvalidSignature as _CryptoInvalidSignature
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, AESSIV

from garrison.errors import DecryptionFailed, InvalidSignature

__all__ = [
    "aes_gcm_decrypt",
    "aes_gcm_encrypt",
    "aes_siv_decrypt",
    "aes_siv_encrypt",
    "ec_generate_pem",
    "ec_public_pem",
    "ec_public_pem_from_private",
    "ed25519_generate",
    "ed25519_private_from_pem",
    "ed25519_private_to_pem",
    "ed25519_public_from_raw",
    "ed25519_public_raw",
    "ed25519_sign",
    "ed25519_verify",
    "hmac_sha256",
    "random_bytes",
]


def random_bytes(n: int) -> bytes:
    return os.urandom(n)


def ed25519_generate() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def ed25519_private_to_pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def ed25519_private_from_pem(data: bytes) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise InvalidSignature("signing key file is not a valid PEM private key") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise InvalidSignature("signing key file does not hold an Ed25519 key")
    return key


def ed25519_public_raw(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def ed25519_public_from_raw(raw: bytes) -> Ed25519PublicKey:
    try:
        return Ed25519PublicKey.from_public_bytes(raw)
    except ValueError as exc:
        raise InvalidSignature("malformed Ed25519 public key") from exc


def ed25519_sign(key: Ed25519PrivateKey, message: bytes) -> bytes:
    return key.sign(message)


def ed25519_verify(public: Ed25519PublicKey, signature: bytes, message: bytes) -> None:
    try:
        public.verify(signature, message)
    except _CryptoInvalidSignature as exc:
        raise InvalidSignature("signature does not verify") from exc


def aes_gcm_encrypt(key: bytes, nonce: bytes, plaintext: bytes, aad: bytes) -> bytes:
    return AESGCM(key).encrypt(nonce, plaintext, aad)


def aes_gcm_decrypt(key: bytes, nonce: bytes, ciphertext: bytes, aad: bytes) -> bytes:
    try:
        return AESGCM(key).decrypt(nonce, ciphertext, aad)
    except (InvalidTag, ValueError) as exc:
        raise DecryptionFailed("ciphertext could not be authenticated") from exc


def aes_siv_encrypt(key: bytes, plaintext: bytes, aad: list[bytes]) -> bytes:
    return AESSIV(key).encrypt(plaintext, aad)


def aes_siv_decrypt(key: bytes, ciphertext: bytes, aad: list[bytes]) -> bytes:
    try:
        return AESSIV(key).decrypt(ciphertext, aad)
    except (InvalidTag, ValueError) as exc:
        raise DecryptionFailed("ciphertext could not be authenticated") from exc


def hmac_sha256(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, hashlib.sha256).digest()


#: The curves OpenSSF model signing accepts (Sigstore's protobuf specs).
EC_CURVES = ("secp256r1", "secp384r1", "secp521r1")


def ec_generate_pem() -> bytes:
    """A fresh ECDSA P-256 private key as unencrypted PKCS#8 PEM."""
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def ec_public_pem_from_private(data: bytes) -> bytes:
    """The SubjectPublicKeyInfo PEM of an EC private key in PEM."""
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise InvalidSignature("the model-signing key file is not a valid PEM private key"
                               ) from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name not in EC_CURVES:
        raise InvalidSignature("the model-signing key is not an ECDSA P-256/384/521 key")
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)


def ec_public_pem(data: bytes) -> bytes:
    """A trusted EC public key (PEM), checked and re-encoded canonically."""
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise InvalidSignature("not a PEM public key") from exc
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name not in EC_CURVES:
        raise InvalidSignature("not an ECDSA P-256/384/521 public key")
    return key.public_bytes(serialization.Encoding.PEM,
                            serialization.PublicFormat.SubjectPublicKeyInfo)
