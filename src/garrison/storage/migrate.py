"""Alembic migrations, run programmatically (``garrison db upgrade``).

Areas added after the registry branch from ``0003_gateway`` as separate heads, so
``upgrade`` targets every head and "current" means every head is applied.

Checking that a database is current happens at every start of every command, so it
does not import Alembic (a third of a second): the newest revisions are read from the
revision files' ``revision`` / ``down_revision`` assignments, and the applied ones from
Alembic's ``alembic_version`` table. ``tests/storage/test_migrate.py`` checks both
against Alembic itself.
"""

from __future__ import annotations

import ast
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import inspect, text
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
_VERSION_TABLE = "alembic_version"


def _config(engine: Engine | None) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(_HERE))
    cfg.attributes["engine"] = engine
    return cfg


def _assignments(path: Path) -> dict[str, Any]:
    """The module-level literal assignments of one revision file."""
    found: dict[str, Any] = {}
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        target = node.target if isinstance(node, ast.AnnAssign) else (
            node.targets[0] if isinstance(node, ast.Assign) and len(node.targets) == 1
            else None)
        value = node.value if isinstance(node, ast.AnnAssign | ast.Assign) else None
        if isinstance(target, ast.Name) and value is not None:
            try:
                found[target.id] = ast.literal_eval(value)
            except ValueError:
                continue
    return found


@lru_cache(maxsize=1)
def head_revisions() -> frozenset[str]:
    """Revisions no other revision builds on."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in sorted((_HERE / "versions").glob("*.py")):
        values = _assignments(path)
        if "revision" not in values:
            continue
        revisions.add(str(values["revision"]))
        down = values.get("down_revision")
        parents.update([down] if isinstance(down, str) else list(down or ()))
    return frozenset(revisions - parents)


def head_revision() -> str:
    """The newest revisions as one printable string."""
    return ",".join(sorted(head_revisions()))


def current_heads(engine: Engine) -> frozenset[str]:
    with engine.connect() as conn:
        if not inspect(conn).has_table(_VERSION_TABLE):
            return frozenset()
        rows = conn.execute(text(f"SELECT version_num FROM {_VERSION_TABLE}"))
        return frozenset(str(row[0]) for row in rows)


def current_revision(engine: Engine) -> str | None:
    heads = current_heads(engine)
    return ",".join(sorted(heads)) if heads else None


def upgrade(engine: Engine, revision: str = "heads") -> None:
    from alembic import command

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
