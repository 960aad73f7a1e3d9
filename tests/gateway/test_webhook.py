"""Signed webhooks over real HTTP: signatures verify, tampering and replays do not, retries."""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog

from garrison.errors import ConfigurationError, InvalidInput, InvalidSignature
from garrison.gateway.webhook import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    WebhookNotifier,
    check_webhook_url,
    sign_body,
    verify_signature,
)
from garrison.serving.alerts import AlertRecord, AlertService
from garrison.types import FixedClock

ROOT = Path(__file__).parent.parent.parent
VECTORS = json.loads((ROOT / "tests/vectors/webhook/signatures.json").read_text("utf-8"))
SECRET = b"whsec-test-0123456789abcdef"


class Receiver:
    """A tiny real HTTP server that records deliveries and answers scripted statuses."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.statuses: list[int] = []
        self.gate = threading.Event()
        self.gate.set()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                receiver.gate.wait(10)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/garrison?token=abc"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,),
                                       daemon=True)

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _, body in self.requests]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    r.thread.start()
    yield r
    r.gate.set()
    r.server.shutdown()
    r.server.server_close()


def notifier_for(url: str, **kwargs: Any) -> WebhookNotifier:
    kwargs.setdefault("backoff", 0.01)
    return WebhookNotifier(url, SECRET, **kwargs)


def record(n: int = 1, **changes: Any) -> AlertRecord:
    base = AlertRecord(f"id-{n}", "auth-failures", "10.0.0.7", "high",
                       {"count": 5, "seconds": 300.0}, "2026-01-01T00:00:00.000000Z")
    return AlertRecord(**{**base.__dict__, **changes})


def test_a_delivery_is_signed_and_verifies_only_with_the_secret(receiver: Receiver) -> None:
    notifier = notifier_for(receiver.url)
    notifier.notify(record().payload())
    assert notifier.flush(10)
    notifier.close()
    [(headers, body)] = receiver.requests
    assert headers[EVENT_HEADER.lower()] == "alert"
    assert headers[DELIVERY_HEADER.lower()] == "id-1"
    assert headers["content-type"] == "application/json"
    assert json.loads(body) == record().payload()
    signature = headers[SIGNATURE_HEADER.lower()]
    assert re.fullmatch(r"t=[0-9]+,v1=[0-9a-f]{64}", signature)
    assert abs(int(signature[2:12]) - time.time()) < 30
    verify_signature(SECRET, signature, body)
    with pytest.raises(InvalidSignature) as wrong:
        verify_signature(b"whsec-test-0123456789abcdeF", signature, body)
    assert wrong.value.detail["reason"] == "mismatch"
    tampered = body.replace(b'"high"', b'"low"')
    assert tampered != body
    with pytest.raises(InvalidSignature):
        verify_signature(SECRET, signature, tampered)
    stamp = int(signature[2:12])
    with pytest.raises(InvalidSignature) as late:
        verify_signature(SECRET, signature, body, now=stamp + 301)
    assert late.value.detail["reason"] == "expired"
    verify_signature(SECRET, signature, body, now=stamp + 300)
    assert notifier.stats() == {"delivered": 1, "failed": 0, "rejected": 0, "dropped": 0,
                                "retried": 0, "queued": 0}


def test_an_old_timestamp_is_refused_by_the_receiver(receiver: Receiver) -> None:
    hour_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    notifier = notifier_for(receiver.url, clock=FixedClock(hour_ago))
    notifier.notify(record().payload())
    assert notifier.flush(10)
    notifier.close()
    [(headers, body)] = receiver.requests
    with pytest.raises(InvalidSignature) as exc:
        verify_signature(SECRET, headers[SIGNATURE_HEADER.lower()], body)
    assert exc.value.detail["reason"] == "expired"
    verify_signature(SECRET, headers[SIGNATURE_HEADER.lower()], body, tolerance=4000)


def test_a_500_is_retried_with_the_same_body_and_delivery_id(receiver: Receiver) -> None:
    receiver.statuses = [500, 503, 200]
    notifier = notifier_for(receiver.url)
    notifier.notify(record().payload())
    assert notifier.flush(10)
    notifier.close()
    assert len(receiver.requests) == 3
    assert len({body for _, body in receiver.requests}) == 1
    assert {h[DELIVERY_HEADER.lower()] for h, _ in receiver.requests} == {"id-1"}
    for headers, body in receiver.requests:
        verify_signature(SECRET, headers[SIGNATURE_HEADER.lower()], body)
    stats = notifier.stats()
    assert (stats["delivered"], stats["retried"], stats["failed"]) == (1, 2, 0)


def test_it_gives_up_after_the_retries_and_keeps_going(receiver: Receiver) -> None:
    receiver.statuses = [500, 500, 429, 502, 200]
    notifier = notifier_for(receiver.url, retries=3)
    notifier.notify(record(1).payload())
    notifier.notify(record(2).payload())
    assert notifier.flush(10)
    notifier.close()
    assert [b["id"] for b in receiver.bodies()] == ["id-1"] * 4 + ["id-2"]
    stats = notifier.stats()
    assert (stats["failed"], stats["delivered"], stats["retried"]) == (1, 1, 3)


def test_a_client_error_or_redirect_is_not_retried(receiver: Receiver) -> None:
    receiver.statuses = [400, 302]
    notifier = notifier_for(receiver.url)
    notifier.notify(record(1).payload())
    notifier.notify(record(2).payload())
    assert notifier.flush(10)
    notifier.close()
    assert len(receiver.requests) == 2
    assert notifier.stats()["rejected"] == 2 and notifier.stats()["retried"] == 0


def test_an_unreachable_receiver_is_retried_then_given_up() -> None:
    probe = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    port = probe.server_address[1]
    probe.server_close()  # Nothing listens on this port now.
    notifier = notifier_for(f"http://127.0.0.1:{port}/", retries=2)
    notifier.notify(record().payload())
    assert notifier.flush(10)
    notifier.close()
    stats = notifier.stats()
    assert (stats["failed"], stats["retried"], stats["delivered"]) == (1, 2, 0)


def test_a_full_queue_drops_and_counts_without_blocking(receiver: Receiver) -> None:
    receiver.gate.clear()
    notifier = notifier_for(receiver.url, max_queue=2)
    for n in range(10):
        notifier.notify(record(n).payload())
    # Every notify returned while the receiver still held the first delivery at its gate.
    assert receiver.requests == []
    assert notifier.stats()["dropped"] == 8
    receiver.gate.set()
    assert notifier.flush(10)
    notifier.close()
    assert sorted(b["id"] for b in receiver.bodies()) == ["id-0", "id-1"]
    notifier.notify(record(11).payload())  # After close: dropped, not raised.
    assert notifier.stats()["dropped"] == 9


def test_close_drops_what_it_cannot_deliver_in_time(receiver: Receiver) -> None:
    receiver.statuses = [500] * 50
    notifier = notifier_for(receiver.url, retries=5, backoff=5.0)
    notifier.notify(record(1).payload())
    notifier.notify(record(2).payload())
    notifier.close(timeout=0.3)
    # Closing cut the 5 s backoff short (at most the first retry began) instead of
    # waiting out five of them.
    assert notifier.stats()["retried"] <= 1
    assert notifier.stats()["dropped"] == 2 and notifier.stats()["queued"] == 0


def test_the_secret_never_reaches_the_logs_or_repr(receiver: Receiver) -> None:
    receiver.statuses = [500, 401]
    with structlog.testing.capture_logs() as logs:
        notifier = notifier_for(receiver.url)
        notifier.notify(record().payload())
        assert notifier.flush(10)
        notifier.close()
    text = repr(logs) + repr(notifier)
    assert logs and "127.0.0.1" in text
    for secret_or_private in (SECRET.decode(), "token=abc", "10.0.0.7"):
        assert secret_or_private not in text


def test_an_alert_service_with_a_webhook_sends_what_it_records(receiver: Receiver) -> None:
    class Sink:
        def __init__(self) -> None:
            self.records: list[AlertRecord] = []

        def add(self, r: AlertRecord) -> None:
            self.records.append(r)

    notifier = notifier_for(receiver.url)
    clock = FixedClock(dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    service = AlertService(Sink(), notifier=notifier, clock=clock)  # type: ignore[arg-type]
    from garrison.detection.access import Alert, AlertKind, Severity

    for _ in range(20):
        service.raise_alert(Alert(AlertKind.EXTRACTION, "svc", Severity.HIGH, {"w": 0.5},
                                  clock.now()))
    assert notifier.flush(10)
    service.close()
    assert [b["kind"] for b in receiver.bodies()] == ["extraction-pattern"]


@pytest.mark.parametrize("url", [
    "https://hooks.example.com/garrison", "https://hooks.example.com:8443/x?y=1",
    "http://127.0.0.1:9999/", "http://localhost/hook", "http://[::1]:80/",
])
def test_acceptable_urls(url: str) -> None:
    assert check_webhook_url(url)


@pytest.mark.parametrize("url", [
    "http://hooks.example.com/", "http://127.0.0.2/", "ftp://127.0.0.1/", "file:///etc/passwd",
    "https://user:pw@hooks.example.com/", "https:///nohost", "hooks.example.com",
    "https://hooks.example.com:99999/", "http://localhost.evil.com/",
])
def test_refused_urls(url: str) -> None:
    with pytest.raises(ConfigurationError) as exc:
        WebhookNotifier(url, SECRET)
    assert "pw" not in str(exc.value)


@pytest.mark.parametrize("secret", [b"", b"short", "a str secret of enough length"])
def test_weak_or_mistyped_secrets_are_refused(secret: Any) -> None:
    with pytest.raises(ConfigurationError) as exc:
        WebhookNotifier("https://hooks.example.com/", secret)
    assert str(secret) not in str(exc.value) or not secret


def test_payloads_must_be_json_and_bounded() -> None:
    notifier = WebhookNotifier("https://hooks.example.com/", SECRET,
                               transport=httpx.MockTransport(lambda r: httpx.Response(200)))
    with pytest.raises(InvalidInput):
        notifier.notify({"id": "x", "value": float("nan")})
    with pytest.raises(InvalidInput):
        notifier.notify({"id": "x", "blob": "x" * 70_000})
    notifier.close()
    assert notifier.stats()["queued"] == 0


def test_a_mock_transport_sees_the_exact_signed_bytes() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    clock = FixedClock(dt.datetime.fromtimestamp(1767225600, dt.UTC))
    notifier = WebhookNotifier("https://hooks.example.com/", SECRET, clock=clock,
                               transport=httpx.MockTransport(handler))
    payload = json.loads(VECTORS["valid"][0]["body"])
    notifier.notify(payload)
    assert notifier.flush(5)
    notifier.close()
    [request] = seen
    assert request.content == VECTORS["valid"][0]["body"].encode()
    assert request.headers[SIGNATURE_HEADER] == VECTORS["valid"][0]["header"]


# -- verification --------------------------------------------------------------------

@pytest.mark.parametrize("vector", VECTORS["valid"])
def test_known_answer_signatures(vector: dict[str, Any]) -> None:
    assert sign_body(vector["secret"].encode(), vector["body"].encode(),
                     vector["timestamp"]) == vector["header"]
    verify_signature(vector["secret"].encode(), vector["header"], vector["body"].encode(),
                     now=vector["timestamp"])


@pytest.mark.parametrize("vector", VECTORS["invalid"], ids=lambda v: v["why"])
def test_known_bad_signatures(vector: dict[str, Any]) -> None:
    with pytest.raises(InvalidSignature) as exc:
        verify_signature(vector["secret"].encode(), vector["header"], vector["body"].encode(),
                         now=vector["now"])
    assert exc.value.detail["reason"] == vector["reason"]
    assert exc.value.message == "the webhook signature does not verify"


@pytest.mark.parametrize("header", [
    None, "", "garbage", "t=,v1=00", "v1=" + "0" * 64, "t=1767225600", "t=abc,v1=00",
    "t=1767225600,t=1767225600,v1=00", "t=١٧٦٧٢٢٥٦٠٠,v1=00", "t=1767225600,v1=é", "x" * 2000,
    "t=-1767225600,v1=00", "t=1767225600,,v1=00",
])
def test_malformed_headers_are_refused(header: str | None) -> None:
    with pytest.raises(InvalidSignature):
        verify_signature(SECRET, header, b"{}", now=1767225600)


def test_several_v1_values_allow_rotation_and_future_stamps_are_refused() -> None:
    body, t = b'{"a":1}', 1767225600
    old = sign_body(b"old-secret-0123456789", body, t)
    new = sign_body(SECRET, body, t)
    both = f"{new},v1={old.split('v1=')[1]},v9=ignored"
    verify_signature(SECRET, both, body, now=t)
    verify_signature(b"old-secret-0123456789", both, body, now=t)
    with pytest.raises(InvalidSignature):
        verify_signature(b"other-secret-0123456789", both, body, now=t)
    with pytest.raises(InvalidSignature):
        verify_signature(SECRET, new, body, now=t - 301)
    verify_signature(SECRET, new, body.decode(), now=dt.datetime.fromtimestamp(t, dt.UTC))
    with pytest.raises(ConfigurationError):
        verify_signature(b"", new, body, now=t)


# -- the docs ------------------------------------------------------------------------

def _docs_block(marker: str, language: str) -> str:
    text = (ROOT / "docs/alerts.md").read_text("utf-8")
    after = text.split(f"<!-- {marker} -->", 1)[1]
    return after.split(f"```{language}\n", 1)[1].split("```", 1)[0]


def test_the_docs_receiver_snippet_verifies_real_deliveries(receiver: Receiver) -> None:
    namespace: dict[str, Any] = {}
    exec(compile(_docs_block("snippet: verify-webhook", "python"), "alerts.md", "exec"),
         namespace)
    verify = namespace["verify_garrison_signature"]
    notifier = notifier_for(receiver.url)
    notifier.notify(record().payload())
    assert notifier.flush(10)
    notifier.close()
    [(headers, body)] = receiver.requests
    signature = headers[SIGNATURE_HEADER.lower()]
    verify(SECRET, signature, body)
    for args in ((b"wrong-secret-000000000", signature, body),
                 (SECRET, signature, body + b" "),
                 (SECRET, "t=1767225600," + signature.split(",")[1], body),
                 (SECRET, "nonsense", body)):
        with pytest.raises(ValueError):
            verify(*args)
    for vector in VECTORS["valid"]:  # Old stamps: valid only with a huge tolerance.
        with pytest.raises(ValueError):
            verify(vector["secret"].encode(), vector["header"], vector["body"].encode())
        verify(vector["secret"].encode(), vector["header"], vector["body"].encode(),
               tolerance=10**10)


def _check(schema: dict[str, Any], value: Any, path: str = "$") -> None:
    types = {"object": dict, "string": str, "integer": int}
    assert isinstance(value, types[schema["type"]]), path
    if "enum" in schema:
        assert value in schema["enum"], path
    if schema["type"] == "object" and "properties" in schema:
        assert set(schema.get("required", [])) <= set(value), path
        if schema.get("additionalProperties") is False:
            assert set(value) <= set(schema["properties"]), path
        for key, sub in schema["properties"].items():
            if key in value:
                _check(sub, value[key], f"{path}.{key}")


def test_real_payloads_match_the_documented_schema() -> None:
    schema = json.loads(_docs_block("schema: webhook-payload", "json"))
    assert set(schema["required"]) == set(schema["properties"])
    _check(schema, record().payload())
    _check(schema, record(kind="drift", caller="model:m:1", severity="medium").payload())
    with pytest.raises(AssertionError):
        _check(schema, {**record().payload(), "extra": 1})
    with pytest.raises(AssertionError):
        _check(schema, {**record().payload(), "severity": "critical"})
