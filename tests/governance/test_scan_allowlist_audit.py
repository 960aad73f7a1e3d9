"""Changes of the scanner allow-list are audited once, however many workers start."""

from __future__ import annotations

import json

from garrison.app.services import _scan_policy
from garrison.audit import AuditQuery
from garrison.config import load_settings


def _events(store):
    return store.query(AuditQuery(action="extend-scan-allowlist", limit=None))


def test_each_change_is_recorded_once(store, tmp_path) -> None:
    extended = load_settings(home=tmp_path / "h", database_url=None,
                             scan_allow=["mypkg.Model", "mypkg.*"])
    policy = _scan_policy(extended, store, None)
    assert "mypkg.Model" in policy.extra_allowed
    _scan_policy(extended, store, None)  # A restart with the same settings.
    [first] = _events(store)
    assert json.loads(first.payload) == {"entries": ["mypkg.*", "mypkg.Model"],
                                         "previous": []}
    reverted = load_settings(home=tmp_path / "h", database_url=None, scan_allow=[])
    _scan_policy(reverted, store, None)
    assert json.loads(_events(store)[-1].payload)["previous"] == ["mypkg.*", "mypkg.Model"]
    assert len(_events(store)) == 2


def test_a_worker_that_read_before_another_recorded_does_not_record_again(
        store, tmp_path, monkeypatch) -> None:
    """Two workers start together: both read the old list, the first records the change;
    the second re-reads inside its transaction and finds it done."""
    extended = load_settings(home=tmp_path / "h", database_url=None, scan_allow=["mypkg.*"])
    _scan_policy(extended, store, None)  # The first worker.
    monkeypatch.setattr(store, "get_meta", lambda key: None)  # The second read earlier.
    _scan_policy(extended, store, None)
    assert len(_events(store)) == 1
