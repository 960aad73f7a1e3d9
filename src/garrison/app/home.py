"""Setting up and upgrading a home: ``garrison init`` and ``garrison db``.

``initialize`` creates the home, the signing keyring, the schema and the first admin;
``upgrade_database`` applies migrations (and, with the keys at hand, the one-off genesis
checkpoint and state seals of an older installation); ``database_revisions`` reports the
schema revision. Each then goes through ``build_services`` like every other command.
"""

from __future__ import annotations

import os

from garrison.app.services import Services, build_services, make_store
from garrison.config import Settings
from garrison.errors import AlreadyInitialized
from garrison.governance import NewKey
from garrison.identity import Principal
from garrison.signing import Keyring
from garrison.storage import make_engine
from garrison.storage.audit_log import read_witness
from garrison.storage.migrate import current_revision, head_revision
from garrison.types import Clock, SystemClock

__all__ = ["database_revisions", "initialize", "upgrade_database"]


def initialize(
    settings: Settings, admin: str = "admin", *, clock: Clock | None = None,
    key_days: int | None = 90,
) -> tuple[Services, Principal, NewKey]:
    """Create the home (0700), the signing keyring (0600 files), the schema and the first admin."""
    home = settings.home
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(home, 0o700)
    signing = settings.signing_keys
    if (signing / "active").exists():
        keyring = Keyring.load(signing)
    else:
        settings.keys_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(settings.keys_dir, 0o700)
        keyring = Keyring.create(signing)
    store = make_store(settings, keyring, clock or SystemClock())
    store.upgrade()
    store.dispose()
    services = build_services(settings, clock=clock)
    try:
        principal, key = services.accounts.bootstrap_admin(admin, key_days=key_days)
    except AlreadyInitialized:
        services.close()
        raise
    # Born sealed: every power-granting row is sealed as it is written, so there is
    # nothing to adopt, and no later start or upgrade ever seals unsigned rows.
    services.state.adopt(fresh=True)
    # The genesis checkpoint: the first events signed into the witness file. From now on
    # an empty or restarted chain is detected (`truncated`, `rewritten`) and refused.
    services.store.checkpoint()
    return services, principal, key


def upgrade_database(settings: Settings) -> str | None:
    """Apply migrations (``garrison db upgrade``); returns the new revision.

    Migrating needs only the database URL, so a migration Job mounts no key; it is safe
    when several run at once (an advisory lock on PostgreSQL, ``storage/migrations/env.py``).
    When the signing keys are at hand, an installation made before genesis checkpoints
    existed also gets one now, so that a wipe of its audit trail is detected from here on,
    and one made before state seals has its governance state sealed, once (without keys
    those steps wait for an upgrade run with them; until then unsealed state is refused).
    """
    from garrison.storage.migrate import upgrade_url

    revision = upgrade_url(settings.database)
    if not (settings.signing_keys / "active").exists():
        return revision
    store = make_store(settings, Keyring.load(settings.signing_keys), SystemClock())
    try:
        if store.head() is not None and not read_witness(settings.witness_file):
            store.checkpoint()
        revision = store.revision()
        initialized = store.head() is not None
    finally:
        store.dispose()
    if initialized:
        # An installation made before state seals: seal its current state, once, over a
        # chain that verifies (the governance state is trusted as it stands now).
        services = build_services(settings)
        try:
            services.state.adopt()
        finally:
            services.close()
    return revision


def database_revisions(settings: Settings) -> tuple[str | None, str]:
    """The database's revision and the newest one this release knows (``garrison db
    current``); needs no keys, so it works on a home that is not initialized."""
    engine = make_engine(settings.database)
    try:
        return current_revision(engine), head_revision()
    finally:
        engine.dispose()
