"""State shared by the scanners during one scan: policy, findings, budgets, nesting."""

from __future__ import annotations

import io
import mmap
from dataclasses import dataclass, field
from typing import Union

from garrison.scanning.findings import Finding
from garrison.scanning.policy import ScanPolicy
from garrison.scanning.rules import RULES

__all__ = ["Buffer", "ScanAborted", "ScanContext", "ViewReader"]

#: What scanners read: the bytes of a file (mmap), a member, or a decompressed stream.
Buffer = Union[bytes, bytearray, memoryview, mmap.mmap]  # noqa: UP007

_NAME_LIMIT = 300


class ScanAborted(Exception):
    """Raised by a scanner after a finding that makes further parsing meaningless."""


def _clean(text: str | None) -> str | None:
    if text is None:
        return None
    text = "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" for ch in text[:_NAME_LIMIT])
    return text


@dataclass
class _Shared:
    policy: ScanPolicy
    base_dir: str | None
    findings: list[Finding] = field(default_factory=list)
    dropped: int = 0
    uncompressed: int = 0
    bytes_scanned: int = 0
    formats: list[str] = field(default_factory=list)


class ScanContext:
    """One nesting level of a scan. ``member`` is the container path, levels joined by ``!``."""

    def __init__(self, shared: _Shared, depth: int = 0, member: str | None = None) -> None:
        self._shared = shared
        self.depth = depth
        self.member = member

    @classmethod
    def root(cls, policy: ScanPolicy, base_dir: str | None = None) -> ScanContext:
        return cls(_Shared(policy, base_dir))

    @property
    def policy(self) -> ScanPolicy:
        return self._shared.policy

    @property
    def base_dir(self) -> str | None:
        """The directory of the scanned file (``None`` for ``scan_bytes``)."""
        return self._shared.base_dir if self.depth == 0 or self.member is None else None

    @property
    def findings(self) -> list[Finding]:
        return self._shared.findings

    @property
    def dropped(self) -> int:
        return self._shared.dropped

    @property
    def bytes_scanned(self) -> int:
        return self._shared.bytes_scanned

    def add(
        self,
        rule_id: str,
        message: str | None = None,
        *,
        offset: int | None = None,
        name: str | None = None,
    ) -> None:
        """Record a finding of ``rule_id`` at this level."""
        rule = RULES[rule_id]
        if len(self._shared.findings) >= self.policy.max_findings:
            self._shared.dropped += 1
            # A refusing finding must still decide the verdict: keep the last slot for one.
            last = self._shared.findings[-1]
            if RULES[last.rule_id].effect != "refuse" and rule.effect == "refuse":
                self._shared.findings[-1] = self._make(rule_id, message, offset, name)
            return
        self._shared.findings.append(self._make(rule_id, message, offset, name))

    def _make(
        self, rule_id: str, message: str | None, offset: int | None, name: str | None
    ) -> Finding:
        rule = RULES[rule_id]
        return Finding(
            rule_id=rule_id,
            severity=rule.severity,
            message=_clean(message) or rule.summary,
            member=_clean(self.member),
            offset=offset,
            name=_clean(name),
        )

    def child(self, member: str) -> ScanContext:
        """The context for a member of a container at this level."""
        path = member if self.member is None else f"{self.member}!{member}"
        return ScanContext(self._shared, self.depth + 1, path)

    def nested(self) -> ScanContext:
        """The context for a layer inside this member (decompressed stream, embedded pickle)."""
        return ScanContext(self._shared, self.depth + 1, self.member)

    def count_scanned(self, n: int) -> None:
        self._shared.bytes_scanned += n

    def note_format(self, name: str) -> None:
        if self.depth == 0:
            self._shared.formats.append(name)

    @property
    def top_format(self) -> str | None:
        return self._shared.formats[-1] if self._shared.formats else None

    def charge_uncompressed(self, n: int) -> bool:
        """Count ``n`` extracted bytes; record ``archive-bomb`` and return False past the cap."""
        self._shared.uncompressed += n
        if self._shared.uncompressed > self.policy.max_uncompressed_bytes:
            self.add(
                "archive-bomb",
                f"extraction exceeds max_uncompressed_bytes ({self.policy.max_uncompressed_bytes})",
            )
            return False
        return True

    def remaining_uncompressed(self) -> int:
        return max(0, self.policy.max_uncompressed_bytes - self._shared.uncompressed)


class ViewReader(io.RawIOBase):
    """A seekable read-only file over a buffer, without copying it (for zipfile/tarfile)."""

    def __init__(self, data: Buffer) -> None:
        super().__init__()
        self._view = memoryview(data).cast("B")
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: len(self._view)}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        out = memoryview(buffer).cast("B")
        chunk = self._view[self._pos : self._pos + len(out)]
        n = len(chunk)
        out[:n] = chunk
        self._pos += n
        return n

    def close(self) -> None:
        self._view.release()
        super().close()
