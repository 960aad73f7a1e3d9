"""The scanning recipe: ``scan_path`` / ``scan_bytes`` produce a report, ``ensure_safe`` guards.

A scan never unpickles, never imports what it reads, and never raises for hostile input:
every failure becomes a finding and the verdict refuses. The report carries the SHA-256
of exactly the bytes that were judged, so a caller binds the verdict to that content
(scan the stored copy, not a path that may change afterwards).
"""

from __future__ import annotations

import hashlib
import mmap
import os
import stat
from pathlib import Path

from garrison.errors import ArtifactRefused, ArtifactUnscannable
from garrison.scanning import _builtins  # noqa: F401 - registers the built-in scanners
from garrison.scanning.context import Buffer, ScanContext
from garrison.scanning.findings import Finding, ScanReport, verdict_of
from garrison.scanning.policy import DEFAULT_POLICY, ScanPolicy
from garrison.scanning.registry import dispatch

__all__ = ["ensure_safe", "scan_bytes", "scan_path"]

_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def _report(
    data: Buffer | None,
    name: str,
    policy: ScanPolicy,
    *,
    sha256: str,
    size: int,
    base_dir: str | None = None,
    early: str | None = None,
    detail: str | None = None,
) -> ScanReport:
    ctx = ScanContext.root(policy, base_dir)
    fmt = "unknown"
    if early is not None:
        ctx.add(early, detail)
    elif data is not None:
        try:
            fmt = dispatch(data, name, ctx)
        except Exception as exc:
            ctx.add("scanner-error", f"{type(exc).__name__} while scanning")
        top = ctx.top_format
        fmt = fmt if fmt != "unknown" or top is None else top
    findings: tuple[Finding, ...] = tuple(ctx.findings)
    return ScanReport(
        name=name,
        format=fmt,
        verdict=verdict_of(findings),
        sha256=sha256,
        size=size,
        bytes_scanned=ctx.bytes_scanned,
        findings=findings,
        findings_truncated=ctx.dropped > 0,
    )


def scan_bytes(
    data: bytes | bytearray | memoryview, name: str = "<bytes>", policy: ScanPolicy = DEFAULT_POLICY
) -> ScanReport:
    """Scan an in-memory artifact. ``name`` is used for messages and format hints only."""
    if isinstance(data, memoryview):
        data = data.tobytes()
    sha = hashlib.sha256(data).hexdigest()
    if len(data) > policy.max_bytes:
        return _report(None, name, policy, sha256=sha, size=len(data), early="file-too-large")
    return _report(data, name, policy, sha256=sha, size=len(data))


def scan_path(path: str | os.PathLike[str], policy: ScanPolicy = DEFAULT_POLICY) -> ScanReport:
    """Scan the file at ``path`` (memory-mapped, never loaded as a whole, never unpickled)."""
    name = Path(path).name or os.fspath(path)
    try:
        with open(path, "rb") as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode):
                return _report(None, name, policy, sha256=_EMPTY_SHA256, size=0,
                               early="file-unreadable", detail="not a regular file")
            size = info.st_size
            if size == 0:
                return _report(b"", name, policy, sha256=_EMPTY_SHA256, size=0)
            if size > policy.max_bytes:
                digest = hashlib.file_digest(handle, "sha256").hexdigest()
                return _report(None, name, policy, sha256=digest, size=size,
                               early="file-too-large")
            with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
                digest = hashlib.sha256(mapped).hexdigest()
                base_dir = os.path.dirname(os.path.abspath(path))
                return _report(mapped, name, policy, sha256=digest, size=size, base_dir=base_dir)
    except OSError as exc:
        return _report(None, name, policy, sha256=_EMPTY_SHA256, size=0,
                       early="file-unreadable",
                       detail=f"cannot read the file ({type(exc).__name__})")


def ensure_safe(report: ScanReport) -> None:
    """Raise unless the verdict is ``safe``; the report goes into the error's ``detail``.

    :class:`ArtifactUnscannable` (a subclass of :class:`ArtifactRefused`) when the scan
    could not finish, :class:`ArtifactRefused` when it found something not allowed.
    """
    if report.verdict == "safe":
        return
    rules = sorted({f.rule_id for f in report.findings})
    error = ArtifactUnscannable if report.verdict == "unscannable" else ArtifactRefused
    raise error(
        f"the artifact was {report.verdict} by the scanner ({', '.join(rules[:5])})",
        report=report.to_dict(),
        sha256=report.sha256,
    )
