"""PyTorch checkpoints: the zip layout (``torch.save`` since 1.6) and the legacy stream.

Zip: every ``*.pkl`` member is scanned with the torch loader context; the persistent ids
of the pickles must be well-formed storage records whose ``data/<key>`` member exists
with the size the id announces. TorchScript (``code/``, ``constants.pkl``) and Python
source members are refused: they are programs.

Legacy: a sequence of pickles (magic number, protocol version, sys_info, the object, the
list of storage keys) followed by each storage as an 8-byte element count and raw bytes.
Everything is scanned, the storages are skipped by their exact size, and anything after
the last storage is refused.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from garrison.scanning._allow_table import TORCH_STORAGE_ITEMSIZE
from garrison.scanning._pickle_vm import Global, Malformed
from garrison.scanning.context import Buffer, ScanContext
from garrison.scanning.pickle_scan import PickleRun, run_pickle, scan_pickle_stream

__all__ = ["StorageRecord", "TorchMember", "scan_torch_legacy", "scan_torch_members"]

_KEY = re.compile(r"^[A-Za-z0-9_]{1,64}$")
_LOCATION = re.compile(r"^[a-z][a-z0-9_]{0,31}(:[0-9]{1,4})?$")
_METADATA = frozenset({
    "version", ".data/version", "byteorder", ".data/serialization_id", ".format_version",
    ".storage_alignment",
})
_i64 = struct.Struct("<q").unpack_from


@dataclass(frozen=True)
class StorageRecord:
    key: str
    itemsize: int
    numel: int


@dataclass(frozen=True)
class TorchMember:
    """What the torch reader needs from an archive member (see archive_scan)."""

    name: str
    size: int
    read: Callable[[], bytes | None]


def storage_record(
    pid: Any, ctx: ScanContext, offset: int, *, legacy: bool
) -> StorageRecord | None:
    """Validate one persistent id; record ``torch-bad-persistent-id`` and return None if bad."""
    ok = type(pid) is tuple and len(pid) == (6 if legacy else 5) and pid[0] == "storage"
    if ok:
        stype, key, location, numel = pid[1], pid[2], pid[3], pid[4]
        ok = (
            type(stype) is Global
            and stype.module in ("torch", "torch.storage")
            and stype.name in TORCH_STORAGE_ITEMSIZE
            and type(key) is str
            and _KEY.match(key) is not None
            and type(location) is str
            and _LOCATION.match(location) is not None
            and type(numel) is int
            and numel >= 0
        )
        if ok and legacy:
            view = pid[5]
            ok = view is None or (
                type(view) is tuple
                and len(view) == 3
                and type(view[0]) is str
                and all(type(x) is int and x >= 0 for x in view[1:])
            )
    if not ok:
        ctx.add(
            "torch-bad-persistent-id",
            "persistent id is not a ('storage', type, key, location, numel) record",
            offset=offset,
        )
        return None
    return StorageRecord(pid[2], TORCH_STORAGE_ITEMSIZE[pid[1].name], pid[4])


def _records(runs: list[PickleRun], ctx: ScanContext, *, legacy: bool) -> dict[str, StorageRecord]:
    records: dict[str, StorageRecord] = {}
    for hooks in runs:
        for pid, offset in hooks.persistent_ids:
            record = storage_record(pid, ctx, offset, legacy=legacy)
            if record is not None:
                records[record.key] = record
    return records


def scan_torch_members(members: list[TorchMember], ctx: ScanContext) -> str:
    """Scan the members of a PyTorch zip checkpoint (already through the archive guards)."""
    from garrison.scanning.registry import dispatch

    data_pkl = next(m for m in members if m.name == "data.pkl" or m.name.endswith("/data.pkl"))
    prefix = data_pkl.name[: -len("data.pkl")]
    by_rel = {m.name[len(prefix):] if m.name.startswith(prefix) else m.name: m for m in members}
    code = [rel for rel in by_rel if rel.startswith("code/") or rel.endswith(".py")]
    if code or "constants.pkl" in by_rel:
        ctx.add("torch-torchscript-code", "the archive carries TorchScript or Python code",
                name=(code or ["constants.pkl"])[0])
    records: dict[str, StorageRecord] = {}
    for rel, member in by_rel.items():
        if not rel.endswith(".pkl"):
            continue
        data = member.read()
        if data is None:
            continue
        child = ctx.child(member.name)
        child.count_scanned(len(data))
        runs: list[PickleRun] = []
        scan_pickle_stream(data, child, loader="torch", buffers=False, runs=runs,
                           legacy_torch=False)
        records.update(_records(runs, child, legacy=False))
    for record in records.values():
        stored = by_rel.get(f"data/{record.key}")
        if stored is None:
            ctx.add("torch-missing-storage", f"storage {record.key!r} has no data/ member",
                    name=record.key)
        elif stored.size != record.numel * record.itemsize:
            ctx.add(
                "torch-storage-size-mismatch",
                f"data/{record.key} holds {stored.size} bytes, the id announces "
                f"{record.numel * record.itemsize}",
                name=record.key,
            )
    for rel, member in by_rel.items():
        if rel.endswith(".pkl") or rel in _METADATA or rel.startswith("data/"):
            continue
        if rel.startswith("code/") or rel.endswith(".py"):
            continue
        data = member.read()
        if data is not None:
            dispatch(data, member.name, ctx.child(member.name))
    return "pytorch"


def _next(data: Buffer, pos: int, ctx: ScanContext, runs: list[PickleRun]) -> tuple[int, Any]:
    hooks = PickleRun(data, ctx, "torch", buffers=False)
    runs.append(hooks)
    return run_pickle(data, pos, hooks)


def scan_torch_legacy(data: Buffer, pos: int, ctx: ScanContext) -> None:
    """Scan a legacy ``torch.save`` stream after its magic-number pickle ending at ``pos``."""
    runs: list[PickleRun] = []
    keys: Any = None
    try:
        for index in range(4):  # protocol version, sys_info, the object, storage keys
            pos, value = _next(data, pos, ctx, runs)
            if index == 3:
                keys = value
    except Malformed as exc:
        ctx.add("pickle-malformed", f"legacy PyTorch stream: {exc}", offset=exc.offset)
        return
    records = _records(runs, ctx, legacy=True)
    if type(keys) is not list or not all(type(k) is str for k in keys):
        ctx.add("torch-bad-persistent-id", "the storage key list is not a list of strings",
                offset=pos)
        return
    for key in keys:
        if pos + 8 > len(data):
            ctx.add("pickle-malformed", "legacy PyTorch storage data is truncated", offset=pos)
            return
        numel = _i64(data, pos)[0]
        record = records.get(key)
        if record is None:
            ctx.add("torch-missing-storage", f"storage {key!r} has no persistent id", name=key)
            return
        if numel != record.numel:
            ctx.add("torch-storage-size-mismatch",
                    f"storage {key!r} holds {numel} elements, the id announces {record.numel}",
                    offset=pos, name=key)
            return
        pos += 8 + numel * record.itemsize
        if pos > len(data):
            ctx.add("pickle-malformed", "legacy PyTorch storage data is truncated", offset=pos)
            return
    if pos < len(data):
        ctx.add("pickle-trailing-data", f"{len(data) - pos} bytes follow the last storage",
                offset=pos)
