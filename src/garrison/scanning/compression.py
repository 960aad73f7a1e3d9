"""Compression layers (joblib's zlib/gzip/bz2/lzma/xz files, ``.tar.gz``), streamed with caps.

The stream is inflated chunk by chunk with a bounded output size, so a bomb is stopped
after at most the remaining ``max_uncompressed_bytes`` plus one chunk, and the ratio cap is
enforced as the data flows. The inflated bytes are then scanned as an artifact of their
own (a joblib pickle, a tar, ...).
"""

from __future__ import annotations

import bz2
import lzma
import zlib
from typing import Any

from garrison.scanning.context import Buffer, ScanContext
from garrison.scanning.registry import ScannerInfo, dispatch

__all__ = ["CompressionScanner", "compression_kind"]

_CHUNK = 1 << 20
_ERRORS = (zlib.error, lzma.LZMAError, OSError, EOFError, ValueError)


class _Corrupt(Exception):
    pass


class _Bomb(Exception):
    pass


def compression_kind(data: Buffer) -> str | None:
    """Name the compression by its magic bytes (joblib's own detection uses the same)."""
    head = bytes(data[:6])
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    if head.startswith(b"BZh"):
        return "bz2"
    if head.startswith(b"\xfd7zXZ\x00"):
        return "xz"
    if head.startswith(b"]\x00\x00"):
        return "lzma"
    if head.startswith(b"\x04\x22\x4d\x18"):
        return "lz4"
    if len(head) >= 2 and head[0] == 0x78 and (head[0] << 8 | head[1]) % 31 == 0:
        return "zlib"
    return None


def _decompressor(kind: str) -> Any:
    if kind == "zlib":
        return zlib.decompressobj(15)
    if kind == "gzip":
        return zlib.decompressobj(31)
    if kind == "bz2":
        return bz2.BZ2Decompressor()
    return lzma.LZMADecompressor(lzma.FORMAT_AUTO)


def _inflate(data: Buffer, kind: str, limit: int, max_ratio: float, floor: int) -> bytearray:
    view = memoryview(data)
    out = bytearray()
    pos = 0
    is_zlib = kind in ("zlib", "gzip")
    try:
        while True:
            dec = _decompressor(kind)
            while not dec.eof:
                if pos >= len(view):
                    raise _Corrupt("the compressed stream is truncated")
                chunk = view[pos : pos + _CHUNK]
                pos += len(chunk)
                pending: Any = chunk
                while True:
                    piece = dec.decompress(pending, limit - len(out) + 1)
                    out += piece
                    if len(out) > limit:
                        raise _Bomb(f"inflates beyond the remaining cap of {limit} bytes")
                    if dec.eof:
                        break
                    if is_zlib:
                        pending = dec.unconsumed_tail
                        if not pending:
                            break
                    elif dec.needs_input or not piece:
                        break
                    else:
                        pending = b""
                if len(out) > floor and len(out) > max_ratio * pos:
                    raise _Bomb(f"compression ratio above {max_ratio}")
            pos -= len(dec.unused_data)
            rest = view[pos:]
            if not len(rest) or (kind == "gzip" and not bytes(rest).strip(b"\x00")):
                return out
            if compression_kind(rest) != kind:
                raise _Corrupt("trailing bytes after the compressed stream")
    except _ERRORS as exc:
        raise _Corrupt(f"the compressed stream is corrupt ({type(exc).__name__})") from exc


class CompressionScanner:
    """A compression layer around another artifact."""

    info = ScannerInfo(
        name="compressed",
        description="Streams zlib, gzip, bz2, xz and lzma layers with size and ratio caps, then "
        "scans the inflated bytes (joblib compressed pickles, .tar.gz). lz4 is refused.",
        recognises="gzip, bz2, xz, lzma-alone, lz4 or zlib magic bytes",
        priority=40,
        extensions=(".gz", ".z", ".bz2", ".xz", ".lzma", ".lz4"),
    )

    def sniff(self, data: Buffer, name: str) -> bool:
        return compression_kind(data) is not None

    def scan(self, data: Buffer, name: str, ctx: ScanContext) -> str:
        kind = compression_kind(data)
        assert kind is not None
        ctx.count_scanned(len(data))
        if kind == "lz4":
            ctx.add("compression-unsupported", "lz4 needs a third-party library", name="lz4")
            return "lz4"
        policy = ctx.policy
        try:
            inflated = _inflate(
                data, kind, ctx.remaining_uncompressed(), policy.max_ratio, policy.ratio_floor_bytes
            )
        except _Bomb as exc:
            ctx.add("archive-bomb", str(exc), name=kind)
            return kind
        except _Corrupt as exc:
            ctx.add("compression-corrupt", str(exc), name=kind)
            return kind
        if not ctx.charge_uncompressed(len(inflated)):
            return kind
        inner = dispatch(inflated, name, ctx.nested())
        return f"{inner}+{kind}"
