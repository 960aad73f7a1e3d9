"""Storage adapter: SQLAlchemy Core on SQLite (default) or PostgreSQL, Alembic migrations."""

from garrison.storage.artifacts import LocalArtifactStore
from garrison.storage.engine import is_sqlite, make_engine
from garrison.storage.store import Store, Tx

__all__ = ["LocalArtifactStore", "Store", "Tx", "is_sqlite", "make_engine"]
