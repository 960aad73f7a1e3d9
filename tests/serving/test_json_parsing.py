"""The request parser's fast path (orjson plus a pair count) against the reference.

Attacks first: every way to smuggle a duplicate key past the count, and nesting past
the limit; then a differential property: on any text, the fast parser answers what the
standard-library reference parser answers (the same value, or the same error code).
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from garrison.errors import GarrisonError, InvalidInput, PayloadTooLarge
from garrison.serving._checks import ValidationLimits, _parse_checked, parse_json

LIMITS = ValidationLimits(max_depth=8)
ROW = '"f00": 1.5, "f01": 2'


def _problem(body: bytes, limits: ValidationLimits = LIMITS) -> str:
    with pytest.raises(InvalidInput) as info:
        parse_json(body, limits)
    return str(info.value.detail["problem"])


@pytest.mark.parametrize("body", [
    # The plain repeat, in a row, at the top, in a parameters object.
    f'{{"instances": [{{{ROW}, "f00": 9}}]}}',
    f'{{"instances": [{{{ROW}}}], "instances": []}}',
    '{"inputs": [], "parameters": {"content_type": "a", "content_type": "b"}}',
    # The same key spelled with escapes: different bytes, one decoded key.
    f'{{"instances": [{{{ROW}, "f\\u0030\\u0030": 9}}]}}',
    '{"a": 1, "\\u0061": 2}',
    # The dropped value holds objects of its own: their pairs vanish with it.
    f'{{"instances": [{{{ROW}}}], "instances": [{{{ROW}}}]}}',
    '{"a": {"b": {"c": 1}}, "a": 2}',
    # Colons and brackets inside strings, to pad the text's counts.
    '{"a": "x:y", "a": "[{:}]"}',
    '{"a": 1, "a": 2, "pad": ":::{[[{"}',
    '{"k\\":": 1, "k\\":": 2}',
    '{"k\\\\": 1, "k\\\\": 2, "s": "\\\\\\":"}',
    # A repeat deep down, among many clean rows.
    '{"instances": [' + ", ".join([f"{{{ROW}}}"] * 50 + ['{"f00": 1, "f00": 1}']) + "]}",
])
def test_duplicate_keys_are_refused_however_hidden(body: str) -> None:
    assert _problem(body.encode()) == "duplicate-key"


def test_no_false_alarm_when_strings_hold_colons_and_brackets() -> None:
    body = b'{"id": "a:b:[{c", "inputs": [{"name": "x:{", "shape": [1, 2], "data": [1, 2]}]}'
    assert parse_json(body, LIMITS) == json.loads(body)


@pytest.mark.parametrize("body", [
    b"[" * 9 + b"]" * 9,
    b'{"a": ' * 9 + b"1" + b"}" * 9,
    b'{"instances": [[[[[[[[1]]]]]]]]}',
    b"[" * 1_500 + b"]" * 1_500,  # Beyond orjson's own limit: the reference decides.
    b"[" * 200_000 + b"]" * 200_000,
])
def test_nesting_beyond_the_limit_is_refused(body: bytes) -> None:
    limits = ValidationLimits(max_depth=8, max_body_bytes=10**7)
    assert _problem(body, limits) == "too-deep"


def test_nesting_at_the_limit_passes() -> None:
    assert parse_json(b"[" * 8 + b"]" * 8, LIMITS) == json.loads(b"[" * 8 + b"]" * 8)
    assert parse_json(b'{"a": ' * 8 + b"1" + b"}" * 8, LIMITS) is not None


def test_what_orjson_refuses_gets_the_reference_answer() -> None:
    # NaN and Infinity literals: the reference parses them.
    value = parse_json(b'{"a": NaN, "b": -Infinity, "c": 123456789012345678901234567890}', LIMITS)
    assert math.isnan(value["a"]) and value["b"] == -math.inf
    assert value["c"] == 123456789012345678901234567890
    # Alone, an integer beyond 64 bits is orjson's nearest float: the same float64.
    assert parse_json(b'{"c": -9223372036854775809}', LIMITS) == {"c": -(2.0**63)}
    assert parse_json(b'{"s": "\\ud800"}', LIMITS) == {"s": "\ud800"}  # A lone surrogate.
    for bad in (b"\xff\xfe{}", b'{"a": 1,}', b"{'a': 1}", b'{"a": 1} x', b"\xef\xbb\xbf{}"):
        assert _problem(bad) == "malformed-json"
    with pytest.raises(PayloadTooLarge):
        parse_json(b" " * (LIMITS.max_body_bytes + 1), LIMITS)


def _wide(value: Any) -> Any:
    """``value`` with integers beyond 64 bits as floats, as orjson parses them (the
    validator turns every number into a float64, so the batch is the same)."""
    if isinstance(value, dict):
        return {k: _wide(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_wide(v) for v in value]
    if type(value) is int and not -(2**63) <= value < 2**64:
        return float(value)
    return value


def _reference(body: bytes) -> Any:
    try:
        return "ok", _wide(_parse_checked(body, LIMITS))
    except GarrisonError as exc:
        return "error", exc.detail.get("problem")


def _fast(body: bytes) -> Any:
    try:
        return "ok", parse_json(body, LIMITS)
    except GarrisonError as exc:
        return "error", exc.detail.get("problem")


_KEYS = st.sampled_from(["a", "b", "a:", "[", "{", "\\", '"', "\u00e9", "f00"])
_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70),
                     st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=4))
_JSON = st.recursive(_SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4),
    st.lists(st.tuples(_KEYS, inner), max_size=4)), max_leaves=30)


def _dump(value: Any) -> str:
    """JSON text of ``value``; lists of pairs become objects, repeats kept."""
    if isinstance(value, list) and value and all(isinstance(x, tuple) for x in value):
        return "{" + ", ".join(f"{json.dumps(k)}: {_dump(v)}" for k, v in value) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_dump(x) for x in value) + "]"
    if isinstance(value, tuple):
        return "{" + f"{json.dumps(value[0])}: {_dump(value[1])}" + "}"
    return json.dumps(value)


@settings(max_examples=300, deadline=None)
@given(_JSON, st.booleans())
def test_fast_parser_answers_what_the_reference_answers(value: Any, ascii_only: bool) -> None:
    text = _dump(value)
    body = (text.encode("ascii", "backslashreplace") if ascii_only else text.encode())
    assert _fast(body) == _reference(body)
