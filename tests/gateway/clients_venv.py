"""An isolated virtualenv with the real OIP clients (tritonclient, kserve) from PyPI.

Why isolated: kserve 0.21 pins ``pandas<3``, ``protobuf<7`` and ``psutil<6``, and
tritonclient's ``grpc`` extra pins ``protobuf<7``, while Garrison runs on pandas 3 and
its generated gRPC stubs need protobuf 7. Installing them next to Garrison would
downgrade what Garrison is tested with, or fail. The clients run in their own
interpreter and talk to a live ``garrison serve`` over the network, as they would in
production; nothing of Garrison is imported there.

The venv is built once per machine and requirement set (under
``$GARRISON_TEST_CACHE`` or ``~/.cache/garrison-tests``), behind a file lock so that
parallel test workers build it once. ``python -m tests.gateway.clients_venv`` builds it
ahead of a test run.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

REQUIREMENTS = ("tritonclient[http,grpc]>=2.60", "kserve>=0.15")


def _root() -> Path:
    key = hashlib.sha256(repr((sys.version_info[:2], REQUIREMENTS)).encode()).hexdigest()[:12]
    base = Path(os.environ.get("GARRISON_TEST_CACHE", Path.home() / ".cache" / "garrison-tests"))
    return base / f"oip-clients-{key}"


def clients_python() -> Path:
    """The interpreter of the clients' venv, building the venv first if needed."""
    root = _root()
    python = root / "bin" / "python"
    root.parent.mkdir(parents=True, exist_ok=True)
    with open(root.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (root / "ready").exists():
            return python
        shutil.rmtree(root, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(root)], check=True, timeout=300)
        subprocess.run([str(python), "-m", "pip", "install", "--disable-pip-version-check",
                        "--quiet", *REQUIREMENTS], check=True, timeout=1800)
        (root / "ready").write_text("\n".join(REQUIREMENTS) + "\n")
    return python


if __name__ == "__main__":
    print(clients_python())
