"""Benchmark: `poison_check` on 100,000 rows x 20 features (binary, 2% random label flips).

Prints the check time beside a baseline measured in the same run: one fit of the same
model the check uses (histogram gradient boosting at this size) on the same data, so the
ratio survives a noisy machine.
Also prints recall and precision of the flagged rows against the flips.

    python bench/data_poison.py            # report only
    python bench/data_poison.py --strict   # exit 1 if the check takes more than 60 s
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import pandas as pd
from sklearn.datasets import make_classification

from garrison.detection.poisoning import PoisonCheckConfig, poison_check
from garrison.detection.poisoning._oof import fit_predict_proba, resolve_model

GOAL_SECONDS = 60.0


def make_data(rows: int, features: int, flip: float, seed: int) -> tuple[pd.DataFrame, set[int]]:
    data, labels = make_classification(
        n_samples=rows,
        n_features=features,
        n_informative=10,
        n_redundant=4,
        flip_y=0.0,
        class_sep=1.5,
        random_state=seed,
    )
    rng = np.random.default_rng(seed)
    flipped = rng.choice(rows, size=round(flip * rows), replace=False)
    labels[flipped] = 1 - labels[flipped]
    frame = pd.DataFrame(data, columns=[f"f{i}" for i in range(features)])
    frame["label"] = labels
    return frame, set(flipped.tolist())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--features", type=int, default=20)
    parser.add_argument("--model", default="auto", help="PoisonCheckConfig.model")
    parser.add_argument("--strict", action="store_true", help="fail when the goal is missed")
    args = parser.parse_args()
    frame, truth = make_data(args.rows, args.features, 0.02, seed=0)
    features = frame.drop(columns="label").to_numpy()
    features = (features - features.mean(axis=0)) / features.std(axis=0)

    models = resolve_model(args.model, args.rows)
    start = time.perf_counter()
    fit_predict_proba(features, frame["label"].to_numpy(), features[:1], 2, models, 0)
    baseline = time.perf_counter() - start

    start = time.perf_counter()
    report = poison_check(frame, "label", config=PoisonCheckConfig(model=args.model))
    elapsed = time.perf_counter() - start

    flagged = set(report.flagged_rows)
    hits = len(flagged & truth)
    recall = hits / len(truth)
    precision = hits / max(1, len(flagged))
    print(f"rows x features           : {args.rows} x {args.features}, {len(truth)} flipped")
    print(f"baseline (one {'+'.join(models)} fit): {baseline:8.2f} s")
    print(
        f"poison check (all checks) : {elapsed:8.2f} s   ratio {elapsed / baseline:6.1f}x"
        f"   goal < {GOAL_SECONDS:.0f} s"
    )
    for summary in report.checks:
        rows = set(report.rows_flagged_by(summary.check))
        share = len(rows & truth) / max(1, len(rows))
        print(
            f"  {summary.check:24s}: {summary.rows_flagged:6d} rows flagged, "
            f"{share:.3f} of them flipped"
        )
    print(
        f"recall / precision        : {recall:.3f} / {precision:.3f} ({len(flagged)} rows flagged)"
    )
    if args.strict and elapsed > GOAL_SECONDS:
        print(f"FAIL: {elapsed:.1f} s is above the goal of {GOAL_SECONDS:.0f} s", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
