"""The access log: an append on the request path, rendered and written in batches."""

from __future__ import annotations

import io
import json

from garrison.gateway.access_log import AccessLog


def test_lines_are_written_in_batches_in_the_json_format() -> None:
    out = io.StringIO()
    log = AccessLog(fmt="json", stream=out, interval=3600)  # Only explicit flushes.
    for i in range(3):
        log.record(f"r{i}", "POST", "/v1/models/m/predict", 200, 1.23456)
    assert out.getvalue() == ""  # Nothing formatted or written on the request path.
    log.flush()
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [x["request_id"] for x in lines] == ["r0", "r1", "r2"]
    assert lines[0]["event"] == "request" and lines[0]["status"] == 200
    assert lines[0]["ms"] == 1.23 and lines[0]["pid"] > 0
    assert lines[0]["timestamp"].endswith("Z") and lines[0]["level"] == "info"


def test_below_info_the_log_is_off() -> None:
    out = io.StringIO()
    log = AccessLog(fmt="console", stream=out, enabled=False)
    log.record("r", "GET", "/metrics", 200, 0.5)
    log.flush()
    assert out.getvalue() == "" and log._thread is None


def test_a_stuck_stream_drops_and_says_so() -> None:
    out = io.StringIO()
    log = AccessLog(fmt="console", stream=out, interval=3600, max_pending=2)
    for i in range(5):
        log.record(f"r{i}", "POST", "/p", 200, 1.0)
    log.flush()
    text = out.getvalue()
    assert "request_id=r0" in text and "request_id=r1" in text and "r2" not in text
    assert "3 lines dropped" in text
