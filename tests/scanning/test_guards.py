"""Guarded entries (getattr, _ufunc_reconstruct, ZoneInfo._unpickle, pyarrow arrays) and
functools.partial, attacked statically and at load time."""

from __future__ import annotations

import functools
import pickle
import struct
from typing import Any

import numpy as np
import pytest

from garrison.errors import ArtifactRefused
from garrison.scanning import restricted_loads, scan_bytes
from garrison.scanning._arrow_check import arrow_problem

from .conftest import load_generator

load_generator()
from payloads import call, glob, pk, text, tup  # noqa: E402

GETATTR_ZONE = call(glob("builtins", "getattr"), glob("zoneinfo", "ZoneInfo"), text("_unpickle"))
GETATTR = glob("builtins", "getattr")


def rules(data: bytes) -> set[str]:
    return {f.rule_id for f in scan_bytes(data, "x.pkl").findings}


@pytest.mark.parametrize(("label", "payload"), [
    ("in a tuple", tup(GETATTR)),
    ("in a list", b"](" + GETATTR + b"e"),
    ("as a dict value", b"}(" + text("f") + GETATTR + b"u"),
    ("as the result", GETATTR),
    ("as BUILD state", call(glob("collections", "OrderedDict")) + GETATTR + b"b"),
    ("as a persistent id", GETATTR + b"Q"),
    ("as REDUCE arguments of another call", glob("builtins", "list") + GETATTR + b"R"),
    ("memoized, then stored", GETATTR + b"q\x010" + b"](h\x01e"),
])
def test_a_guarded_global_may_not_be_used_as_a_value(label: str, payload: bytes) -> None:
    assert "pickle-guarded-call" in rules(pk(payload, 2)), label


def test_the_one_allowed_getattr_form_is_accepted_and_loads() -> None:
    import zoneinfo

    data = pk(call(GETATTR_ZONE, text("Europe/Oslo"), b"K\x01"), 2)
    assert scan_bytes(data, "z.pkl").verdict == "safe"
    assert restricted_loads(data) == zoneinfo.ZoneInfo("Europe/Oslo")


@pytest.mark.parametrize(("target", "attr"), [
    (glob("zoneinfo", "ZoneInfo"), "__init__"), (glob("pandas", "DataFrame"), "_unpickle"),
    (glob("numpy", "ndarray"), "tofile"), (glob("collections", "OrderedDict"), "fromkeys"),
])
def test_getattr_with_any_other_target_is_refused(target: bytes, attr: str) -> None:
    data = pk(call(glob("builtins", "getattr"), target, text(attr)), 2)
    assert "pickle-guarded-call" in rules(data)
    with pytest.raises(ArtifactRefused):
        restricted_loads(data)


@pytest.mark.parametrize("key", ["../../etc/passwd", "/etc/localtime", "Europe/../../x",
                                 "a" * 50, ""])
def test_zoneinfo_keys_must_be_plain_zone_names(key: str) -> None:
    data = pk(call(GETATTR_ZONE, text(key), b"K\x01"), 2)
    assert "pickle-guarded-call" in rules(data)
    with pytest.raises(ArtifactRefused):
        restricted_loads(data)


@pytest.mark.parametrize(("module", "name", "ok"), [
    ("numpy", "log1p", True), ("numpy", "add", True), ("numpy.core.umath", "sqrt", True),
    ("os", "system", False), ("numpy", "load", False), ("numpy", "mean", False),
    ("builtins", "eval", False), ("numpy.lib.npyio", "load", False),
])
def test_ufunc_reconstruct_only_returns_listed_numpy_ufuncs(module: str, name: str,
                                                            ok: bool) -> None:
    data = pk(b"}(" + text("f") + call(glob("numpy.core", "_ufunc_reconstruct"), text(module),
                                       text(name)) + b"u", 2)
    assert (scan_bytes(data, "u.pkl").verdict == "safe") is ok
    if ok:
        assert restricted_loads(data)["f"] is getattr(np, name)
    else:
        with pytest.raises(ArtifactRefused):
            restricted_loads(data)


