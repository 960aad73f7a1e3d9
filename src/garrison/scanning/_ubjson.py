"""A bounded UBJSON (draft 12) reader, enough to validate XGBoost's ``.ubj`` models.

Typed numeric arrays (``[$d#L<count>``, XGBoost's bulk of data) are skipped by length and
returned as :class:`Skipped`; nesting depth and counts are bounded by the input size.
"""

from __future__ import annotations

import struct
from typing import Any

__all__ = ["Skipped", "UBJSONError", "loads"]

_MAX_DEPTH = 64
_SIZES = {"i": 1, "U": 1, "I": 2, "l": 4, "L": 8, "d": 4, "D": 8, "C": 1, "T": 0, "F": 0,
          "Z": 0}
_INTS = {"i": ">b", "U": ">B", "I": ">h", "l": ">i", "L": ">q"}


class UBJSONError(ValueError):
    """The bytes are not UBJSON."""


class Skipped:
    """A typed array whose ``count`` elements were skipped."""

    __slots__ = ("count",)

    def __init__(self, count: int) -> None:
        self.count = count


class _Reader:
    def __init__(self, data: Any) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise UBJSONError("truncated")
        chunk = bytes(self.data[self.pos : self.pos + n])
        self.pos += n
        return chunk

    def marker(self) -> str:
        while True:
            ch = chr(self.take(1)[0])
            if ch != "N":
                return ch

    def integer(self, marker: str) -> int:
        if marker not in _INTS:
            raise UBJSONError(f"expected an integer marker, got {marker!r}")
        return int(struct.unpack(_INTS[marker], self.take(_SIZES[marker]))[0])

    def length(self) -> int:
        value = self.integer(self.marker())
        if value < 0:
            raise UBJSONError("negative length")
        return value

    def value(self, marker: str, depth: int) -> Any:
        if depth > _MAX_DEPTH:
            raise UBJSONError("nesting too deep")
        if marker in _INTS:
            return self.integer(marker)
        if marker in ("d", "D"):
            return struct.unpack(">f" if marker == "d" else ">d", self.take(_SIZES[marker]))[0]
        if marker in ("S", "H"):
            return self.take(self.length()).decode("utf-8")
        if marker == "C":
            return self.take(1).decode("ascii")
        if marker in ("T", "F", "Z"):
            return {"T": True, "F": False, "Z": None}[marker]
        if marker == "[":
            return self.container(depth, is_object=False)
        if marker == "{":
            return self.container(depth, is_object=True)
        raise UBJSONError(f"unknown marker {marker!r}")

    def container(self, depth: int, *, is_object: bool) -> Any:
        typed: str | None = None
        count: int | None = None
        if self.pos < len(self.data) and self.data[self.pos] == ord("$"):
            self.pos += 1
            typed = chr(self.take(1)[0])
            if self.take(1) != b"#":
                raise UBJSONError("a typed container needs a count")
            count = self.length()
        elif self.pos < len(self.data) and self.data[self.pos] == ord("#"):
            self.pos += 1
            count = self.length()
        if typed is not None and count is not None and not is_object and typed in _SIZES:
            self.take(count * _SIZES[typed])
            return Skipped(count)
        items: Any = {} if is_object else []
        index = 0
        while count is None or index < count:
            if count is None:
                if self.pos >= len(self.data):
                    raise UBJSONError("truncated container")
                if self.data[self.pos] == ord("}" if is_object else "]"):
                    self.pos += 1
                    break
            key = self.take(self.length()).decode("utf-8") if is_object else None
            value = self.value(typed or self.marker(), depth + 1)
            if is_object:
                items[key] = value
            else:
                items.append(value)
            index += 1
        return items


def loads(data: Any) -> Any:
    """Parse one UBJSON value that must span all of ``data``."""
    reader = _Reader(data)
    try:
        value = reader.value(reader.marker(), 0)
    except (UnicodeDecodeError, struct.error) as exc:
        raise UBJSONError(str(exc)) from exc
    if reader.pos != len(data):
        raise UBJSONError("trailing bytes")
    return value
