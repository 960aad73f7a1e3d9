"""The console's template environment: Jinja2 with autoescaping everywhere.

Every value a page shows goes through the template engine and is escaped there; no
template marks anything ``safe`` and no Python code builds markup (a test checks
both). Charts and the lineage graph are computed as geometry in Python and drawn by
the templates, so their labels are escaped like any other text.
"""

from __future__ import annotations

import datetime as _dt
import json
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from garrison.types import parse_utc

__all__ = ["Renderer"]


def _when(value: str | None) -> str:
    """``2026-01-02 03:04:05 UTC`` from stored UTC text ("-" when missing)."""
    if not value:
        return "-"
    try:
        return parse_utc(value).strftime("%Y-%m-%d %H:%M:%S UTC")
    except ValueError:
        return str(value)


def _short(value: str | None, length: int = 12) -> str:
    if not value:
        return "-"
    text = str(value).removeprefix("sha256:")
    return text[:length]


def _number(value: Any, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def _signed(value: float | None, digits: int = 4) -> str:
    if value is None:
        return "-"
    return f"{value:+.{digits}g}"


def _pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)


def _age(value: str | None, now: _dt.datetime) -> str:
    if not value:
        return "-"
    seconds = int((now - parse_utc(value)).total_seconds())
    for unit, size in (("d", 86_400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{max(seconds, 0)}s ago"


class Renderer:
    def __init__(self, clock: Any) -> None:
        self._clock = clock
        self.env = Environment(
            loader=PackageLoader("garrison.web.console", "templates"),
            autoescape=select_autoescape(("html", "svg"), default=True,
                                         default_for_string=True),
            undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
        )
        self.env.filters.update(when=_when, short=_short, number=_number, signed=_signed,
                                pretty=_pretty_json)
        self.env.globals.update(age=lambda v: _age(v, self._clock.now()))

    def page(self, template: str, **context: Any) -> str:
        return self.env.get_template(template).render(**context)