@pytest.mark.parametrize(("label", "payload", "rule"), [
    ("of os.system", call(glob("functools", "partial"), glob("os", "system")),
     "pickle-global-not-allowed"),
    ("of a computed callable", call(glob("functools", "partial"), call(
        glob("builtins", "getattr"), glob("pandas", "DataFrame"), text("to_pickle"))),
     "pickle-partial-target"),
    ("of a reconstructor", call(glob("functools", "partial"), glob("copyreg", "__newobj__")),
     "pickle-partial-target"),
    ("of a partial", call(glob("functools", "partial"), call(glob("functools", "partial"),
                                                             glob("numpy", "mean"))),
     "pickle-partial-target"),
    ("built by NEWOBJ around getattr", glob("functools", "partial") + tup(
        glob("builtins", "getattr")) + b"\x81", "pickle-partial-target"),
    ("whose state swaps in a non-global", call(glob("functools", "partial"), glob(
        "numpy", "mean")) + tup(call(glob("builtins", "getattr"), glob("numpy", "ndarray"),
                                     text("tofile")), b")", b"}", b"N") + b"b",
     "pickle-partial-target"),
    ("whose state is not a 4-tuple", call(glob("functools", "partial"), glob(
        "numpy", "mean")) + b"}b", "pickle-partial-target"),
])
def test_partial_targets_must_be_allow_listed_values(label: str, payload: bytes,
                                                     rule: str) -> None:
    data = pk(payload, 2)
    assert rule in rules(data), label
    with pytest.raises(ArtifactRefused):
        restricted_loads(data)


def test_partials_of_allow_listed_functions_scan_safe_and_load() -> None:
    value = {"round": functools.partial(np.round, decimals=2),
             "clip": functools.partial(np.clip, a_min=0, a_max=1)}
    for protocol in (0, 2, 4, 5):
        data = pickle.dumps(value, protocol)
        assert scan_bytes(data, "p.pkl").verdict == "safe", protocol
        loaded = restricted_loads(data)
        assert loaded["round"](np.array([1.234])) == pytest.approx(1.23)


def _arrow(alias: str, length: int, buffers: list[bytes | None], offset: int = 0,
           nulls: int = 0) -> tuple[Any, ...]:
    return ("type:" + alias, length, nulls, offset, buffers, [], None)


def _problem(data: tuple[Any, ...]) -> str | None:
    return arrow_problem(data, lambda t: t[5:] if isinstance(t, str) else None,
                         lambda b: b)


@pytest.mark.parametrize(("label", "data", "ok"), [
    ("strings", _arrow("large_string", 2, [None, struct.pack("<3q", 0, 1, 3), b"xyy"]), True),
    ("strings with nulls", _arrow("string", 2, [b"\x01", struct.pack("<3i", 0, 1, 1), b"x"],
                                  nulls=1), True),
    ("int64", _arrow("int64", 3, [None, bytes(24)]), True),
    ("bool", _arrow("bool", 9, [None, b"\xff\x01"]), True),
    ("offsets past the data", _arrow("large_string", 2, [None, struct.pack("<3q", 0, 1, 99),
                                                         b"xyy"]), False),
    ("decreasing offsets", _arrow("string", 2, [None, struct.pack("<3i", 0, 2, 1), b"xyy"]),
     False),
    ("negative first offset", _arrow("string", 1, [None, struct.pack("<2i", -5, 1), b"x"]),
     False),
    ("short offsets buffer", _arrow("string", 3, [None, struct.pack("<2i", 0, 1), b"x"]),
     False),
    ("short data buffer", _arrow("int32", 4, [None, bytes(8)]), False),
    ("short validity", _arrow("int8", 20, [b"\xff", bytes(20)]), False),
    ("nulls without validity", _arrow("int8", 2, [None, bytes(2)], nulls=1), False),
    ("an offset past the buffers", _arrow("int8", 2, [None, bytes(2)], offset=5), False),
    ("a buffer not in the pickle", _arrow("int8", 2, [None, None]), False),
    ("a parametrised type", _arrow("timestamp[ns, tz=UTC]", 1, [None, bytes(8)]), False),
    ("children", ("type:int8", 1, 0, 0, [None, b"\x00"], [("x",)], None), False),
    ("missing buffers", _arrow("large_string", 1, [None]), False),
])
def test_arrow_layout_check(label: str, data: tuple[Any, ...], ok: bool) -> None:
    assert (_problem(data) is None) is ok, (label, _problem(data))


def test_pandas_string_frames_load_through_the_arrow_guard() -> None:
    import pandas as pd

    frame = pd.DataFrame({"s": ["a", None, "ccc"], "n": [1, 2, 3]})
    for protocol in (2, 4, 5):
        data = pickle.dumps(frame, protocol)
        assert scan_bytes(data, "f.pkl").verdict == "safe", protocol
        pd.testing.assert_frame_equal(restricted_loads(data), frame)
