"""Benchmark: the conflicting-duplicates check scales linearly (moved here from the tests).

Two shapes that were quadratic once: one large group of identical rows with mixed labels
(flags built per row against the whole group: 8,000 rows took 22 s), and many two-row
groups (one scan of every row per group). Each is timed at n and 2n rows; the figure to
compare across runs is the growth ``t(2n) / t(n)`` (about 2 when linear, 4 when
quadratic), printed beside a baseline measured in the same run: the same check on as
many rows that are all distinct (every step but the conflicting groups), with the ratio
of the two.

    python bench/duplicates.py            # report only
    python bench/duplicates.py --strict   # exit 1 if a shape grows more than 3x per doubling
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

import numpy as np
import pandas as pd

from garrison.detection.poisoning import PoisonCheckConfig, poison_check

GOAL_GROWTH = 3.0
_ONLY = PoisonCheckConfig(checks=("conflicting-duplicates",))


def one_group(rows: int) -> pd.DataFrame:
    return pd.DataFrame({"a": [1.0] * rows, "b": ["x"] * rows,
                         "y": (["p", "q", "r", "p"] * (rows // 4 + 1))[:rows]})


def many_pairs(rows: int) -> pd.DataFrame:
    pairs = rows // 2
    return pd.DataFrame({"a": np.repeat(np.arange(pairs, dtype=float), 2),
                         "y": ["p", "q"] * pairs})


def distinct(rows: int) -> pd.DataFrame:
    return pd.DataFrame({"a": np.arange(rows, dtype=float), "b": ["x"] * rows,
                         "y": (["p", "q"] * (rows // 2 + 1))[:rows]})


def best_seconds(fn: Callable[[], object], repeat: int) -> float:
    """The best of ``repeat`` runs: noise on a shared machine only ever slows a run down."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def shape(name: str, make: Callable[[int], pd.DataFrame], rows: int, repeat: int) -> float:
    check, baseline = [], []
    for n in (rows, 2 * rows):
        frame, plain = make(n), distinct(n)
        check.append(best_seconds(lambda f=frame: poison_check(f, "y", config=_ONLY), repeat))
        baseline.append(best_seconds(lambda f=plain: poison_check(f, "y", config=_ONLY), repeat))
    growth, base_growth = check[1] / check[0], baseline[1] / baseline[0]
    print(f"{name}")
    for n, c, b in zip((rows, 2 * rows), check, baseline, strict=True):
        print(f"  {n:>8,} rows   check {c:8.3f} s   baseline {b:8.3f} s   ratio {c / b:6.2f}x")
    print(f"  growth per doubling: check {growth:.2f}x, baseline {base_growth:.2f}x")
    return growth


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--strict", action="store_true", help="exit 1 if a goal is missed")
    args = parser.parse_args()
    missed = [name for name, make in (("one identical group, mixed labels", one_group),
                                      ("two-row groups with conflicting labels", many_pairs))
              if shape(name, make, args.rows, args.repeat) > GOAL_GROWTH]
    print("goal (growth <= 3x per doubling):", "met" if not missed else "MISSED " + "; ".join(
        missed))
    return 1 if (missed and args.strict) else 0


if __name__ == "__main__":
    sys.exit(main())
