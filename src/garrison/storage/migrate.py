"""Alembic migrations, run programmatically (``garrison db upgrade``).

Areas added after the registry branch from ``0003_gateway`` as separate heads, so
``upgrade`` targets every head and "current" means every head is applied.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from garrison.errors import StorageError
from garrison.storage.engine import make_engine

__all__ = [
    "current_heads",
    "current_revision",
    "head_revision",
    "head_revisions",
    "upgrade",
    "upgrade_url",
]

_HERE = Path(__file__).parent / "migrations"


def _config(engine: Engine | None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(_HERE))
    cfg.attributes["engine"] = engine
    return cfg


def head_revisions() -> frozenset[str]:
    return frozenset(ScriptDirectory.from_config(_config(None)).get_heads())


def head_revision() -> str:
    """The newest revisions as one printable string."""
    return ",".join(sorted(head_revisions()))


def current_heads(engine: Engine) -> frozenset[str]:
    with engine.connect() as conn:
        return frozenset(MigrationContext.configure(conn).get_current_heads())


def current_revision(engine: Engine) -> str | None:
    heads = current_heads(engine)
    return ",".join(sorted(heads)) if heads else None


def upgrade(engine: Engine, revision: str = "heads") -> None:
    command.upgrade(_config(engine), revision)


def upgrade_url(url: str) -> str | None:
    """Apply every migration to the database at ``url``; returns the new revision.

    Needs the database URL only (no keys): the migration Job of a Kubernetes
    deployment gets nothing else. Safe when several run at once (see ``env.py``).
    """
    engine = make_engine(url)
    try:
        upgrade(engine)
        return current_revision(engine)
    except DBAPIError as exc:
        raise StorageError("database migration failed") from exc
    finally:
        engine.dispose()
