"""The key directory a deployment mounts from a Kubernetes Secret: create it, check it.

Every replica must hold the same keys: the signing keyring (manifests and the audit
chain), the master key that wraps artifact keys, the pseudonymization keys (the
gateway's digests of recorded decision inputs use the HMAC one, so equal inputs hash
alike on every replica) and the OpenSSF model-signing keys. ``create_key_set`` writes
them all once, on an operator's machine; ``check_key_set`` loads them as a replica
would, creating nothing.
"""

from __future__ import annotations

import os
from pathlib import Path

from garrison.config import Settings
from garrison.datasets.pseudonymize import HMAC_KEY_FILE, SIV_KEY_FILE
from garrison.errors import AlreadyInitialized, ConfigurationError
from garrison.signing import (
    ACTIVE_MASTER_FILE,
    Keyring,
    MasterKeys,
    ModelSigningKey,
    create_key_file,
    read_key_file,
    write_private_file,
)

__all__ = ["MODEL_SIGNING_DIR", "check_key_set", "create_key_set"]

#: The model-signing keys' folder inside a key set (their ``*.pem`` and ``active`` would
#: clash with the signing keyring's in one folder): a second Secret.
MODEL_SIGNING_DIR = "model-signing"

_FIXED = ((HMAC_KEY_FILE, 32), (SIV_KEY_FILE, 64))


def create_key_set(directory: Path) -> list[str]:
    """Write every secret key an installation needs into one new directory (files 0600).

    The layout is flat, as a Secret's keys are: the signing keyring (``<id>.pem``,
    ``active``), the master key (``master-<id>.key``, ``master-active``) and the two
    pseudonymization keys; point both key_dir and signing_key_dir at that Secret. The
    OpenSSF model-signing keys go to the ``model-signing`` folder, the second Secret
    (model_signing_key_dir). Returns the file names (never the keys).
    """
    if directory.exists() and any(directory.iterdir()):
        raise AlreadyInitialized(f"{directory} is not empty; keys are never overwritten")
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(directory, 0o700)
    Keyring.create(directory)
    master = MasterKeys.load_or_create(directory)
    write_private_file(directory / ACTIVE_MASTER_FILE, master.active.encode())
    for name, size in _FIXED:
        create_key_file(directory / name, size)
    ModelSigningKey.load_or_create(directory / MODEL_SIGNING_DIR)
    return sorted(p.relative_to(directory).as_posix() for p in directory.rglob("*")
                  if p.is_file())


def check_key_set(settings: Settings) -> list[str]:
    """Load every key file as a replica would, creating nothing; raise on the first fault.

    Returns one line per key (its id or size, never its bytes).
    """
    keyring = Keyring.load(settings.signing_keys)
    lines = [f"signing keys {', '.join(keyring.key_ids())}; active {keyring.active_id}"]
    if settings.master_key is None:
        if not any(settings.keys_dir.glob("master-*.key")):
            raise ConfigurationError(f"no master key (master-*.key) in {settings.keys_dir}")
        master = MasterKeys.load_or_create(settings.keys_dir)
        lines.append(f"master keys {', '.join(sorted(master.keys))}; active {master.active}")
    for name, size in _FIXED:
        read_key_file(settings.keys_dir / name, size=size)
        lines.append(f"{name}: {size} bytes")
    if not (settings.model_signing_keys / "active").exists():
        raise ConfigurationError(f"no model-signing keys in {settings.model_signing_keys}")
    signing = ModelSigningKey.load_or_create(settings.model_signing_keys)
    lines.append(f"model-signing keys {', '.join(signing.key_ids())}; "
                 f"active {signing.active_id}")
    return lines
