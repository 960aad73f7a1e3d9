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

from garrison.signing.keyfiles import create_key_file, ensure_private_key_file, read_key_file
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

__all__ += [
    "ACTIVE_MASTER_FILE",
    "DeterministicCipher",
    "MasterKeys",
    "create_key_file",
    "ensure_private_key_file",
    "open_sealed",
    "read_key_file",
    "seal",
    "seal_file",
    "seal_stream",
    "unseal",
]
