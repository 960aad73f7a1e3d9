"""Alembic environment: Garrison passes the engine in ``config.attributes``.

Concurrent upgrades are safe. On PostgreSQL the migration transaction first takes an
advisory lock for the schema: a second ``garrison db upgrade`` (two Helm hook Jobs, or
pods started at once) waits for the first to commit, then reads the new revision and
has nothing left to do. SQLite's ``BEGIN IMMEDIATE`` (``garrison_write``) already
serializes them on the database lock.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import text

from garrison.storage.tables import metadata

#: Keyed by schema, so installations sharing a database do not wait for each other.
_LOCK = "SELECT pg_advisory_xact_lock(hashtext('garrison-migrate:' || current_schema()))"

engine = context.config.attributes["engine"]
with engine.connect().execution_options(garrison_write=True) as connection:
    if connection.dialect.name == "postgresql":
        connection.execute(text(_LOCK))  # Held until this transaction ends.
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
