"""The gateway's drift window: a count window whose kept rows are a uniform sample."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from garrison.detection import Profile
from garrison.detection.window import RowReservoir
from garrison.errors import InvalidInput
from garrison.gateway.watch import Watch
from garrison.schema import InputSchema
from garrison.types import FixedClock


def _offer(window: RowReservoir, start: int, stop: int, block: int) -> list[pd.DataFrame]:
    """Rows numbered ``start..stop-1`` (the number is the row's value), in blocks."""
    closed = []
    for i in range(start, stop, block):
        ids = np.arange(i, min(i + block, stop), dtype=float)
        closed += window.offer(ids[:, None], ids.astype(int))
    return closed


def test_windows_close_every_size_rows_whatever_the_blocks() -> None:
    window = RowReservoir(100, 30, ["x"], "prediction", rng=1)
    closed = _offer(window, 0, 1_000, 37)
    assert len(closed) == 10 and window.seen == 0
    for w, frame in enumerate(closed):
        assert list(frame.columns) == ["x", "prediction"] and len(frame) == 30
        ids = frame["x"].to_numpy()
        # Only rows of its own window, each once, with its own label.
        assert ids.min() >= 100 * w and ids.max() < 100 * (w + 1)
        assert len(set(ids)) == 30
        assert list(frame["prediction"]) == [str(int(v)) for v in ids]


def test_a_capacity_at_or_above_the_window_keeps_every_row_in_order() -> None:
    window = RowReservoir(50, 500, ["x"], "prediction")
    (frame,) = _offer(window, 0, 50, 7)
    assert frame["x"].tolist() == list(range(50))


def test_every_row_of_a_window_is_kept_with_the_same_probability() -> None:
    # 4,000 windows of 40 rows, 10 kept: each position is kept a quarter of the time,
    # early rows (which fill the reservoir) and late ones (which replace) alike.
    window = RowReservoir(40, 10, ["x"], "prediction", rng=7)
    counts = np.zeros(40)
    for frame in _offer(window, 0, 160_000, 13):
        counts[frame["x"].to_numpy(dtype=int) % 40] += 1
    share = counts / 4_000
    assert np.all(np.abs(share - 0.25) < 0.03), share  # ~4.4 standard errors


def test_sizes_must_be_positive() -> None:
    with pytest.raises(InvalidInput):
        RowReservoir(0, 10, ["x"], "prediction")
    with pytest.raises(InvalidInput):
        RowReservoir(10, 0, ["x"], "prediction")


def _deployed(frame: pd.DataFrame) -> SimpleNamespace:
    names = list(frame.columns)
    schema = InputSchema.from_dict({"features": [{"name": n, "type": "float"} for n in names]})
    meta = SimpleNamespace(profile=Profile.from_frame(frame).to_dict(), input_schema=schema)
    return SimpleNamespace(version=SimpleNamespace(name="m", version=1, metadata=meta))


@pytest.mark.parametrize(("shift", "alerts"), [(0.0, 0), (1.0, 1)])
def test_a_sampled_window_still_sees_drift(shift: float, alerts: int) -> None:
    rng = np.random.default_rng(3)
    names = ["a", "b", "c"]
    reference = pd.DataFrame(rng.normal(size=(3_000, 3)), columns=names)
    labelled = reference.assign(prediction=["y"] * len(reference))
    raised: list[dict] = []
    history: list[dict] = []
    watch = Watch(clock=FixedClock(dt.datetime(2026, 1, 1, tzinfo=dt.UTC)), drift_window=2_000,
                  drift_sample=300,
                  drift_profile=lambda d: Profile.from_frame(labelled, outputs=("prediction",)),
                  alerts=SimpleNamespace(raise_drift=lambda n, v, r: raised.append(r)),
                  raise_alert=lambda a: None, count=lambda k: None,
                  drift_history=lambda n, v, r: history.append(r))
    try:
        deployed = _deployed(reference)
        live = rng.normal(size=(2_000, 3)) + np.array([shift, 0.0, 0.0])
        watch._sink([("c", deployed, live[i:i + 100], np.array(["y"] * 100), [])
                     for i in range(0, 2_000, 100)])
    finally:
        watch.close()
    assert len(history) == 1  # One window of 2,000 rows closed...
    assert history[0]["rows_current"] == 300 and history[0]["rows_window"] == 2_000
    assert len(raised) == alerts  # ...tested on its 300-row sample.
