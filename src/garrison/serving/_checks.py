"""Limits, the violation helper and the guarded JSON parser (private to validation)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from itertools import chain
from typing import Any

import orjson

from garrison.errors import InvalidInput, PayloadTooLarge, SchemaViolation

__all__ = ["ValidationLimits", "json_depth_exceeds", "parse_json", "violation"]

_INNERMOST_RE = re.compile(rb"\[\]|\{\}")
_OPENERS = frozenset(b"[{")
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'[]{}":')
_NOT_MARKS = bytes(b for b in range(256) if b not in b"{[:")
_CONTAINERS = frozenset({dict, list})


@dataclass(frozen=True)
class ValidationLimits:
    """Finite bounds applied before and during validation.

    ``max_body_bytes`` and ``max_rows`` overflows raise ``PayloadTooLarge`` (413); the
    others raise ``InvalidInput``/``SchemaViolation`` (422). ``allowed_parameters`` is
    the allow-list of OIP ``parameters`` keys (request and tensor level).
    """

    max_body_bytes: int = 1_048_576
    max_rows: int = 1_000
    max_depth: int = 8
    max_string_length: int = 1_024
    max_id_length: int = 128
    allowed_parameters: frozenset[str] = frozenset({"content_type"})


def _safe(name: object) -> str:
    """A bounded, quoted rendering of a client-supplied name for messages."""
    text = name if isinstance(name, str) else type(name).__name__
    return repr(text[:64])


def violation(fld: str, row: int | None, problem: str) -> SchemaViolation:
    """A ``SchemaViolation`` naming the field, the 0-based row and a stable problem code.

    The message never contains a submitted value, only the (truncated) field name.
    """
    where = f"row {row}, " if row is not None else ""
    return SchemaViolation(
        f"{where}field {_safe(fld)}: {problem}", field=str(fld)[:64], row=row, problem=problem
    )


def _structure(body: bytes) -> tuple[bytes, int]:
    """The brackets of JSON text outside strings, and its colons outside strings.

    A few C-speed passes: escaped backslashes and quotes are dropped, every byte but
    brackets, quotes and colons is deleted, and string contents are cut out. In valid
    JSON every colon left is the separator of one key-value pair of one object.
    """
    text = body.replace(b"\\\\", b"").replace(b'\\"', b"").translate(None, _NOT_STRUCTURE)
    outside = b"".join(text.split(b'"')[::2])
    return outside.replace(b":", b""), outside.count(b":")


def json_depth_exceeds(body: bytes, max_depth: int) -> bool:
    """Whether JSON text nests arrays/objects deeper than ``max_depth``.

    Runs as a few C-speed passes before parsing (``_structure``), then each remaining
    pass removes the innermost empty pairs. Unbalanced text may report ``True``; the
    parser would refuse it anyway.
    """
    return _brackets_exceed(_structure(body)[0], max_depth)


def _brackets_exceed(brackets: bytes, max_depth: int) -> bool:
    if len(brackets) <= 64:  # The usual small request: one short scan is cheapest.
        depth = 0
        for byte in brackets:
            if byte in _OPENERS:
                depth += 1
                if depth > max_depth:
                    return True
            else:
                depth -= 1
        return False
    for _ in range(max_depth):
        if not brackets:
            return False
        brackets = _INNERMOST_RE.sub(b"", brackets)
    return bool(brackets)


class _TooDeep(ValueError):
    pass


def _pairs(value: Any, room: int, containers: int) -> int:
    """Key-value pairs held by every object of a parsed document, which may nest
    ``room`` containers deep (deeper raises ``_TooDeep``: the walk stops there).

    ``containers`` is at least the number of arrays and objects the document holds
    (the text's count of ``[`` and ``{``): once that many are in hand no deeper level
    exists, and the walk ends without a Python step per scalar value.
    """
    level = [value] if type(value) in _CONTAINERS else []
    found, total = len(level), 0
    while level:
        if room < 1:
            raise _TooDeep
        room -= 1
        dicts = [x for x in level if type(x) is dict]
        total += sum(map(len, dicts))
        if found >= containers:
            break
        members = chain(chain.from_iterable(map(dict.values, dicts)),
                        chain.from_iterable(x for x in level if type(x) is list))
        level = [x for x in members if type(x) in _CONTAINERS]
        found += len(level)
    return total


class _DuplicateKey(ValueError):
    pass


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise _DuplicateKey
    return obj


_DECODER = json.JSONDecoder(object_pairs_hook=_no_duplicate_keys)


def _parse_checked(body: bytes, limits: ValidationLimits) -> Any:
    """The reference parser: the nesting checked on the text first, then the standard
    library, with a hook that refuses duplicate keys object by object."""
    if json_depth_exceeds(body, limits.max_depth):
        raise InvalidInput("request JSON nests too deeply", problem="too-deep")
    try:
        return _DECODER.decode(body.decode("utf-8"))
    except _DuplicateKey as exc:
        raise InvalidInput("duplicate key in request JSON", problem="duplicate-key") from exc
    except (ValueError, RecursionError) as exc:
        raise InvalidInput("request body is not valid JSON", problem="malformed-json") from exc


def parse_json(body: bytes, limits: ValidationLimits) -> Any:
    """Parse a request body under the size and depth limits.

    Refuses bodies over ``max_body_bytes`` (``PayloadTooLarge``), nesting deeper than
    ``max_depth``, invalid UTF-8 or JSON, and objects with duplicate keys (a parser
    differential that lets one component see a different value than another).

    The fast path parses with orjson (which refuses nesting beyond 1,024 levels and
    keeps the last of duplicate keys), walks the result's containers once for their
    depth and the pairs its objects hold (``_pairs``), and compares those with the
    colons of the text. Every
    key-value pair of the text has its colon, and colons inside strings only add, so
    equal counts prove that no object repeats a key (a repeated key, however escaped,
    and a dropped value's own objects make the text's count larger). When the raw
    count is larger, the colons outside strings are counted exactly
    (``_structure``). On any remaining disagreement, and on anything orjson refuses
    (``NaN``, lone surrogates, malformed text), the standard-library reference parser
    decides, so answers and error codes are the reference's. One difference remains:
    orjson reads an integer beyond 64 bits as the nearest float, where the reference
    keeps the integer. Validation turns every number into a float64 anyway, so a batch
    is accepted or refused alike and holds the same values; only an integer tensor
    refuses such a value as ``datatype-mismatch`` instead of ``out-of-datatype-range``.
    """
    if len(body) > limits.max_body_bytes:
        raise PayloadTooLarge(
            "request body too large", problem="body-too-large", limit=limits.max_body_bytes
        )
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        return _parse_checked(body, limits)
    marks = body.translate(None, _NOT_MARKS)
    try:
        pairs = _pairs(value, limits.max_depth, marks.count(b"{") + marks.count(b"["))
    except _TooDeep:
        raise InvalidInput("request JSON nests too deeply", problem="too-deep") from None
    if pairs != marks.count(b":") and pairs != _structure(body)[1]:
        return _parse_checked(body, limits)
    return value
