"""`garrison db upgrade` is safe when several run at once (Helm hook Jobs, pods)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from sqlalchemy import create_engine, text

from garrison.storage.migrate import head_revisions
from garrison.testing import temporary_postgres_schema


def _upgrades(url: str, home, count: int) -> list[subprocess.CompletedProcess[str]]:
    env = {**os.environ, "GARRISON_DATABASE_URL": url, "GARRISON_HOME": str(home)}
    procs = [subprocess.Popen([sys.executable, "-m", "garrison", "db", "upgrade"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(count)]
    out = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=300)
        out.append(subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr))
    return out


@pytest.mark.postgres
@pytest.mark.slow
def test_concurrent_upgrades_on_postgres_all_succeed_once(tmp_path) -> None:
    from tests.conftest import require_backend

    require_backend("postgres")
    with temporary_postgres_schema() as url:
        results = _upgrades(url, tmp_path, 3)
        for result in results:
            assert result.returncode == 0, result.stderr[-2000:]
            assert "database at revision" in result.stdout
        engine = create_engine(url)
        try:
            with engine.connect() as conn:
                versions = {row[0] for row in conn.execute(
                    text("SELECT version_num FROM alembic_version"))}
                locks = conn.execute(text("SELECT count(*) FROM garrison_meta "
                                          "WHERE key = 'audit-lock'")).scalar()
        finally:
            engine.dispose()
        assert versions == set(head_revisions())
        assert locks == 1  # The data migration ran exactly once.
        again = _upgrades(url, tmp_path, 1)[0]  # And a later one finds nothing to do.
        assert again.returncode == 0, again.stderr[-2000:]


def test_upgrade_needs_no_key(tmp_path) -> None:
    """The migration Job mounts no Secret: a home without a keyring still migrates."""
    url = f"sqlite:///{tmp_path / 'db' / 'garrison.db'}"
    [result] = _upgrades(url, tmp_path / "empty-home", 1)
    assert result.returncode == 0, result.stderr[-2000:]
    assert not (tmp_path / "empty-home").exists()
