"""Zip and tar containers: path-escape, link, bomb, count and depth guards, then members.

Guards run on the central directory / headers before any byte is extracted. A zip is then
routed by layout: ``*/data.pkl`` is a PyTorch checkpoint, a root ``schema.json`` a skops
file, all-``.npy`` members an ``.npz``; any other zip or tar has each member scanned as
an artifact of its own (nested formats are sniffed, unknown ones refused).
"""

from __future__ import annotations

import itertools
import re
import stat
import tarfile
import zipfile
import zlib
from typing import Any

from garrison.scanning.context import Buffer, ScanContext, ViewReader
from garrison.scanning.keras_scan import is_keras_layout, scan_keras_members
from garrison.scanning.registry import ScannerInfo, dispatch
from garrison.scanning.torch_scan import TorchMember, scan_torch_members

__all__ = ["TarScanner", "ZipScanner", "link_escapes", "name_escapes"]

_DRIVE = re.compile(r"^[A-Za-z]:")
_SPLIT = re.compile(r"[/\\]")
_ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, RuntimeError, NotImplementedError,
               zlib.error, OSError, EOFError, ValueError, KeyError)
_TAR_ERRORS = (tarfile.TarError, OSError, EOFError, ValueError, UnicodeError, KeyError)


def name_escapes(name: str) -> bool:
    """True if extracting ``name`` could write outside the target directory."""
    if not name or "\x00" in name or name.startswith(("/", "\\")) or _DRIVE.match(name):
        return True
    return ".." in _SPLIT.split(name)


def link_escapes(member: str, target: str) -> bool:
    """True if a link at ``member`` pointing to ``target`` resolves outside the archive."""
    if not target or target.startswith(("/", "\\")) or _DRIVE.match(target) or "\x00" in target:
        return True
    parts: list[str] = []
    for part in _SPLIT.split(member)[:-1] + _SPLIT.split(target):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                return True
            parts.pop()
        else:
            parts.append(part)
    return False


def _flavor(names: list[str]) -> str:
    if any(n == "data.pkl" or n.endswith("/data.pkl") for n in names):
        return "pytorch"
    if "schema.json" in names:
        return "skops"
    if is_keras_layout(names):
        return "keras"
    if names and all(n.endswith(".npy") for n in names):
        return "npz"
    return "zip"


class ZipScanner:
    """Zip containers, including PyTorch checkpoints, skops files and ``.npz``."""

    info = ScannerInfo(
        name="zip",
        description="Zip guards (path escape, symlinks, bombs, duplicates, overlap, caps), then "
        "PyTorch / skops / Keras / npz layouts or every member as its own artifact.",
        recognises="PK\\x03\\x04 or PK\\x05\\x06 magic",
        priority=20,
        extensions=(".zip", ".pt", ".pth", ".npz", ".skops", ".keras"),
    )

    def sniff(self, data: Buffer, name: str) -> bool:
        return bytes(data[:4]) in (b"PK\x03\x04", b"PK\x05\x06")

    def scan(self, data: Buffer, name: str, ctx: ScanContext) -> str:
        ctx.count_scanned(len(data))
        try:
            archive = zipfile.ZipFile(ViewReader(data))
        except _ZIP_ERRORS as exc:
            ctx.add("archive-corrupt", f"not a readable zip ({type(exc).__name__})")
            return "zip"
        with archive:
            return self._scan_open(archive, ctx)

    def _scan_open(self, archive: zipfile.ZipFile, ctx: ScanContext) -> str:
        policy = ctx.policy
        infos = archive.infolist()
        if len(infos) > policy.max_members:
            ctx.add("archive-too-many-members", f"{len(infos)} members, cap {policy.max_members}")
            return "zip"
        files: list[zipfile.ZipInfo] = []
        seen: set[str] = set()
        declared = 0
        bomb = False
        for info in infos:
            if name_escapes(info.filename):
                ctx.add("archive-path-escape", name=info.filename)
                continue
            if info.filename in seen:
                ctx.add("archive-duplicate-member", name=info.filename)
            seen.add(info.filename)
            if info.is_dir():
                continue
            if info.create_system == 3 and stat.S_ISLNK(info.external_attr >> 16):
                target = self._read(archive, info, ctx.child(info.filename), limit=4096)
                if target is None or link_escapes(info.filename, target.decode("utf-8", "replace")):
                    ctx.add("archive-link-escape", name=info.filename)
                continue
            declared += info.file_size
            ratio = info.file_size / max(info.compress_size, 1)
            if info.file_size > policy.ratio_floor_bytes and ratio > policy.max_ratio:
                ctx.add("archive-bomb", f"compression ratio above {policy.max_ratio}",
                        name=info.filename)
                bomb = True
            files.append(info)
        if declared > ctx.remaining_uncompressed():
            ctx.add("archive-bomb", f"members declare {declared} bytes uncompressed, above the cap")
            bomb = True
        ordered = sorted(files, key=lambda i: i.header_offset)
        for first, second in itertools.pairwise(ordered):
            if second.header_offset < first.header_offset + max(first.compress_size, 1):
                ctx.add("archive-bomb", "zip members overlap", name=second.filename)
                bomb = True
                break
        if bomb:
            return "zip"
        flavor = _flavor([i.filename for i in files])
        if flavor == "pytorch":
            members = [
                TorchMember(i.filename, i.file_size, self._reader(archive, i, ctx)) for i in files
            ]
            return scan_torch_members(members, ctx)
        if flavor == "skops":
            from garrison.scanning.skops_scan import scan_skops_members

            return scan_skops_members(
                {i.filename: self._reader(archive, i, ctx) for i in files}, ctx
            )
        if flavor == "keras":
            return scan_keras_members(
                {i.filename: self._reader(archive, i, ctx) for i in files}, ctx
            )
        for info in files:
            child = ctx.child(info.filename)
            data = self._read(archive, info, child)
            if data is not None:
                dispatch(data, info.filename, child)
        return flavor

    def _reader(self, archive: zipfile.ZipFile, info: zipfile.ZipInfo, ctx: ScanContext) -> Any:
        return lambda: self._read(archive, info, ctx.child(info.filename))

    @staticmethod
    def _read(
        archive: zipfile.ZipFile, info: zipfile.ZipInfo, ctx: ScanContext, limit: int | None = None
    ) -> bytes | None:
        size = info.file_size if limit is None else min(limit, info.file_size)
        if not ctx.charge_uncompressed(size):
            return None
        try:
            with archive.open(info) as handle:
                data = handle.read(size + 1)
        except _ZIP_ERRORS as exc:
            ctx.add("archive-corrupt", f"member cannot be read ({type(exc).__name__})")
            return None
        if limit is None and len(data) != info.file_size:
            ctx.add("archive-corrupt", "member size differs from the central directory")
            return None
        return data


