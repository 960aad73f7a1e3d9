"""The watch thread's monitors fail one model version at a time, and a profile that
cannot be built is not retried on every batch."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import numpy as np
import pandas as pd

from garrison.detection import Profile
from garrison.gateway.watch import Watch
from garrison.schema import InputSchema
from garrison.types import FixedClock

NAMES = ["a", "b", "c"]


def deployed(name: str, frame: pd.DataFrame) -> SimpleNamespace:
    schema = InputSchema.from_dict({"features": [{"name": n, "type": "float"} for n in NAMES]})
    meta = SimpleNamespace(profile=Profile.from_frame(frame).to_dict(), input_schema=schema)
    return SimpleNamespace(version=SimpleNamespace(name=name, version=1, metadata=meta))


def test_a_broken_drift_profile_blinds_only_its_version() -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(500, 3)), columns=NAMES)
    good, bad = deployed("good", frame), deployed("bad", frame)
    built: list[str] = []
    raised: list[dict] = []

    def profile(d: SimpleNamespace) -> Profile:
        built.append(d.version.name)
        if d.version.name == "bad":
            raise RuntimeError("reference sample unreadable")
        shifted = frame.assign(prediction=["x"] * len(frame))
        return Profile.from_frame(shifted, outputs=("prediction",))

    alerts = SimpleNamespace(raise_drift=lambda name, v, report: raised.append(report))
    watch = Watch(clock=FixedClock(dt.datetime(2026, 1, 1, tzinfo=dt.UTC)), drift_window=100,
                  drift_profile=profile, alerts=alerts, raise_alert=lambda a: None,
                  count=lambda k: None)
    try:
        rows = rng.normal(size=(150, 3)) + 3.0  # drifted inputs, 150 rows per version
        items = [("c", d, rows[i:i + 1], np.array(["x"]), []) for d in (good, bad)
                 for i in range(150)]
        watch._sink(items)
        watch._sink(items)
    finally:
        watch.close()
    assert built.count("bad") == 1 and built.count("good") == 1
    assert raised, "the good version's drift was still checked"
    assert watch._access[("bad", 1)]._callers["c"].queries == 300  # extraction still on
