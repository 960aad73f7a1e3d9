"""The scan policy: explicit data that extends the allow-list and sets the caps."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from garrison.errors import InvalidInput

__all__ = ["DEFAULT_ONNX_DOMAINS", "DEFAULT_POLICY", "ScanPolicy", "parse_allow_entry"]

_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_ENTRY = re.compile(rf"^{_IDENT}(\.{_IDENT})*\.({_IDENT}|\*)$")

#: ONNX operator domains allowed by default: the standard sets and ONNX Runtime's contrib ops.
DEFAULT_ONNX_DOMAINS = frozenset({"", "ai.onnx", "ai.onnx.ml", "com.microsoft"})

_MIB = 1024 * 1024
_GIB = 1024 * _MIB


def parse_allow_entry(entry: str) -> tuple[str, str]:
    """Split ``"pkg.mod.Name"`` or ``"pkg.mod.*"`` into ``(module, name)``; raise if malformed.

    ``Name`` must be one identifier (no dotted attribute paths) and must not be a dunder:
    a wildcard never admits ``__reduce__``-style attributes.
    """
    if not isinstance(entry, str) or not _ENTRY.match(entry):
        raise InvalidInput(
            "an allow-list entry must look like 'package.module.Name' or 'package.module.*'",
            entry=str(entry)[:200],
        )
    module, _, name = entry.rpartition(".")
    if name.startswith("__"):
        raise InvalidInput("an allow-list entry may not name a dunder attribute", entry=entry)
    return module, name


@dataclass(frozen=True)
class ScanPolicy:
    """What the scanner accepts beyond the built-in allow-list, and its resource caps.

    ``extra_allowed`` entries are ``"mypkg.models.MyModel"`` (one global) or
    ``"mypkg.models.*"`` (any single, non-dunder name in ``mypkg.models`` or a submodule of
    it). Every entry is a decision somebody must be able to audit: keep the set small.
    """

    extra_allowed: frozenset[str] = frozenset()
    #: Largest file (or ``scan_bytes`` payload) the scanner reads at all.
    max_bytes: int = 16 * _GIB
    #: Total bytes produced by decompression and archive extraction during one scan.
    max_uncompressed_bytes: int = 4 * _GIB
    #: Members per archive.
    max_members: int = 10_000
    #: Largest accepted compression ratio, applied once a member exceeds ``ratio_floor_bytes``.
    max_ratio: float = 200.0
    ratio_floor_bytes: int = 8 * _MIB
    #: How many containers (archive, compression layer, embedded pickle) may nest.
    max_depth: int = 6
    #: Pickle VM caps: stack entries plus memo entries, and MARK nesting.
    max_pickle_items: int = 20_000_000
    max_pickle_marks: int = 100_000
    #: Findings kept in a report (the verdict counts all of them).
    max_findings: int = 500
    #: ONNX operator domains that may appear in nodes and opset imports.
    onnx_domains: frozenset[str] = field(default=DEFAULT_ONNX_DOMAINS)

    def __post_init__(self) -> None:
        if not isinstance(self.extra_allowed, frozenset):
            object.__setattr__(self, "extra_allowed", frozenset(self.extra_allowed))
        for entry in self.extra_allowed:
            parse_allow_entry(entry)
        for cap in ("max_bytes", "max_uncompressed_bytes", "max_members", "max_depth",
                    "max_pickle_items", "max_pickle_marks", "max_findings"):
            if int(getattr(self, cap)) < 1:
                raise InvalidInput(f"{cap} must be positive")
        if self.max_ratio < 1:
            raise InvalidInput("max_ratio must be at least 1")

    def with_allowed(self, *entries: str) -> ScanPolicy:
        """Return a copy whose allow-list also holds ``entries``."""
        return replace(self, extra_allowed=self.extra_allowed | frozenset(entries))


DEFAULT_POLICY = ScanPolicy()
