"""Limits, the violation helper and the guarded JSON parser (private to validation)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from garrison.errors import InvalidInput, PayloadTooLarge, SchemaViolation

__all__ = ["ValidationLimits", "json_depth_exceeds", "parse_json", "violation"]

_INNERMOST_RE = re.compile(rb"\[\]|\{\}")
_OPENERS = frozenset(b"[{")
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'[]{}"')


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


def json_depth_exceeds(body: bytes, max_depth: int) -> bool:
    """Whether JSON text nests arrays/objects deeper than ``max_depth``.

    Runs as a few C-speed passes before parsing: escaped backslashes and quotes are
    dropped, every byte but brackets and quotes is deleted, string contents are cut
    out, and each remaining pass removes the innermost empty pairs. Unbalanced text
    may report ``True``; the parser would refuse it anyway.
    """
    text = body.replace(b"\\\\", b"").replace(b'\\"', b"").translate(None, _NOT_STRUCTURE)
    brackets = b"".join(text.split(b'"')[::2])
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


class _DuplicateKey(ValueError):
    pass


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise _DuplicateKey
    return obj


_DECODER = json.JSONDecoder(object_pairs_hook=_no_duplicate_keys)


def parse_json(body: bytes, limits: ValidationLimits) -> Any:
    """Parse a request body under the size and depth limits.

    Refuses bodies over ``max_body_bytes`` (``PayloadTooLarge``), nesting deeper than
    ``max_depth``, invalid UTF-8 or JSON, and objects with duplicate keys (a parser
    differential that lets one component see a different value than another).
    """
    if len(body) > limits.max_body_bytes:
        raise PayloadTooLarge(
            "request body too large", problem="body-too-large", limit=limits.max_body_bytes
        )
    if json_depth_exceeds(body, limits.max_depth):
        raise InvalidInput("request JSON nests too deeply", problem="too-deep")
    try:
        return _DECODER.decode(body.decode("utf-8"))
    except _DuplicateKey as exc:
        raise InvalidInput("duplicate key in request JSON", problem="duplicate-key") from exc
    except (ValueError, RecursionError) as exc:
        raise InvalidInput("request body is not valid JSON", problem="malformed-json") from exc
