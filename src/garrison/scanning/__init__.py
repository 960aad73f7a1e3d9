"""Model-artifact scanning: decide, without loading, whether an artifact is safe to load.

Stdlib only. Pickle-family formats are judged by opcode analysis against an allow-list of
importable callables; data formats (safetensors, ONNX, npy, XGBoost/LightGBM text) are
validated structurally; containers are guarded against escapes and bombs. The restricted
unpickler enforces the same allow-list when a safe artifact is finally loaded.
"""

from garrison.scanning.allowlist import (
    Admission,
    Loader,
    admission,
    allowed_by,
    ensure_global_allowed,
)
from garrison.scanning.api import ensure_safe, scan_bytes, scan_path
from garrison.scanning.findings import EXIT_CODES, Finding, ScanReport, Verdict
from garrison.scanning.policy import DEFAULT_ONNX_DOMAINS, DEFAULT_POLICY, ScanPolicy
from garrison.scanning.registry import (
    Scanner,
    ScannerInfo,
    get_scanner,
    register_scanner,
    registered_scanners,
    unregister_scanner,
)
from garrison.scanning.rules import RULES, Rule
from garrison.scanning.unpickler import (
    RestrictedUnpickler,
    RestrictedUnpicklerMixin,
    restricted_dispatch,
    restricted_loads,
)

__all__ = [
    "DEFAULT_ONNX_DOMAINS",
    "DEFAULT_POLICY",
    "EXIT_CODES",
    "RULES",
    "Admission",
    "Finding",
    "Loader",
    "RestrictedUnpickler",
    "RestrictedUnpicklerMixin",
    "Rule",
    "ScanPolicy",
    "ScanReport",
    "Scanner",
    "ScannerInfo",
    "Verdict",
    "admission",
    "allowed_by",
    "ensure_global_allowed",
    "ensure_safe",
    "get_scanner",
    "register_scanner",
    "registered_scanners",
    "restricted_dispatch",
    "restricted_loads",
    "scan_bytes",
    "scan_path",
    "unregister_scanner",
]
