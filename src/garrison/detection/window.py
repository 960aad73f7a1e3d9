"""Windows of live rows (inputs and, as extra columns, outputs) for drift checks.

:class:`RowReservoir` is the gateway's: a count window over numeric rows and their
predicted labels that keeps a uniform sample of bounded size, in numpy, vectorized.

A window closes after ``size`` rows (count window) or ``seconds`` after its first row
(time window, read from the injected ``Clock``), whichever is configured; a time
window that closes with fewer than ``min_rows`` rows is carried over. At most
``max_rows`` rows are kept: beyond that a uniform reservoir sample is kept, so memory
stays bounded on a busy deployment.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, cast

import numpy as np
import pandas as pd

from garrison.detection.drift import DriftConfig, DriftReport, compare
from garrison.detection.profile import Profile
from garrison.errors import InvalidInput
from garrison.types import Clock, SystemClock

__all__ = ["DriftMonitor", "DriftWindow", "RowReservoir"]


class DriftWindow:
    """Accumulates rows until the window is complete."""

    def __init__(
        self,
        *,
        size: int | None = None,
        seconds: float | None = None,
        min_rows: int = 100,
        max_rows: int = 50_000,
        clock: Clock | None = None,
        rng: np.random.Generator | int | None = 0,
    ) -> None:
        if (size is None) == (seconds is None):
            raise InvalidInput("give exactly one of size (rows) or seconds")
        if (size is not None and size < 1) or (seconds is not None and seconds <= 0):
            raise InvalidInput("window size must be positive")
        if max_rows < (size or min_rows):
            raise InvalidInput("max_rows must be at least the window size")
        self.size = size
        self.seconds = seconds
        self.min_rows = min_rows
        self.max_rows = max_rows
        self.clock = clock or SystemClock()
        self.rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        self._rows: list[Mapping[str, Any]] = []
        #: Whole frames added by :meth:`extend`, kept as they are until ``take``.
        self._blocks: list[pd.DataFrame] = []
        self._block_rows = 0
        self._seen = 0
        self._started: dt.datetime | None = None

    def __len__(self) -> int:
        return len(self._rows) + self._block_rows

    @property
    def seen(self) -> int:
        """Rows offered to this window, including those the reservoir dropped."""
        return self._seen

    def add(self, row: Mapping[str, Any]) -> None:
        if self._started is None:
            self._started = self.clock.now()
        self._seen += 1
        if len(self) < self.max_rows:
            self._rows.append(dict(row))
            return
        if self._blocks:  # The reservoir replaces single rows: unpack the frames once.
            self._rows = [cast(Mapping[str, Any], r) for b in self._blocks
                          for r in b.to_dict("records")] + self._rows
            self._blocks, self._block_rows = [], 0
        slot = int(self.rng.integers(self._seen))
        if slot < self.max_rows:
            self._rows[slot] = dict(row)

    def extend(self, frame: pd.DataFrame) -> None:
        """Add the rows of ``frame`` (its columns are the row keys) at once."""
        if not len(frame):
            return
        if len(self) + len(frame) > self.max_rows:
            for row in frame.to_dict("records"):  # The reservoir decides row by row.
                self.add(cast(Mapping[str, Any], row))
            return
        if self._started is None:
            self._started = self.clock.now()
        self._seen += len(frame)
        self._blocks.append(frame)
        self._block_rows += len(frame)

    def ready(self) -> bool:
        if self.size is not None:
            return self._seen >= self.size
        if self._started is None or len(self) < self.min_rows:
            return False
        elapsed = (self.clock.now() - self._started).total_seconds()
        return elapsed >= float(self.seconds or 0.0)

    def take(self) -> pd.DataFrame:
        """The window's rows as a frame; the window starts afresh."""
        parts = [*self._blocks, *([pd.DataFrame.from_records(self._rows)] if self._rows else [])]
        frame = pd.concat(parts, ignore_index=True) if len(parts) > 1 else \
            (parts[0].reset_index(drop=True) if parts else pd.DataFrame())
        self._rows, self._blocks, self._block_rows = [], [], 0
        self._seen, self._started = 0, None
        return frame


