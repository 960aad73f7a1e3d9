"""Chart geometry for the console's server-side SVG: numbers in, coordinates out.

Nothing here builds markup. Each function returns plain dataclasses with positions
and labels; the templates draw them (escaping every label) and add a text
alternative, so a chart is as safe and as accessible as the rest of the page.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

__all__ = [
    "Bar",
    "BarChart",
    "LineChart",
    "Series",
    "Tick",
    "contribution_chart",
    "line_chart",
    "nice_max",
]


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    x: float
    y: float
    width: float
    height: float
    positive: bool
    label_y: float
    value_x: float
    value_anchor: str


@dataclass(frozen=True)
class Tick:
    position: float
    label: str
    anchor: str = "middle"


@dataclass(frozen=True)
class BarChart:
    width: int
    height: int
    zero_x: float
    top: float
    bottom: float
    bars: tuple[Bar, ...]
    ticks: tuple[Tick, ...]
    hidden: int = 0


def nice_max(value: float) -> float:
    """The smallest of 1, 2 or 5 times a power of ten that is at least ``value``."""
    if value <= 0 or not math.isfinite(value):
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if step * power >= value:
            return float(step * power)
    return float(10 * power)


def _fmt(value: float) -> str:
    return f"{value:.3g}"


def contribution_chart(contributions: Mapping[str, float], *, limit: int = 15,
                       width: int = 720) -> BarChart:
    """Horizontal bars of feature contributions around zero, largest magnitude first."""
    items = sorted(((str(k), float(v)) for k, v in contributions.items()
                    if isinstance(v, int | float) and math.isfinite(v)),
                   key=lambda kv: abs(kv[1]), reverse=True)
    shown, hidden = items[:limit], max(0, len(items) - limit)
    row, top, label_width, margin = 26, 30, 200, 70
    plot = width - label_width - 2 * margin
    span = nice_max(max((abs(v) for _, v in shown), default=1.0))
    has_neg = any(v < 0 for _, v in shown)
    has_pos = any(v >= 0 for _, v in shown) or not has_neg
    left = label_width + margin
    if has_neg and has_pos:
        zero = left + plot / 2
        scale = (plot / 2) / span
    elif has_neg:
        zero = left + plot
        scale = plot / span
    else:
        zero = left
        scale = plot / span
    bars = []
    for i, (name, value) in enumerate(shown):
        y = top + i * row
        length = abs(value) * scale
        positive = value >= 0
        x = zero if positive else zero - length
        value_x = x + length + 4 if positive else x - 4
        bars.append(Bar(name, value, round(x, 1), y + 4, round(max(length, 1.0), 1),
                        row - 8, positive, y + row / 2 + 4, round(value_x, 1),
                        "start" if positive else "end"))
    bottom = top + len(shown) * row
    ticks = []
    for fraction in (-1.0, -0.5, 0.0, 0.5, 1.0):
        value = fraction * span
        if (value < 0 and not has_neg) or (value > 0 and not has_pos):
            continue
        ticks.append(Tick(round(zero + value * scale, 1), _fmt(value)))
    return BarChart(width, int(bottom + 34), round(zero, 1), top, bottom, tuple(bars),
                    tuple(ticks), hidden)


@dataclass(frozen=True)
class Series:
    name: str
    css: str
    points: str
    values: tuple[float | None, ...]
    markers: tuple[tuple[float, float, bool], ...] = ()


@dataclass(frozen=True)
class LineChart:
    width: int
    height: int
    left: float
    right: float
    top: float
    bottom: float
    series: tuple[Series, ...]
    y_ticks: tuple[Tick, ...]
    x_ticks: tuple[Tick, ...]
    threshold_y: float | None = None
    labels: tuple[str, ...] = field(default=())


def line_chart(series: Sequence[tuple[str, str, Sequence[float | None]]],
               labels: Sequence[str], *, width: int = 720, height: int = 240,
               threshold: float | None = None,
               flags: Sequence[bool] | None = None) -> LineChart:
    """Lines over equally spaced points (``labels`` name them; some become x ticks).

    Each series is ``(name, css class, values)``; ``None`` leaves a gap. ``flags``
    marks points of the first series (drifted windows) with filled markers.
    """
    left, right, top, bottom = 56.0, width - 16.0, 16.0, height - 40.0
    n = max(len(labels), 1)
    finite = [v for _, _, vs in series for v in vs if v is not None and math.isfinite(v)]
    top_value = nice_max(max([*finite, threshold or 0.0, 0.0]) or 1.0)

    def x_of(i: int) -> float:
        return left + (right - left) * (i / (n - 1) if n > 1 else 0.5)

    def y_of(v: float) -> float:
        return bottom - (bottom - top) * (v / top_value)

    drawn = []
    for index, (name, css, values) in enumerate(series):
        runs: list[str] = []
        for i, v in enumerate(values):
            if v is None or not math.isfinite(v):
                runs.append("|")
                continue
            runs.append(f"{x_of(i):.1f},{y_of(v):.1f}")
        points = " ".join(p for p in runs if p != "|")
        markers: tuple[tuple[float, float, bool], ...] = ()
        if index == 0 and flags is not None:
            markers = tuple((round(x_of(i), 1), round(y_of(v), 1), bool(flag))
                            for i, (v, flag) in enumerate(zip(values, flags, strict=False))
                            if v is not None and math.isfinite(v))
        drawn.append(Series(name, css, points, tuple(values), markers))
    y_ticks = tuple(Tick(round(y_of(top_value * f), 1), _fmt(top_value * f))
                    for f in (0.0, 0.25, 0.5, 0.75, 1.0))
    wide = width >= 500  # A narrow chart has room for its first and last labels only.
    picks = sorted({0, n // 2, n - 1} if wide else {0, n - 1}) if n > 2 else list(range(n))
    x_ticks = tuple(Tick(round(x_of(i), 1), labels[i],
                         "start" if i == 0 and n > 1 else "end" if i == n - 1 and n > 1
                         else "middle") for i in picks if i < len(labels))
    return LineChart(width, height, left, right, top, bottom, tuple(drawn), y_ticks, x_ticks,
                     None if threshold is None else round(y_of(threshold), 1), tuple(labels))


def bucket_labels(start: _dt.datetime, width_seconds: int, count: int) -> list[str]:
    """Readable UTC labels of equal time buckets."""
    fmt = "%m-%d %H:%M" if width_seconds < 86_400 else "%Y-%m-%d"
    return [(start + _dt.timedelta(seconds=width_seconds * i)).strftime(fmt)
            for i in range(count)]
