"""Issue 11, finding 7: a registration killed with ``kill -9`` leaves no plaintext model
behind in a temporary directory.

A child process registers a model and is killed while its private plaintext copy is
being scanned. The copy lies only in this user's 0700 scratch root, and the next
registration sweeps it away; before, it stayed in ``/tmp/garrison-register-*`` for good.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

from garrison.app import build_services, initialize
from garrison.config import load_settings
from garrison.registry.scratch import scratch_root, sweep
from tests.waiting import HANG_GUARD
from tests.web.helpers import model_bytes

CHILD = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    import garrison.registry.registration as registration
    from garrison.app import build_services
    from garrison.config import load_settings

    real_scan = registration.scan_path

    def stalled(path, policy):
        print("SCANNING", path, flush=True)
        time.sleep(120)
        return real_scan(path, policy)

    registration.scan_path = stalled
    services = build_services(load_settings())
    alice = services.accounts.get("alice")
    services.registry.register(alice, "victim", Path(sys.argv[1]))
""")


def _holding(root: Path, needle: bytes) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and not p.is_symlink()
            and needle in p.read_bytes()]


@pytest.mark.parametrize("cleaner", ["next-registration", "startup"])
def test_a_killed_registration_leaves_no_plaintext_for_long(tmp_path, monkeypatch,
                                                            cleaner) -> None:
    temp = tmp_path / "tmp"
    temp.mkdir()
    settings = load_settings(home=tmp_path / "home", database_url=None)
    services, admin, _ = initialize(settings, "root")
    alice = services.accounts.create_principal(admin, "alice", roles=["data-scientist"])
    secret = model_bytes(seed=7)
    model = tmp_path / "model.pkl"
    model.write_bytes(secret)

    env = {**os.environ, "TMPDIR": str(temp), "GARRISON_HOME": str(settings.home)}
    env.pop("GARRISON_DATABASE_URL", None)
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(model)], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = child.stdout.readline() if child.stdout else ""
        assert line.startswith("SCANNING"), child.stderr.read() if child.stderr else line
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=HANG_GUARD)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    # The killed process left its copy, but only in the private scratch root.
    left = _holding(temp, secret)
    assert left, "the child was killed before its copy was written"
    root = temp / f"garrison-scratch-{os.getuid()}"
    assert all(root in p.parents for p in left)
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    if cleaner == "next-registration":  # The next registration sweeps it away...
        other = tmp_path / "other.pkl"
        other.write_bytes(model_bytes(seed=8))
        services.registry.register(alice, "other", other)
        assert _holding(temp, other.read_bytes()) == []  # Its own copy is gone too.
    else:  # ... and so does the next start of anything that builds the services.
        build_services(settings).close()
    assert _holding(temp, secret) == []
    services.close()


def test_the_sweep_spares_live_processes_and_refuses_a_foreign_root(tmp_path) -> None:
    root = scratch_root(tmp_path / "scratch")
    mine = root / f"register-{os.getpid()}-abc"
    mine.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    gone = root / f"upload-{dead.pid}-xyz"
    gone.mkdir()
    (gone / "model.pkl").write_bytes(b"plaintext")
    assert sweep(root) == [gone.name]
    assert mine.exists() and not gone.exists()
    loose = tmp_path / "loose"
    loose.mkdir(mode=0o777)
    loose.chmod(0o777)
    with pytest.raises(Exception, match="0700"):
        scratch_root(loose)
    link = tmp_path / "link"
    link.symlink_to(root)
    with pytest.raises(Exception, match="0700"):
        scratch_root(link)
