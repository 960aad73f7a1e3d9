"""Private scratch directories for plaintext artifacts, swept after a crash.

Registration scans, smoke-tests and signs a private plaintext copy of the model, and
``model verify`` checks the OpenSSF bundle over one; the admin API spools uploads the
same way. A process killed with ``kill -9`` runs no cleanup, so each such directory is
made under one root that only this user can enter (mode 0700, owned by us, never a
symbolic link) and is named after the process that made it
(``<purpose>-<pid>-<random>``). Every new scratch directory first sweeps the root:
directories of processes that no longer run are deleted, so a crashed registration's
plaintext lives only until the next one starts (or :func:`sweep` runs at startup).
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from garrison.errors import ConfigurationError

__all__ = ["make_scratch", "private_scratch", "scratch_root", "sweep"]

_NAME = re.compile(r"^[a-z]+-(\d+)-[A-Za-z0-9_]+$")


def scratch_root(base: Path | None = None) -> Path:
    """``base`` (default: a per-user folder of the system temporary directory), created
    0700 if missing; refused if it is a link, someone else's, or open to others."""
    root = Path(base) if base is not None else \
        Path(tempfile.gettempdir()) / f"garrison-scratch-{os.getuid()}"
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = root.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise ConfigurationError(f"the scratch directory {root} must be a directory of "
                                 "this user with mode 0700")
    return root


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # Someone else's process: not ours to judge.
    return True


def sweep(root: Path) -> list[str]:
    """Delete the scratch directories under ``root`` whose process is gone; their names."""
    removed = []
    for entry in root.iterdir():
        match = _NAME.fullmatch(entry.name)
        if match is None or _alive(int(match.group(1))):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed.append(entry.name)
    return removed


def make_scratch(purpose: str, base: Path | None = None) -> Path:
    """A new private scratch directory (the caller deletes it); the root is swept first."""
    root = scratch_root(base)
    sweep(root)
    return Path(tempfile.mkdtemp(prefix=f"{purpose}-{os.getpid()}-", dir=root))


@contextmanager
def private_scratch(purpose: str, base: Path | None = None) -> Iterator[Path]:
    """``with private_scratch("register") as tmp:`` a directory deleted on the way out
    (and by the next sweep if this process dies first)."""
    path = make_scratch(purpose, base)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
