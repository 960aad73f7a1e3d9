"""HDF5 files: Keras ``.h5`` models and weight files, walked without the HDF5 library.

Data in HDF5 is inert, but an HDF5 reader follows references out of the file: external
links open other HDF5 files, external raw storage and virtual datasets read other files'
bytes, and a filter that is not built into the library makes it load a plugin from disk.
All of those are refused. A root ``model_config`` attribute makes the file a Keras model
whose config is checked like a ``.keras`` archive's (``training_config`` too); without
one the file is plain weights or data.
"""

from __future__ import annotations

from garrison.scanning._hdf5 import HDF5Error, HDF5File, find_superblock
from garrison.scanning.context import Buffer, ScanContext
from garrison.scanning.keras_scan import parse_config
from garrison.scanning.registry import ScannerInfo

__all__ = ["ALLOWED_FILTERS", "HDF5Scanner"]

#: Filters built into the HDF5 library (deflate, shuffle, fletcher32, szip, nbit,
#: scale-offset) and LZF, which h5py registers itself; any other id is a plugin.
ALLOWED_FILTERS = frozenset({1, 2, 3, 4, 5, 6, 32000})


class HDF5Scanner:
    """HDF5 files, including Keras legacy ``.h5`` models."""

    info = ScannerInfo(
        name="hdf5",
        description="Walks HDF5 groups, links and attributes without the HDF5 library: "
        "external links, external storage, virtual datasets and plugin filters are refused; "
        "a Keras model_config is checked against the Keras allow-list.",
        recognises="the HDF5 signature at offset 0 (or after a 512, 1024, ... byte user block)",
        priority=25,
        extensions=(".h5", ".hdf5", ".keras"),
    )

    def sniff(self, data: Buffer, name: str) -> bool:
        return find_superblock(data) is not None

    def scan(self, data: Buffer, name: str, ctx: ScanContext) -> str:
        ctx.count_scanned(len(data))
        try:
            hdf5 = HDF5File(data)
            attributes = hdf5.root_attributes()
            for obj in hdf5.walk():
                self._check(obj.path, obj.links, obj.filters, obj.external_storage,
                            obj.virtual, ctx)
        except (HDF5Error, IndexError, ValueError) as exc:
            ctx.add("hdf5-malformed", str(exc)[:200])
            return "hdf5"
        if "model_config" not in attributes:
            return "hdf5"
        parse_config(attributes["model_config"], ctx, "the model_config attribute")
        if attributes.get("training_config") is not None:
            parse_config(attributes["training_config"], ctx, "the training_config attribute")
        return "keras-h5"

    @staticmethod
    def _check(path: str, links: list[tuple[str, str, str]], filters: list[int],
               external: bool, virtual: bool, ctx: ScanContext) -> None:
        for link_name, kind, target in links:
            if kind not in ("hard", "soft"):
                where = f"{path.rstrip('/')}/{link_name}"
                ctx.add("hdf5-external-reference",
                        f"{kind} link {where} -> {target[:100]!r}", name=where[:100])
        if external:
            ctx.add("hdf5-external-reference", f"{path} keeps its data in external files",
                    name=path[:100])
        if virtual:
            ctx.add("hdf5-external-reference", f"{path} is a virtual dataset over other files",
                    name=path[:100])
        for fid in filters:
            if fid not in ALLOWED_FILTERS:
                ctx.add("hdf5-filter-not-allowed", f"{path} uses HDF5 filter {fid}",
                        name=str(fid))
