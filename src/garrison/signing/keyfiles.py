"""Secret key files: who may own them, who may read them, and how they are read.

A key file is accepted when nobody but the process (or root) can change it and
nobody else can read it, following PostgreSQL's rule for its TLS key:

* owned by the user running Garrison (root included), with no group or other
  permission (0600 or 0400); or
* owned by root while Garrison runs as another user, with at most read permission
  for the group and none for others (0640 or 0440).

The second form is what a Kubernetes Secret volume gives a non-root pod: the kubelet
creates the files as root, and with the pod's ``fsGroup`` set it adds group read to
whatever ``defaultMode`` says (0400 becomes 0440, group = the pod's own fsGroup).
Symbolic links are followed (a Secret volume's files are links into ``..data/``),
and the file they lead to is what is checked. Anything else is refused with
:class:`ConfigurationError` naming the file, never its content.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path

from garrison.errors import ConfigurationError

__all__ = ["create_key_file", "ensure_private_key_file", "read_key_file", "write_private_file"]


def write_private_file(path: Path, data: bytes) -> None:
    """Create ``path`` with mode 0600 from the first byte (never world-readable, even briefly).

    The bytes go to a fresh temporary name next to ``path`` (created exclusively, so a
    planted file or symlink there is never followed), then replace ``path`` atomically;
    a failed write leaves nothing behind.
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)  # mkstemp created it 0600.
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def ensure_private_key_file(path: Path) -> None:
    """Raise :class:`ConfigurationError` unless ``path`` is a private regular file."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise ConfigurationError(f"the key file {path} does not exist") from None
    except OSError as exc:
        raise ConfigurationError(f"cannot inspect the key file {path}") from exc
    if not stat.S_ISREG(st.st_mode):
        raise ConfigurationError(f"the key file {path} is not a regular file")
    mode = stat.S_IMODE(st.st_mode)
    me = os.geteuid()
    if st.st_uid == me:  # Ours (also when we are root): nobody else may read it.
        if not mode & 0o077:
            return
        allowed = "0600 or 0400"
    elif st.st_uid == 0:  # Root's, readable through our group (a mounted Secret).
        if not mode & 0o037:
            return
        allowed = "0640 or 0440 (root-owned)"
    else:
        raise ConfigurationError(
            f"the key file {path} belongs to another user (uid {st.st_uid}); it must belong "
            "to the user running Garrison or to root")
    raise ConfigurationError(
        f"the key file {path} has mode {mode:04o}; it must be {allowed}: others can read "
        "or change it")


def read_key_file(path: Path, *, size: int | None = None) -> bytes:
    """The bytes of a key file that passed :func:`ensure_private_key_file`."""
    ensure_private_key_file(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigurationError(f"cannot read the key file {path}") from exc
    if size is not None and len(data) != size:
        raise ConfigurationError(f"the key file {path} must hold exactly {size} bytes")
    return data


def create_key_file(path: Path, size: int) -> bool:
    """Create ``path`` with ``size`` random bytes unless it exists; True if this call did.

    The key is written under a private name and then linked into place: of two racing
    creators exactly one wins, and the loser keeps the winner's key (a link never
    replaces a file). A read-only directory (a mounted Secret) is reported as a
    missing key, not as an I/O error.
    """
    if path.exists():
        return False
    staging = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}")
    try:
        write_private_file(staging, os.urandom(size))
    except OSError as exc:
        raise ConfigurationError(
            f"the key file {path} is missing and cannot be created there "
            "(create the keys with `garrison secrets create` and mount them)") from exc
    try:
        os.link(staging, path)
        return True
    except FileExistsError:
        return False
    finally:
        staging.unlink(missing_ok=True)
