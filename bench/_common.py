"""Helpers shared by the benchmark scripts: timing, a results table and goal checks.

Every figure a benchmark prints stands beside a baseline measured in the same run,
because this machine is shared and noisy: the ratio between the two is the number
to compare across runs, the absolute rates are only indicative. When the work runs
in the benchmark's own process, the rate per CPU-second of that process is shown
too: it is what one uncontended core would do, while the wall-clock rate also
carries whatever the other tenants of the machine took.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["Figure", "Rate", "Results", "best_of", "load_line", "measure", "strict_argument"]


@dataclass(frozen=True)
class Rate:
    """Items per second of elapsed time, and per CPU-second of this process (if local)."""

    wall: float
    cpu: float | None = None


def measure(fn: Callable[[], int], *, local: bool = True) -> Rate:
    """Time one call of ``fn``, which returns how many items it handled.

    ``local`` says the work runs in this process, so its CPU time means something
    (not when it runs in a database server or in worker processes).
    """
    wall, cpu = time.perf_counter(), time.process_time()
    count = fn()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return Rate(count / max(wall, 1e-9), count / max(cpu, 1e-9) if local else None)


def best_of(fn: Callable[[], int], repeat: int = 3, *, local: bool = True) -> Rate:
    """The best of ``repeat`` runs: noise on a shared machine only ever slows a run down."""
    runs = [measure(fn, local=local) for _ in range(repeat)]
    cpu = [r.cpu for r in runs if r.cpu is not None]
    return Rate(max(r.wall for r in runs), max(cpu) if cpu else None)


@dataclass(frozen=True)
class Figure:
    """One measured rate, its same-run baseline and an optional goal on the wall-clock rate."""

    name: str
    value: Rate
    baseline_name: str
    baseline: Rate
    goal: float | None = None

    @property
    def ratio(self) -> float:
        return self.value.wall / self.baseline.wall if self.baseline.wall else float("nan")

    @property
    def met(self) -> bool:
        return self.goal is None or self.value.wall >= self.goal

    def goal_text(self) -> str:
        if self.goal is None:
            return ""
        return f">= {self.goal:,.0f}: {'met' if self.met else 'MISSED'}"


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


@dataclass
class Results:
    """The figures of one benchmark run, printed as one aligned table."""

    unit: str = "events/s"
    figures: list[Figure] = field(default_factory=list)

    def add(self, figure: Figure) -> Figure:
        self.figures.append(figure)
        return figure

    def missed(self) -> list[Figure]:
        return [f for f in self.figures if not f.met]

    def table(self) -> str:
        header = ["measurement", self.unit, "per CPU-s", "baseline", self.unit, "per CPU-s",
                  "ratio", "goal (wall)"]
        rows = [
            [f.name, _number(f.value.wall), _number(f.value.cpu), f.baseline_name,
             _number(f.baseline.wall), _number(f.baseline.cpu), f"{f.ratio:.2f}", f.goal_text()]
            for f in self.figures
        ]
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
        numeric = {1, 2, 4, 5, 6}

        def line(cells: list[str]) -> str:
            parts = [c.rjust(w) if i in numeric else c.ljust(w)
                     for i, (c, w) in enumerate(zip(cells, widths, strict=True))]
            return "  ".join(parts).rstrip()

        rule = "  ".join("-" * w for w in widths)
        return "\n".join([line(header), rule, *(line(r) for r in rows)])


def load_line() -> str:
    """The machine's load when the run started (how noisy the wall-clock figures are)."""
    one, five, _ = os.getloadavg()
    return f"machine: {os.cpu_count()} CPUs, load average {one:.1f} (1 min), {five:.1f} (5 min)"


def strict_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--strict", action="store_true",
                        help="Exit 1 when a stated goal is missed.")
