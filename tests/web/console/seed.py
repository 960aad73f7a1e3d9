"""A lived-in installation for the browser tests and the documentation screenshots.

Everything goes through the services, as it would in production: a dataset registered
and scanned, a model trained on it registered, approved and promoted, a second version
waiting for approval, a serving policy, decisions with real explanations written by
the decisions writer's own path, drift windows computed by the real drift test,
traffic counts, and alerts.
"""

from __future__ import annotations

import datetime as dt
import functools
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from garrison.app import Services
from garrison.detection import Profile
from garrison.detection.drift import compare
from garrison.explain import explainer_for
from garrison.serving.alerts import AlertRecord
from garrison.serving.decisions import DecisionRecord
from garrison.serving.monitoring import TrafficCount
from garrison.types import utc_iso
from tests.web.helpers import Installation

FEATURES = ["amount", "account_age_days", "transactions_24h"]
DECISION_ID = "7f3c2a9e5b1d4c6e8a0f1b2c3d4e5f60"


@dataclass
class Seeded:
    versions: dict[str, int]
    decision: str


def _data(seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "amount": rng.gamma(2.0, 60.0, 600) * (1 + shift),
        "account_age_days": rng.integers(1, 2000, 600).astype(float),
        "transactions_24h": rng.poisson(3 + 4 * shift, 600).astype(float),
    })
    return frame


@functools.cache
def _model(seed: int, shift: float = 0.0) -> LogisticRegression:
    """Fitted once per process: the seeded installation is rebuilt for every test."""
    frame = _data(seed, shift)
    rng = np.random.default_rng(seed)
    y = ((frame["amount"] > 150) & (frame["account_age_days"] < 400)
         | (rng.random(len(frame)) < 0.05)).astype(int)
    return LogisticRegression(max_iter=500).fit(frame[FEATURES].to_numpy(), y)


def _schema(amount_max: float) -> dict:
    return {"features": [
        {"name": "amount", "type": "float", "minimum": 0, "maximum": amount_max,
         "description": "Transaction amount in euros"},
        {"name": "account_age_days", "type": "float", "minimum": 0},
        {"name": "transactions_24h", "type": "float", "minimum": 0},
    ]}


def seed(inst: Installation, work: Path, *, pending_by: str = "alice") -> Seeded:
    services: Services = inst.services
    people = inst.people
    root, alice, bob = people["root"], people["alice"], people["bob"]
    work.mkdir(parents=True, exist_ok=True)
    train = _data(1)
    csv = work / "transactions.csv"
    train.to_csv(csv, index=False)
    dataset = services.datasets.register(alice, csv, "transactions")
    ref = {"name": "transactions", "version": str(dataset.version), "digest": dataset.digest}

    model = _model(1)
    path = work / "fraud-v1.pkl"
    path.write_bytes(pickle.dumps(model, protocol=5))
    v1 = services.registry.register(alice, "fraud", path, {
        "framework": "scikit-learn", "description": "Card fraud scorer, logistic regression",
        "metrics": {"auc": 0.912, "precision": 0.81, "recall": 0.74},
        "input_schema": _schema(5000), "datasets": [ref], "code_commit": "3f9a1c2",
        "tags": {"team": "payments-risk", "ticket": "RISK-1042"}})
    services.registry.approve(bob, "fraud", v1.version, "Validated on the March holdout")
    services.registry.promote(bob, "fraud", v1.version, "production", "Release 2026.1")
    services.deployments.configure(root, "fraud", {
        "callers": ["checkout-service"], "rate_limit": 20.0, "rate_burst": 40,
        "daily_quota": 50_000, "record_inputs": "full", "detection": "flag",
        "output": {"mode": "full"}})

    retrained = _model(2, 0.1)
    path2 = work / "fraud-v2.pkl"
    path2.write_bytes(pickle.dumps(retrained, protocol=5))
    v2 = services.registry.register(people[pending_by], "fraud", path2, {
        "framework": "scikit-learn", "description": "Retrained on April data, wider amounts",
        "metrics": {"auc": 0.927, "precision": 0.83, "recall": 0.79},
        "input_schema": _schema(10000), "datasets": [ref], "code_commit": "8be41d0",
        "tags": {"team": "payments-risk", "ticket": "RISK-1107"}})

    churn = _model(3)
    path3 = work / "churn.pkl"
    path3.write_bytes(pickle.dumps(churn, protocol=5))
    services.registry.register(alice, "churn", path3, {
        "framework": "scikit-learn", "description": "Monthly churn propensity",
        "metrics": {"auc": 0.78}, "input_schema": _schema(5000)})

    now = services.clock.now()
    row = train[FEATURES].iloc[[7]].to_numpy()
    explanation = explainer_for(model, FEATURES).explain(row)[0].to_dict()
    services.decisions.record_batch([DecisionRecord(
        request_id=DECISION_ID, created=utc_iso(now - dt.timedelta(minutes=42)),
        caller="checkout-service", model="fraud", version=v1.version, rows=1,
        outputs=[int(model.predict(row)[0])], input_policy="full", inputs=row.tolist(),
        explanation=[explanation], latency_ms=3)])

    profile = Profile.from_frame(train[FEATURES])
    for hours, shift in ((60, 0.0), (48, 0.05), (36, 0.1), (24, 0.35), (12, 0.6), (2, 0.8)):
        services.clock.current = now - dt.timedelta(hours=hours)
        report = compare(profile, _data(10 + hours, shift)).to_dict()
        services.monitoring.record_drift("fraud", v1.version, report)  # As the gateway does.
        if hours == 2:
            services.alerts.raise_drift("fraud", v1.version, report)
    services.clock.current = now

    rng = np.random.default_rng(5)
    counts = []
    for minutes in range(0, 24 * 60, 15):
        moment = (now - dt.timedelta(minutes=minutes)).replace(second=0, microsecond=0)
        busy = 40 + int(30 * np.sin(minutes / 180))
        counts.append(TrafficCount("fraud", v1.version, utc_iso(moment), busy, busy * 2,
                                   int(rng.poisson(1.5 if minutes > 300 else 6)),
                                   int(rng.poisson(0.4))))
        counts.append(TrafficCount("churn", 1, utc_iso(moment), busy // 4, busy // 4, 0, 0))
    services.monitoring.record_traffic(counts)

    for n, (kind, caller, severity, detail) in enumerate([
        ("extraction-pattern", "partner-api", "high",
         {"queries": 1840, "shapiro_w": 0.61, "model": "fraud"}),
        ("input-space-sweep", "partner-api", "medium", {"coverage": 0.83, "model": "fraud"}),
        ("quota-exceeded", "batch-scorer", "high", {"rows": 50_000, "model": "fraud"}),
        ("auth-failures", "ip:203.0.113.7", "high", {"failures": 31}),
    ], start=1):
        services.alerts.sink.add(AlertRecord(
            f"00000000-0000-4000-8000-{n:012d}", kind, caller, severity, detail,
            utc_iso(now - dt.timedelta(hours=n * 3))))
    return Seeded({"fraud": v2.version, "churn": 1}, DECISION_ID)
