"""Test helpers: a fixed clock at the data generator's "today" and a small JSON Schema check.

The check covers the subset of JSON Schema our documented schemas use (type, enum,
required, properties, additionalProperties, items, minimum, maximum); jsonschema
itself is not a dependency.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from garrison.types import FixedClock

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "privacy"
CLOCK = FixedClock(dt.datetime(2025, 6, 30, 12, 0, tzinfo=dt.UTC))
_TYPES = {
    "object": dict,
    "array": list,
    "string": str,
    "boolean": bool,
    "null": type(None),
    "number": (int, float),
    "integer": int,
}


def load_vector(name: str) -> Any:
    return json.loads((VECTORS / name).read_text(encoding="utf-8"))


def schema_errors(value: Any, schema: dict[str, Any], path: str = "$") -> list[str]:
    """Return the violations of ``schema`` by ``value`` (empty when it conforms)."""
    errors: list[str] = []
    kinds = schema.get("type")
    if kinds is not None:
        kinds = [kinds] if isinstance(kinds, str) else kinds
        ok = any(
            isinstance(value, _TYPES[k])
            and not (k in ("number", "integer") and isinstance(value, bool))
            for k in kinds
        )
        if not ok:
            return [f"{path}: {type(value).__name__} is not {kinds}"]
    if value is None:
        return errors
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{path}: {value!r} not in {schema['enum']}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            errors.append(f"{path}: {value} < {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            errors.append(f"{path}: {value} > {schema['maximum']}")
    if isinstance(value, dict):
        for key in schema.get("required", []):
            if key not in value:
                errors.append(f"{path}: missing {key!r}")
        props = schema.get("properties", {})
        for key, item in value.items():
            if key in props:
                errors += schema_errors(item, props[key], f"{path}.{key}")
            elif isinstance(schema.get("additionalProperties"), dict):
                errors += schema_errors(item, schema["additionalProperties"], f"{path}.{key}")
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            errors += schema_errors(item, schema["items"], f"{path}[{i}]")
    return errors
