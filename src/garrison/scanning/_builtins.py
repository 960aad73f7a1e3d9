"""Garrison's own scanners, registered exactly as a plug-in registers its scanner."""

from __future__ import annotations

from garrison.scanning.archive_scan import TarScanner, ZipScanner
from garrison.scanning.compression import CompressionScanner
from garrison.scanning.gbm_scan import LightGBMScanner, XGBoostScanner
from garrison.scanning.hdf5_scan import HDF5Scanner
from garrison.scanning.numpy_scan import NpyScanner
from garrison.scanning.onnx_scan import OnnxScanner
from garrison.scanning.pickle_scan import PickleScanner
from garrison.scanning.registry import Scanner, register_scanner, registered_scanners
from garrison.scanning.safetensors_scan import SafetensorsScanner

__all__ = ["BUILTIN_SCANNERS", "register_builtin_scanners"]

BUILTIN_SCANNERS: tuple[Scanner, ...] = (
    NpyScanner(),
    ZipScanner(),
    HDF5Scanner(),
    SafetensorsScanner(),
    CompressionScanner(),
    TarScanner(),
    OnnxScanner(),
    XGBoostScanner(),
    LightGBMScanner(),
    PickleScanner(),
)


def register_builtin_scanners() -> None:
    """Register the built-ins that are not registered yet (idempotent)."""
    present = {s.info.name for s in registered_scanners()}
    for scanner in BUILTIN_SCANNERS:
        if scanner.info.name not in present:
            register_scanner(scanner)


register_builtin_scanners()
