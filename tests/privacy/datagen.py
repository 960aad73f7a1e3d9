"""Seeded generators of labelled tables for the PII tests and ``bench/data.py``.

Column names are obfuscated (``c00``, ``c01``, ...) so detection must come from the
values. ``LABELS`` gives each column's true PII types (empty for non-PII and for
the look-alikes that must be left alone).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid

import numpy as np
import pandas as pd
from faker import Faker

TODAY = dt.date(2025, 6, 30)

# (kind, true PII types). The order fixes the obfuscated names c00, c01, ...
COLUMNS: tuple[tuple[str, frozenset[str]], ...] = (
    ("name_en", frozenset({"person_name"})),
    ("email", frozenset({"email"})),
    ("phone_us", frozenset({"phone"})),
    ("phone_eu", frozenset({"phone"})),
    ("ssn", frozenset({"us_ssn"})),
    ("card", frozenset({"payment_card"})),
    ("iban", frozenset({"iban"})),
    ("ipv4", frozenset({"ip_address"})),
    ("ipv6", frozenset({"ip_address"})),
    ("street_en", frozenset({"street_address"})),
    ("dob", frozenset({"date_of_birth"})),
    ("mrn", frozenset({"medical_record_number"})),
    ("name_de", frozenset({"person_name"})),
    ("street_de", frozenset({"street_address"})),
    ("zip", frozenset({"postal_code"})),
    ("gender", frozenset({"gender"})),
    ("city", frozenset({"city"})),
    ("job", frozenset({"occupation"})),
    ("order_number", frozenset()),
    ("non_luhn_16", frozenset()),
    ("sha256", frozenset()),
    ("uuid4", frozenset()),
    ("version", frozenset()),
    ("event_date", frozenset()),
    ("amount", frozenset()),
    ("quantity", frozenset()),
    ("status", frozenset()),
    ("sku", frozenset()),
    ("sentence", frozenset()),
    ("notes", frozenset({"email", "phone"})),
)
KINDS = tuple(kind for kind, _ in COLUMNS)
LABELS: dict[str, frozenset[str]] = {f"c{i:02d}": types for i, (_, types) in enumerate(COLUMNS)}


def _non_luhn(rng: np.random.Generator) -> str:
    while True:
        digits = "".join(str(d) for d in rng.integers(0, 10, 16))
        total = sum(
            (int(c) * 2 - 9 if int(c) * 2 > 9 else int(c) * 2) if i % 2 else int(c)
            for i, c in enumerate(reversed(digits))
        )
        if total % 10 and digits[0] != "0":
            return digits


def column_values(kind: str, n: int, seed: int) -> list[str]:
    """``n`` values of one kind, reproducible from ``seed``."""
    rng = np.random.default_rng(seed)
    fake = Faker("en_US")
    fake.seed_instance(seed)
    fake_de, fake_fr = Faker("de_DE"), Faker("fr_FR")
    fake_de.seed_instance(seed + 1)
    fake_fr.seed_instance(seed + 2)
    makers = {
        "name_en": fake.name,
        "email": fake.email,
        "phone_us": fake.phone_number,
        "phone_eu": lambda: (fake_de if rng.random() < 0.5 else fake_fr).phone_number(),
        "ssn": fake.ssn,
        "card": fake.credit_card_number,
        "iban": fake.iban,
        "ipv4": fake.ipv4,
        "ipv6": fake.ipv6,
        "street_en": fake.street_address,
        "dob": lambda: fake.date_between(dt.date(1930, 1, 1), TODAY).isoformat(),
        "mrn": lambda: f"MRN-{rng.integers(0, 10**7):07d}",
        "name_de": fake_de.name,
        "street_de": fake_de.street_address,
        "zip": fake.zipcode,
        "gender": lambda: str(rng.choice(["M", "F", "F", "M", "X"])),
        "city": fake.city,
        "job": fake.job,
        "order_number": lambda: "{:03d}-{:03d}-{:04d}".format(
            *rng.integers(0, [1000, 1000, 10000])
        ),
        "non_luhn_16": lambda: _non_luhn(rng),
        "sha256": lambda: hashlib.sha256(rng.bytes(16)).hexdigest(),
        "uuid4": lambda: str(uuid.UUID(bytes=rng.bytes(16), version=4)),
        "version": lambda: "{}.{}.{}.{}".format(*rng.integers(0, [5, 20, 30, 200])),
        "event_date": lambda: fake.date_between(
            dt.date(2023, 1, 1), dt.date(2025, 6, 1)
        ).isoformat(),
        "amount": lambda: f"{rng.gamma(2.0, 40.0):.2f}",
        "quantity": lambda: str(int(rng.integers(1, 50))),
        "status": lambda: str(rng.choice(["shipped", "pending", "cancelled", "returned"])),
        "sku": lambda: f"SKU-{rng.integers(0, 10**6):06d}",
        "sentence": lambda: fake.sentence(nb_words=12),
        "notes": lambda: (
            f"Customer asked to be called back on {fake.phone_number()} "
            f"or mailed at {fake.email()}."
            if rng.random() < 0.3
            else fake.sentence(nb_words=10)
        ),
    }
    make = makers[kind]
    return [str(make()) for _ in range(n)]


def labelled_table(n: int = 400, seed: int = 7) -> pd.DataFrame:
    """The 30-column mixed table with obfuscated names ``c00``..``c29``."""
    return pd.DataFrame(
        {f"c{i:02d}": column_values(kind, n, seed + i) for i, kind in enumerate(KINDS)}
    )


def column_f1(
    predicted: dict[str, set[str]],
    labels: dict[str, frozenset[str]] = LABELS,
    types: frozenset[str] | None = None,
) -> dict[str, float]:
    """Micro precision/recall/F1 over (column, PII type) pairs."""
    tp = fp = fn = 0
    for column, truth in labels.items():
        pred = set(predicted.get(column, set()))
        truth_set = set(truth)
        if types is not None:
            pred &= types
            truth_set &= types
        tp += len(pred & truth_set)
        fp += len(pred - truth_set)
        fn += len(truth_set - pred)
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "tp": tp, "fp": fp, "fn": fn}
