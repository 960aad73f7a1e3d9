"""Signing recipes: DSSE envelopes over an Ed25519 keyring, sealing, keyed hashes and
OpenSSF model signing."""

from garrison.signing.envelope import (
    IN_TOTO_PAYLOAD_TYPE,
    pae,
    sign,
    sign_json,
    verify,
    verify_json,
)
from garrison.signing.keyfiles import create_key_file, ensure_private_key_file, read_key_file
from garrison.signing.keyring import Keyring, key_id_for, write_private_file
from garrison.signing.mac import KeyedHasher, hmac_sha256, verify_hmac_sha256
from garrison.signing.openssf import (
    BUNDLE_MEDIA_TYPE,
    ModelSignature,
    ModelSigningKey,
    TrustedSigners,
)
from garrison.signing.sealing import (
    ACTIVE_MASTER_FILE,
    DeterministicCipher,
    MasterKeys,
    open_sealed,
    seal,
    seal_file,
    seal_stream,
    unseal,
)

__all__ = [
    "ACTIVE_MASTER_FILE",
    "BUNDLE_MEDIA_TYPE",
    "IN_TOTO_PAYLOAD_TYPE",
    "DeterministicCipher",
    "KeyedHasher",
    "Keyring",
    "MasterKeys",
    "ModelSignature",
    "ModelSigningKey",
    "TrustedSigners",
    "create_key_file",
    "ensure_private_key_file",
    "hmac_sha256",
    "key_id_for",
    "open_sealed",
    "pae",
    "read_key_file",
    "seal",
    "seal_file",
    "seal_stream",
    "sign",
    "sign_json",
    "unseal",
    "verify",
    "verify_hmac_sha256",
    "verify_json",
    "write_private_file",
]
