"""The gateway records in the audit trail which runtime serves each loaded version."""

from __future__ import annotations

import json

from garrison.audit import AuditQuery
from garrison.serving.compiled import TOLERANCE


def test_the_gateway_audits_which_runtime_serves(gateway) -> None:
    client, state, demo, services = gateway
    events = services.store.query(AuditQuery(action="compile-model-version", limit=None))
    assert events, "loading a served version records its compilation"
    payload = json.loads(events[-1].payload)
    assert payload["compiled"] is True and payload["runtime"] == "sklearn-linear"
    assert payload["reference_rows"] > 0 and payload["max_abs_diff"] < TOLERANCE
    assert payload["sha256"]
