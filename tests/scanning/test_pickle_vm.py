"""Opcode-level behaviour of the static pickle VM, attacked technique by technique."""

from __future__ import annotations

import io
import pickle
import struct
import sys
from pathlib import Path

import pytest

from garrison.errors import ArtifactRefused, ArtifactUnscannable
from garrison.scanning import ScanPolicy, restricted_loads, scan_bytes
from garrison.scanning.unpickler import RestrictedUnpicklerMixin, restricted_dispatch

from .conftest import VECTORS

sys.path.insert(0, str(VECTORS))
from payloads import call, glob, pk, text, tup


def rules(data: bytes, policy: ScanPolicy | None = None) -> set[str]:
    report = scan_bytes(data, policy=policy) if policy else scan_bytes(data)
    return {f.rule_id for f in report.findings}


def test_memo_tracked_names_resolve_only_to_string_constants() -> None:
    # collections.OrderedDict through the memo is fine (the standard pickler does this).
    ok = pk(b"\x8c\x0bcollections\x94\x8c\x0bOrderedDict\x94\x930h\x00h\x01\x93)R")
    assert rules(ok) == set()
    # A memo slot holding a computed value is not a name.
    computed = pk(call(glob("builtins", "str"), text("os")) + b"\x94" + b"0"
                  + b"h\x00" + text("system") + b"\x93")
    assert rules(computed) == {"pickle-unresolvable-global"}


def test_reading_an_unset_memo_slot_is_malformed() -> None:
    assert rules(pk(b"h\x05")) == {"pickle-malformed"}


def test_calls_on_computed_objects_are_refused() -> None:
    # OrderedDict() is allowed; calling its *result* is not.
    data = pk(call(call(glob("collections", "OrderedDict"))))
    assert rules(data) == {"pickle-call-non-global"}


def test_newobj_and_obj_need_imported_classes() -> None:
    newobj = pk(call(glob("collections", "OrderedDict")) + b")\x81")
    assert rules(newobj) == {"pickle-call-non-global"}
    obj = pk(b"(" + call(glob("collections", "OrderedDict")) + b"o")
    assert rules(obj) == {"pickle-call-non-global"}


def test_reconstructor_needs_imported_class_arguments() -> None:
    good = pk(call(glob("copyreg", "_reconstructor"), glob("collections", "OrderedDict"),
                   glob("builtins", "dict"), b"N"), proto=0)
    assert rules(good) == set()
    bad = pk(call(glob("copyreg", "_reconstructor"), call(glob("builtins", "str"), text("x")),
                  glob("builtins", "object"), b"N"), proto=0)
    assert rules(bad) == {"pickle-reconstructor-args"}


def test_build_and_setitems_on_imported_globals_are_refused() -> None:
    build = pk(glob("collections", "OrderedDict") + b"}" + text("update") + b"Nsb")
    assert "pickle-mutates-global" in rules(build)
    setitems = pk(glob("collections", "OrderedDict") + b"(" + text("k") + b"Nu")
    assert "pickle-mutates-global" in rules(setitems)
    with pytest.raises(ArtifactRefused):
        restricted_loads(setitems)


def test_trailing_bytes_and_second_pickles() -> None:
    benign = pickle.dumps([1, 2])
    assert rules(benign + benign) == set()
    assert rules(benign + b"\x00junk") == {"pickle-trailing-data"}
    assert rules(benign + pk(glob("os", "system"))) == {"pickle-global-not-allowed"}
    with pytest.raises(ArtifactRefused):
        restricted_loads(benign + benign)


def test_protocol_above_five_and_bad_opcodes_are_malformed() -> None:
    assert scan_bytes(b"\x80\x06N.").verdict == "unscannable"
    assert rules(b"\x80\x04\xffN.") == {"pickle-malformed"}


def test_persistent_ids_outside_torch_are_refused() -> None:
    data = pk(text("x") + b"Q")
    assert rules(data) == {"pickle-persistent-id"}
    with pytest.raises(ArtifactRefused):
        restricted_loads(data)


def test_stack_caps() -> None:
    deep = b"\x80\x04" + b"(" * 50 + b"N" + b"t" * 50 + b"."
    assert rules(deep) == set()
    assert rules(deep, ScanPolicy(max_pickle_marks=10)) == {"pickle-malformed"}
    wide = b"\x80\x04" + b"N" + b"2" * 40_000 + b"."
    assert rules(wide, ScanPolicy(max_pickle_items=1000)) == {"pickle-malformed"}


def _dtype(typestr: str, state: bytes) -> bytes:
    return call(glob("numpy", "dtype"), text(typestr), b"\x89", b"\x88") + state + b"b"


def _state(elsize: int, flags: int, fields: bytes = b"NN") -> bytes:
    return tup(b"K\x03", text("<"), b"N", fields, b"J" + struct.pack("<i", elsize),
               b"J\xff\xff\xff\xff", b"J" + struct.pack("<i", flags))


@pytest.mark.parametrize(("typestr", "elsize", "flags", "ok"), [
    ("f8", -1, 0, True), ("O8", -1, 63, True), ("U10", 40, 8, True),
    ("O8", -1, 0, False),   # object dtype denying its objects: raw bytes become pointers
    ("f8", -1, 1, False),   # float dtype claiming objects
    ("f8", 16, 0, False),   # elsize that numpy would ignore: ambiguous size
    ("U10", 8, 8, False),   # elsize that overrides the type string
    ("T8", -1, 0, False),   # unknown kind
])
def test_numpy_dtype_states_must_agree_with_type_strings(
    typestr: str, elsize: int, flags: int, ok: bool
) -> None:
    found = rules(pk(_dtype(typestr, _state(elsize, flags))))
    assert (found == set()) is ok, found


def test_joblib_mixin_guards_joblib_loading(built, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from joblib.numpy_pickle import NumpyUnpickler

    class GuardedJoblib(RestrictedUnpicklerMixin, NumpyUnpickler):
        dispatch = restricted_dispatch(NumpyUnpickler.dispatch)
        _garrison_loader = "joblib"

    def load(path: Path) -> object:
        with open(path, "rb") as handle:
            return GuardedJoblib(str(path), handle, False).load()

    benign = built("sklearn-pipeline-joblib-raw").path
    assert type(load(benign)).__name__ == "Pipeline"
    unaligned = built("joblib-unaligned-arrays").path
    assert float(load(unaligned)["w"].sum()) == sum(range(1000))
    for name in ("joblib-after-buffer-raw", "pickle-evil-in-joblib-object-array"):
        with pytest.raises(ArtifactRefused):
            load(built(name).path)
        assert not (built(name).path.parent / f"MARKER-{name}").exists()


def test_restricted_loader_rejects_garbage_as_unscannable() -> None:
    with pytest.raises(ArtifactUnscannable):
        restricted_loads(b"\x80\x04\x95")
    with pytest.raises(ArtifactUnscannable):
        restricted_loads(io.BytesIO(b"not a pickle").getvalue())