class DriftMonitor:
    """A window plus the profile it is checked against; ``add`` returns a report when
    the window closes, else ``None``."""

    def __init__(self, profile: Profile, window: DriftWindow,
                 config: DriftConfig | None = None) -> None:
        self.profile = profile
        self.window = window
        self.config = config or DriftConfig()
        self.last_report: DriftReport | None = None

    def add(self, row: Mapping[str, Any]) -> DriftReport | None:
        self.window.add(row)
        return self.check() if self.window.ready() else None

    def add_frame(self, frame: pd.DataFrame) -> list[DriftReport]:
        """Add many rows; returns a report for each window they closed, in order."""
        reports: list[DriftReport] = []
        start = 0
        while start < len(frame):
            room = len(frame) - start
            if self.window.size is not None:
                room = min(room, max(self.window.size - self.window.seen, 1))
            self.window.extend(frame.iloc[start:start + room])
            start += room
            if self.window.ready():
                report = self.check()
                if report is not None:
                    reports.append(report)
        return reports

    def check(self) -> DriftReport | None:
        """Close the window now (if it holds any rows) and compare it."""
        if not len(self.window):
            return None
        self.last_report = compare(self.profile, self.window.take(), self.config)
        return self.last_report


class RowReservoir:
    """A count window of ``size`` numeric rows (with one output label each) that keeps
    a uniform sample of at most ``capacity`` of them.

    The sample is reservoir sampling (Vitter's algorithm R) applied a block of rows at
    a time: the ``t``-th row of the window (0-based) replaces a random slot when a
    draw from ``0..t`` falls inside the reservoir, so every row of the window is kept
    with the same probability ``capacity / size`` and the closed window is a simple
    random sample of its rows: the drift tests see unbiased statistics, at the cost of
    ``capacity`` rows per window, whatever the traffic. ``capacity >= size`` keeps
    every row.
    """

    def __init__(self, size: int, capacity: int, columns: list[str], output: str,
                 rng: np.random.Generator | int | None = 0) -> None:
        if size < 1 or capacity < 1:
            raise InvalidInput("window size and capacity must be positive")
        self.size = size
        self.capacity = min(capacity, size)
        self.columns = list(columns)
        self.output = output
        self.rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        self._rows = np.empty((self.capacity, len(self.columns)))
        self._labels = np.empty(self.capacity, dtype=object)
        self._seen = 0

    @property
    def seen(self) -> int:
        """Rows offered to the current window."""
        return self._seen

    def offer(self, matrix: np.ndarray, labels: np.ndarray) -> list[pd.DataFrame]:
        """Offer rows (and their labels); returns each window they closed, as a frame of
        its sampled rows with the output as its last column."""
        closed = []
        start = 0
        while start < len(matrix):
            stop = start + min(len(matrix) - start, self.size - self._seen)
            self._add(matrix[start:stop], labels[start:stop])
            start = stop
            if self._seen >= self.size:
                closed.append(self._take())
        return closed

    def _add(self, matrix: np.ndarray, labels: np.ndarray) -> None:
        fill = min(len(matrix), max(self.capacity - self._seen, 0))
        if fill:
            self._rows[self._seen:self._seen + fill] = matrix[:fill]
            self._labels[self._seen:self._seen + fill] = labels[:fill]
        rest = len(matrix) - fill
        if rest:
            # Row t (0-based in the window) draws from 0..t; a draw inside the reservoir
            # is the slot it takes. Several rows of one block may draw the same slot:
            # the last of them holds it, as one row at a time would leave it.
            t = np.arange(self._seen + fill, self._seen + fill + rest)
            slot = self.rng.integers(0, t + 1)
            keep = np.flatnonzero(slot < self.capacity)
            if len(keep):
                slots = slot[keep]
                last = len(slots) - 1 - np.unique(slots[::-1], return_index=True)[1]
                self._rows[slots[last]] = matrix[fill:][keep[last]]
                self._labels[slots[last]] = labels[fill:][keep[last]]
        self._seen += len(matrix)

    def _take(self) -> pd.DataFrame:
        kept = min(self._seen, self.capacity)
        frame = pd.DataFrame(self._rows[:kept].copy(), columns=self.columns)
        frame[self.output] = self._labels[:kept].astype(str)
        self._seen = 0
        return frame
