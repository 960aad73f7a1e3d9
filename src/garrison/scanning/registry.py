"""Scanners registered by name with metadata; built-ins use the same door as plug-ins.

Dispatch asks each registered scanner, in ascending ``priority``, whether it recognises the
bytes (``sniff``); the first that does scans them. Formats identified by magic bytes come
first, loosely identified ones (pickle protocol 0/1) last. Nothing recognised means
``format-unknown``: the artifact is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from garrison.errors import ConfigurationError
from garrison.scanning.context import Buffer, ScanAborted, ScanContext

__all__ = [
    "Scanner",
    "ScannerInfo",
    "dispatch",
    "get_scanner",
    "register_scanner",
    "registered_scanners",
    "unregister_scanner",
]


@dataclass(frozen=True)
class ScannerInfo:
    """Metadata of a scanner: its format name, what it checks, how it is recognised."""

    name: str
    description: str
    recognises: str
    priority: int
    extensions: tuple[str, ...] = ()


class Scanner(Protocol):
    """A format scanner. ``scan`` records findings on ``ctx`` and returns the format name."""

    info: ScannerInfo

    def sniff(self, data: Buffer, name: str) -> bool: ...

    def scan(self, data: Buffer, name: str, ctx: ScanContext) -> str: ...


_REGISTRY: dict[str, Scanner] = {}


def register_scanner(scanner: Scanner, *, replace: bool = False) -> Scanner:
    """Add ``scanner`` under ``scanner.info.name``; refuse silent replacement."""
    key = scanner.info.name
    if key in _REGISTRY and not replace:
        raise ConfigurationError(f"a scanner named {key!r} is already registered")
    _REGISTRY[key] = scanner
    return scanner


def unregister_scanner(name: str) -> None:
    """Remove a scanner (plug-in tests); unknown names are ignored."""
    _REGISTRY.pop(name, None)


def get_scanner(name: str) -> Scanner:
    """The scanner registered as ``name``; raise ``ConfigurationError`` if there is none."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigurationError(f"no scanner named {name!r}") from None


def registered_scanners() -> tuple[Scanner, ...]:
    """All scanners in dispatch order."""
    return tuple(sorted(_REGISTRY.values(), key=lambda s: (s.info.priority, s.info.name)))


def dispatch(data: Buffer, name: str, ctx: ScanContext) -> str:
    """Scan ``data`` with the first scanner that recognises it; return the format name."""
    if ctx.depth > ctx.policy.max_depth:
        ctx.add("archive-too-deep", f"nesting depth {ctx.depth} exceeds {ctx.policy.max_depth}")
        return "nested"
    if len(data) == 0:
        ctx.add("file-empty")
        return "empty"
    for scanner in registered_scanners():
        if scanner.sniff(data, name):
            ctx.note_format(scanner.info.name)
            try:
                return scanner.scan(data, name, ctx)
            except ScanAborted:
                return scanner.info.name
    ctx.add("format-unknown", name=name or None)
    return "unknown"


def scan_as(format_name: str, data: Buffer, name: str, ctx: ScanContext) -> str:
    """Scan ``data`` with one named scanner (containers that know their members' format)."""
    scanner = get_scanner(format_name)
    if ctx.depth > ctx.policy.max_depth:
        ctx.add("archive-too-deep", f"nesting depth {ctx.depth} exceeds {ctx.policy.max_depth}")
        return "nested"
    try:
        return scanner.scan(data, name, ctx)
    except ScanAborted:
        return scanner.info.name
