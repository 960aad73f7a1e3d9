"""Alembic environment: Garrison passes the engine in ``config.attributes``."""

from __future__ import annotations

from alembic import context

from garrison.storage.tables import metadata

engine = context.config.attributes["engine"]
with engine.connect().execution_options(garrison_write=True) as connection:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
