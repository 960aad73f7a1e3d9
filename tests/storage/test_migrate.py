"""The light schema check (no Alembic import) agrees with Alembic itself."""

from __future__ import annotations

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from garrison.storage.migrate import _config, current_heads, head_revisions


def test_heads_read_from_the_revision_files_are_alembics() -> None:
    assert head_revisions() == frozenset(ScriptDirectory.from_config(_config(None)).get_heads())
    assert len(head_revisions()) >= 1


def test_applied_heads_are_read_as_alembic_reads_them(store) -> None:
    with store.engine.connect() as conn:
        expected = frozenset(MigrationContext.configure(conn).get_current_heads())
    assert current_heads(store.engine) == expected == head_revisions()


def test_an_empty_database_has_no_applied_revision(tmp_path) -> None:
    from garrison.storage import make_engine

    engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    try:
        assert current_heads(engine) == frozenset()
    finally:
        engine.dispose()