class TarScanner:
    """Tar containers (compressed tars arrive here through the compression scanner)."""

    info = ScannerInfo(
        name="tar",
        description="Tar guards (path escape, symlink/hardlink escape, device nodes, caps), then "
        "every member as its own artifact.",
        recognises="'ustar' at offset 257",
        priority=50,
        extensions=(".tar",),
    )

    def sniff(self, data: Buffer, name: str) -> bool:
        return len(data) > 262 and bytes(data[257:262]) == b"ustar"

    def scan(self, data: Buffer, name: str, ctx: ScanContext) -> str:
        ctx.count_scanned(len(data))
        policy = ctx.policy
        try:
            archive = tarfile.open(fileobj=ViewReader(data), mode="r:")  # noqa: SIM115
        except _TAR_ERRORS as exc:
            ctx.add("archive-corrupt", f"not a readable tar ({type(exc).__name__})")
            return "tar"
        with archive:
            members: list[tarfile.TarInfo] = []
            try:
                while (member := archive.next()) is not None:
                    members.append(member)
                    if len(members) > policy.max_members:
                        ctx.add("archive-too-many-members", f"more than {policy.max_members}")
                        return "tar"
            except _TAR_ERRORS as exc:
                ctx.add("archive-corrupt", f"tar headers are corrupt ({type(exc).__name__})")
                return "tar"
            seen: set[str] = set()
            files: list[tarfile.TarInfo] = []
            for member in members:
                if name_escapes(member.name):
                    ctx.add("archive-path-escape", name=member.name)
                    continue
                if member.name in seen:
                    ctx.add("archive-duplicate-member", name=member.name)
                if member.issym() and link_escapes(member.name, member.linkname):
                    ctx.add("archive-link-escape", f"symlink to {member.linkname!r}",
                            name=member.name)
                elif member.islnk() and (
                    name_escapes(member.linkname) or member.linkname not in seen
                ):
                    ctx.add("archive-link-escape", f"hardlink to {member.linkname!r}",
                            name=member.name)
                elif member.ischr() or member.isblk() or member.isfifo():
                    ctx.add("archive-special-member", name=member.name)
                elif member.isfile():
                    files.append(member)
                seen.add(member.name)
            for member in files:
                child = ctx.child(member.name)
                if not child.charge_uncompressed(member.size):
                    return "tar"
                try:
                    handle = archive.extractfile(member)
                    data = handle.read() if handle is not None else b""
                except _TAR_ERRORS as exc:
                    child.add("archive-corrupt", f"member cannot be read ({type(exc).__name__})")
                    continue
                dispatch(data, member.name, child)
        return "tar"
