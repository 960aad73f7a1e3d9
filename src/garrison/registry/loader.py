"""The only way Garrison turns an artifact into a live model.

Order of checks: signed manifest (Ed25519, DSSE) -> sealed blob opens (AES-GCM) ->
SHA-256 equals the signed digest -> the bytes are scanned again -> the format's
loader runs with the allow-list enforced (restricted unpickler for the pickle
family, skops trusted types from the allow-list, ONNX from bytes with external data
refused by the scan and pinned by ONNX Runtime to an empty directory). The load-time scan
must name the same format the version was registered as, since that format picks the
loader. Any refusal is audited and raised; nothing is half-loaded.
"""

from __future__ import annotations

import io
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from garrison.errors import ArtifactRefused, UnsupportedModel
from garrison.governance import Guard
from garrison.registry.models import ModelVersion
from garrison.registry.service import RegistryService
from garrison.scanning import (
    RestrictedUnpicklerMixin,
    ScanPolicy,
    admission,
    ensure_safe,
    restricted_dispatch,
    restricted_loads,
    scan_bytes,
)

__all__ = ["LOADERS", "LoadedModel", "ModelLoader", "OnnxModel", "loader_for", "register_loader"]


@dataclass(frozen=True)
class LoadedModel:
    version: ModelVersion
    model: Any
    format: str


@dataclass(frozen=True, eq=False)
class OnnxModel:
    """An ONNX Runtime session and the graph it was built from (explanations read the
    graph's linear and tree operators). It answers like the session it wraps."""

    session: Any
    onnx_graph: bytes

    def get_inputs(self) -> Any:
        return self.session.get_inputs()

    def get_outputs(self) -> Any:
        return self.session.get_outputs()

    def run(self, output_names: Any, feeds: Any, run_options: Any = None) -> Any:
        return self.session.run(output_names, feeds, run_options)


def _pickle(data: bytes, policy: ScanPolicy) -> Any:
    return restricted_loads(data, policy)


#: joblib reads its unpickler class from a module global, so swapping it is process-wide:
#: one load at a time, or a concurrent load could run with joblib's unguarded unpickler.
_JOBLIB_LOCK = threading.Lock()


def _joblib(data: bytes, policy: ScanPolicy) -> Any:
    import joblib
    from joblib.numpy_pickle import NumpyUnpickler

    class GuardedJoblibUnpickler(RestrictedUnpicklerMixin, NumpyUnpickler):
        dispatch = restricted_dispatch(NumpyUnpickler.dispatch)
        _garrison_loader = "joblib"
        _garrison_policy = policy

    # joblib picks its unpickler class from this module attribute inside load().
    import joblib.numpy_pickle as numpy_pickle

    with _JOBLIB_LOCK:
        original = numpy_pickle.NumpyUnpickler
        numpy_pickle.NumpyUnpickler = GuardedJoblibUnpickler
        try:
            return joblib.load(io.BytesIO(data))
        finally:
            numpy_pickle.NumpyUnpickler = original


def _skops(data: bytes, policy: ScanPolicy) -> Any:
    import skops.io

    untrusted = skops.io.get_untrusted_types(data=data)
    # The scan already checked every node (a partial's target included), so the types it
    # admits, guarded ones among them, are the types skops may trust.
    refused = []
    for qualified in untrusted:
        module, _, name = qualified.rpartition(".")
        if admission(module, name, policy) is None:
            refused.append(qualified)
    if refused:
        raise ArtifactRefused("the skops file uses types outside the allow-list",
                              names=refused[:20])
    return skops.io.loads(data, trusted=untrusted)


def _onnx(data: bytes, policy: ScanPolicy) -> Any:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    # Defence in depth (the scan already refuses external data in bytes): from bytes, ONNX
    # Runtime resolves external-data locations against the working directory unless this
    # folder is set; point it at an empty directory that lives only while the session is
    # built (external initializers are read then), so nothing outside can be pulled in.
    with tempfile.TemporaryDirectory(prefix="garrison-onnx-") as empty:
        options.add_session_config_entry(
            "session.model_external_initializers_file_folder_path", empty)
        session = onnxruntime.InferenceSession(data, options,
                                               providers=["CPUExecutionProvider"])
    return OnnxModel(session, data)


def _xgboost(data: bytes, policy: ScanPolicy) -> Any:
    import xgboost

    booster = xgboost.Booster()
    booster.load_model(bytearray(data))
    return booster


def _lightgbm(data: bytes, policy: ScanPolicy) -> Any:
    import lightgbm

    return lightgbm.Booster(model_str=data.decode("utf-8"))


#: Format (as the scanner names it) -> loader. Formats not listed can be stored and
#: downloaded but not served.
LOADERS: dict[str, Callable[[bytes, ScanPolicy], Any]] = {
    "pickle": _pickle,
    "cloudpickle": _pickle,
    "joblib": _joblib,
    "skops": _skops,
    "onnx": _onnx,
    "xgboost-json": _xgboost,
    "xgboost-ubjson": _xgboost,
    "lightgbm": _lightgbm,
}


def loader_for(fmt: str) -> Callable[[bytes, ScanPolicy], Any] | None:
    """``joblib+zlib`` loads as ``joblib``: the compression is the scanner's detail."""
    return LOADERS.get(fmt) or LOADERS.get(fmt.split("+", 1)[0])


def register_loader(fmt: str, loader: Callable[[bytes, ScanPolicy], Any]) -> None:
    LOADERS[fmt] = loader


def _scan_name(v: ModelVersion) -> str:
    """``name:version`` plus the registered file's extension, so format hints match."""
    registered = v.scan_report.get("name")
    suffix = PurePath(registered).suffix if isinstance(registered, str) else ""
    return f"{v.ref}{suffix}"


class ModelLoader:
    def __init__(self, registry: RegistryService, guard: Guard) -> None:
        self._registry = registry
        self._guard = guard

    def load(self, name: str, version: int, *, actor: str = "system",
             request_id: str = "") -> LoadedModel:
        v = self._registry.get(name, version)

        def load() -> Any:
            data = self._registry.verified_bytes(v)
            # The sealed reference sample the gateway's detectors are fitted on is part of
            # what is served: a tampered one fails the load (audited), never later.
            self._registry.reference_bytes(v)
            report = scan_bytes(data, _scan_name(v), self._registry.policy)
            ensure_safe(report)
            if report.format != v.format:
                raise ArtifactRefused(
                    f"the artifact scanned as {report.format!r} at load time but was "
                    f"registered as {v.format!r}",
                    scanned_format=report.format, registered_format=v.format,
                    sha256=report.sha256)
            loader = loader_for(v.format)
            if loader is None:
                raise UnsupportedModel(f"models in {v.format!r} format cannot be served")
            return loader(data, self._registry.policy)

        model = self._guard.audited(actor, "load-model-version", load, resource=v.resource,
                                    request_id=request_id,
                                    ok_payload=lambda _: {"sha256": v.digest})
        return LoadedModel(v, model, v.format)

    def record_compilation(self, v: ModelVersion, payload: dict[str, Any], *,
                           actor: str = "system") -> None:
        """Audit which runtime serves a loaded version (``serving/compiled.py``): the
        compiled one that reproduced it on the reference sample, or the original, and why."""
        self._guard.record(actor, "compile-model-version", resource=v.resource,
                           payload={"sha256": v.digest, **payload})
