"""PII discovery throughput and column-level F1: Garrison next to Presidio's pattern recognizers.

Run: ``python bench/data.py [--rows N] [--presidio-rows N] [--strict]``.

Both detectors see the same seeded, labelled 30-column table (obfuscated names
c00..c29, see tests/privacy/datagen.py). Presidio runs its predefined
PatternRecognizers directly on each cell WITHOUT the spaCy NLP engine (no model
can be downloaded here), so it has no PERSON/LOCATION detection and no context
words; its e-mail recognizer is pointed at tldextract's bundled suffix list so
nothing is fetched from the network. A column counts as positive for a type when
at least 50% of its non-null cells hold it (2% for free-text columns), for both.
Goal: Garrison >= 10x the cells/s of Presidio at equal or better F1; ``--strict``
exits 1 when missed. At the end, bench/data_poison.py runs if it exists.
"""

from __future__ import annotations

import argparse
import datetime as dt
import runpy
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

import pandas as pd  # noqa: E402
from tests.privacy.datagen import LABELS, column_f1, labelled_table  # noqa: E402

from garrison.privacy import scan_frame  # noqa: E402
from garrison.types import FixedClock  # noqa: E402

CLOCK = FixedClock(dt.datetime(2025, 6, 30, tzinfo=dt.UTC))
PRESIDIO_TYPES = {
    "EMAIL_ADDRESS": "email",
    "PHONE_NUMBER": "phone",
    "CREDIT_CARD": "payment_card",
    "US_SSN": "us_ssn",
    "IBAN_CODE": "iban",
    "IP_ADDRESS": "ip_address",
    "DATE_TIME": "date_of_birth",
}
COMMON = frozenset(PRESIDIO_TYPES.values())


def _free_text(values: list[str]) -> bool:
    lengths = [len(v) for v in values]
    spaces = [v.count(" ") for v in values]
    return statistics.median(lengths) >= 30 and statistics.median(spaces) >= 4


def garrison_types(frame: pd.DataFrame, max_validations: int | None) -> tuple[dict, float]:
    start = time.perf_counter()
    report = scan_frame(frame, clock=CLOCK, risk=False, max_validations=max_validations)
    elapsed = time.perf_counter() - start
    found = {
        c.name: c.types | {t for t, s in c.text_contains.items() if s >= 0.02}
        for c in report.columns
    }
    return found, elapsed


def presidio_types(frame: pd.DataFrame) -> tuple[dict, float]:
    import tldextract
    from presidio_analyzer.predefined_recognizers import (
        CreditCardRecognizer,
        DateRecognizer,
        EmailRecognizer,
        IbanRecognizer,
        IpRecognizer,
        PhoneRecognizer,
        UsSsnRecognizer,
    )

    tldextract.tldextract.TLD_EXTRACTOR = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)
    recognizers = [
        EmailRecognizer(),
        PhoneRecognizer(),
        CreditCardRecognizer(),
        UsSsnRecognizer(),
        IbanRecognizer(),
        IpRecognizer(),
        DateRecognizer(),
    ]
    recognizers[0].analyze("warm@example.com", ["EMAIL_ADDRESS"], None)
    found: dict[str, set[str]] = {}
    start = time.perf_counter()
    for column in frame.columns:
        values = [str(v) for v in frame[column].dropna()]
        hits: dict[str, int] = {}
        for value in values:
            seen = set()
            for recognizer in recognizers:
                for result in recognizer.analyze(value, recognizer.supported_entities, None):
                    seen.add(PRESIDIO_TYPES.get(result.entity_type, result.entity_type))
            for kind in seen:
                hits[kind] = hits.get(kind, 0) + 1
        need = 0.02 if _free_text(values) else 0.5
        found[column] = {k for k, n in hits.items() if n / max(len(values), 1) >= need}
    return found, time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000, help="rows of the large table")
    parser.add_argument(
        "--presidio-rows",
        type=int,
        default=200,
        help="rows of the table both tools scan (Presidio is slow)",
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 if a goal is missed")
    args = parser.parse_args()

    small = labelled_table(args.presidio_rows, seed=99)
    large = labelled_table(args.rows, seed=100)
    print(
        "Presidio: predefined PatternRecognizers called per cell, no spaCy NLP engine "
        "(no model download possible), no context words."
    )
    p_found, p_time = presidio_types(small)
    garrison_types(small.head(20), max_validations=2000)  # Warm-up: lexicon, metadata.
    g_found, g_time = garrison_types(small, max_validations=2000)
    g_exhaustive, g_ex_time = garrison_types(small, max_validations=None)
    _, g_large_time = garrison_types(large, max_validations=2000)
    _, g_large_ex_time = garrison_types(large, max_validations=None)

    cells, big_cells = small.size, large.size
    p_rate, g_rate = cells / p_time, cells / g_time
    print(f"\n{'table':<34}{'cells':>9}{'seconds':>10}{'cells/s':>12}")
    print(f"{'presidio patterns, small':<34}{cells:>9}{p_time:>10.2f}{p_rate:>12,.0f}")
    print(f"{'garrison, small':<34}{cells:>9}{g_time:>10.2f}{g_rate:>12,.0f}")
    print(
        f"{'garrison exhaustive, small':<34}{cells:>9}{g_ex_time:>10.2f}{cells / g_ex_time:>12,.0f}"
    )
    print(
        f"{'garrison, large':<34}{big_cells:>9}{g_large_time:>10.2f}"
        f"{big_cells / g_large_time:>12,.0f}"
    )
    print(
        f"{'garrison exhaustive, large':<34}{big_cells:>9}{g_large_ex_time:>10.2f}"
        f"{big_cells / g_large_ex_time:>12,.0f}"
    )
    speedup = g_rate / p_rate
    print(f"\nspeed ratio on the same cells (garrison / presidio): {speedup:.1f}x (goal >= 10x)")
    print(
        f"cells/s ratio, garrison large table / presidio small table: "
        f"{big_cells / g_large_time / p_rate:.0f}x (not the goal figure: different tables)"
    )

    scores = {}
    for name, found in (
        ("garrison", g_found),
        ("garrison exhaustive", g_exhaustive),
        ("presidio", p_found),
    ):
        for scope, types in (("all types", None), ("types both support", COMMON)):
            s = column_f1({k: set(v) for k, v in found.items()}, LABELS, types)
            scores[(name, scope)] = s
            print(
                f"{name:<20} {scope:<19} precision {s['precision']:.3f} "
                f"recall {s['recall']:.3f} F1 {s['f1']:.3f}"
            )
    misses = []
    if speedup < 10:
        misses.append(f"speed ratio {speedup:.1f}x < 10x")
    for scope in ("all types", "types both support"):
        if scores[("garrison", scope)]["f1"] < scores[("presidio", scope)]["f1"]:
            misses.append(f"F1 on {scope} below Presidio")
    print("goals: " + ("met" if not misses else "MISSED: " + "; ".join(misses)))

    poison = Path(__file__).with_name("data_poison.py")
    if poison.exists():
        print(f"\n--- {poison.name} ---")
        saved = sys.argv
        sys.argv = [str(poison)] + (["--strict"] if args.strict else [])
        try:
            runpy.run_path(str(poison), run_name="__main__")
        except SystemExit as exc:
            if exc.code not in (0, None):
                misses.append(f"{poison.name} exited {exc.code}")
        finally:
            sys.argv = saved
    return 1 if (args.strict and misses) else 0


if __name__ == "__main__":
    sys.exit(main())
