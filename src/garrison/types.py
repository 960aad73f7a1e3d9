"""Shared value objects, the model-name rule, and the seams through which time enters
the core."""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass
from typing import Protocol

from garrison.errors import InvalidInput

__all__ = [
    "MODEL_NAME_PATTERN",
    "Clock",
    "FixedClock",
    "SystemClock",
    "bare_digest",
    "parse_utc",
    "utc_iso",
    "validate_model_name",
]

#: The one model-name rule: 1-64 characters of a-z, 0-9, '_' and '-', starting with a
#: letter or digit. The registry, both OpenAPI documents, the admin API's request
#: schemas and the SDK all use this constant (JSON Schema ``pattern`` syntax).
MODEL_NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
_MODEL_NAME = re.compile(MODEL_NAME_PATTERN)


def validate_model_name(name: str) -> str:
    """Return ``name`` if it is a valid model name, else raise :class:`InvalidInput`."""
    if not isinstance(name, str) or not _MODEL_NAME.fullmatch(name):
        raise InvalidInput("model names are 1-64 characters of a-z, 0-9, '_' and '-'",
                           name=str(name)[:80])
    return name


class Clock(Protocol):
    """Source of the current time. Services take one and never call ``datetime.now``."""

    def now(self) -> _dt.datetime:
        """Return an aware UTC datetime."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> _dt.datetime:
        return _dt.datetime.now(_dt.UTC)


@dataclass
class FixedClock:
    """A clock that only moves when told to (tests and known-answer vectors)."""

    current: _dt.datetime

    def now(self) -> _dt.datetime:
        return self.current

    def advance(self, seconds: float) -> None:
        self.current = self.current + _dt.timedelta(seconds=seconds)


def utc_iso(moment: _dt.datetime) -> str:
    """Canonical text form of a moment: UTC, microseconds, ``Z`` suffix."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime; Garrison only handles aware UTC times")
    return moment.astimezone(_dt.UTC).isoformat(timespec="microseconds")[:-6] + "Z"


def parse_utc(text: str) -> _dt.datetime:
    """Parse ISO-8601 text into an aware UTC datetime (naive input is taken as UTC)."""
    value = _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=_dt.UTC)
    return value.astimezone(_dt.UTC)


def bare_digest(digest: str) -> str:
    """A SHA-256 digest without its optional ``sha256:`` prefix, lowercased: the form two
    digests are compared in, whichever of the two spellings each record kept."""
    return digest.lower().removeprefix("sha256:")
