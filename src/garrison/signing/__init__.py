"""Signing recipes: DSSE envelopes over an Ed25519 keyring."""

from garrison.signing.envelope import (
    IN_TOTO_PAYLOAD_TYPE,
    pae,
    sign,
    sign_json,
    verify,
    verify_json,
)
from garrison.signing.keyring import Keyring, key_id_for, write_private_file

__all__ = [
    "IN_TOTO_PAYLOAD_TYPE",
    "Keyring",
    "key_id_for",
    "pae",
    "sign",
    "sign_json",
    "verify",
    "verify_json",
    "write_private_file",
]

from garrison.signing.sealing import (
    DeterministicCipher,
    MasterKeys,
    open_sealed,
    seal,
    seal_file,
    unseal,
)

__all__ += ["DeterministicCipher", "MasterKeys", "open_sealed", "seal", "seal_file", "unseal"]
