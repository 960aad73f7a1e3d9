"""Signed alert webhooks: delivery from a background thread, verification for receivers.

Each alert is POSTed as compact JSON (sorted keys, UTF-8) with three headers:

* ``X-Garrison-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>``
  (the scheme Stripe uses), so a receiver can check the body is ours and unmodified
  and refuse replays whose timestamp is older than its tolerance (default 300 s);
* ``X-Garrison-Event: alert``;
* ``X-Garrison-Delivery: <alert id>``, the same on every retry, for deduplication.

:class:`WebhookNotifier` never blocks the caller: ``notify`` puts the body on a bounded
queue (when full, the alert is dropped and counted; it is already stored and audited)
and one daemon thread delivers it, retrying connection errors, timeouts, 408, 429 and
5xx answers with exponential backoff. Other answers (including redirects, which are
never followed) are permanent failures. Only ``https`` URLs are accepted, except
``http`` to 127.0.0.1, ::1 or localhost. Logs name the host and the alert id, never
the secret, the full URL (its query may hold a token) or the body.

:func:`verify_signature` is the receiver's check; ``docs/alerts.md`` also shows a
standalone version that needs only the standard library.
"""

from __future__ import annotations

import datetime as dt
import json
import queue
import re
import threading
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx
import structlog

from garrison.errors import ConfigurationError, InvalidInput, InvalidSignature
from garrison.signing import hmac_sha256, verify_hmac_sha256
from garrison.types import Clock, SystemClock

__all__ = [
    "DEFAULT_TOLERANCE",
    "DELIVERY_HEADER",
    "EVENT_HEADER",
    "MAX_BODY_BYTES",
    "MIN_SECRET_BYTES",
    "SIGNATURE_HEADER",
    "WebhookNotifier",
    "check_webhook_url",
    "sign_body",
    "verify_signature",
]

SIGNATURE_HEADER = "X-Garrison-Signature"
EVENT_HEADER = "X-Garrison-Event"
DELIVERY_HEADER = "X-Garrison-Delivery"
#: Largest age (or clock skew) in seconds that :func:`verify_signature` accepts by default.
DEFAULT_TOLERANCE = 300
MIN_SECRET_BYTES = 16
MAX_BODY_BYTES = 65_536
_LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})
_RETRY_STATUS = frozenset({408, 429})
_MAX_HEADER = 1024
_TIMESTAMP = re.compile(r"[0-9]{1,12}\Z")
_EVENT = re.compile(r"[a-z][a-z0-9-]{0,63}\Z")
_STOP = object()

log = structlog.get_logger("garrison.webhook")


def _bytes(value: bytes | str) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else bytes(value)


def sign_body(secret: bytes | str, body: bytes | str, timestamp: int) -> str:
    """The ``X-Garrison-Signature`` value for ``body`` sent at ``timestamp``."""
    mac = hmac_sha256(_bytes(secret), f"{int(timestamp)}.".encode() + _bytes(body))
    return f"t={int(timestamp)},v1={mac.hex()}"


def _fail(reason: str) -> InvalidSignature:
    return InvalidSignature("the webhook signature does not verify", reason=reason)


def verify_signature(
    secret: bytes | str,
    header: str | None,
    body: bytes | str,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    now: float | dt.datetime | None = None,
) -> None:
    """Raise :class:`InvalidSignature` unless ``header`` signs ``body`` recently.

    ``body`` must be the raw request body, byte for byte. ``now`` (Unix seconds or an
    aware datetime) defaults to the system time; a timestamp further than
    ``tolerance`` seconds from it, in either direction, is refused. Several ``v1``
    values are allowed (any may match, for secret rotation); unknown schemes are
    ignored. ``detail["reason"]`` is ``malformed``, ``expired`` or ``mismatch``.
    """
    key = _bytes(secret)
    if not key:
        raise ConfigurationError("a webhook secret is required")
    if not header or len(header) > _MAX_HEADER:
        raise _fail("malformed")
    timestamp: int | None = None
    candidates: list[bytes] = []
    for part in header.split(","):
        name, sep, value = part.strip().partition("=")
        if not sep:
            raise _fail("malformed")
        if name == "t":
            if timestamp is not None or not _TIMESTAMP.match(value):
                raise _fail("malformed")
            timestamp = int(value)
        elif name == "v1":
            candidates.append(value.encode("utf-8", "replace"))
    if timestamp is None or not candidates:
        raise _fail("malformed")
    if now is None:
        current = time.time()
    else:
        current = now.timestamp() if isinstance(now, dt.datetime) else float(now)
    if abs(current - timestamp) > tolerance:
        raise _fail("expired")
    try:  # Every candidate is compared, in constant time.
        verify_hmac_sha256(key, f"{timestamp}.".encode() + _bytes(body), candidates)
    except InvalidSignature:
        raise _fail("mismatch") from None


def check_webhook_url(url: str) -> str:
    """Return the URL's host; raise :class:`ConfigurationError` unless it is acceptable."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        _ = parts.port  # Reading the port validates it.
    except ValueError as exc:
        raise ConfigurationError("the alert webhook URL is malformed") from exc
    if parts.username is not None or parts.password is not None:
        raise ConfigurationError(
            "the alert webhook URL must not hold credentials; the HMAC secret authenticates"
        )
    if not host:
        raise ConfigurationError("the alert webhook URL needs a host")
    if parts.scheme == "https" or (parts.scheme == "http" and host in _LOOPBACK):
        return host
    raise ConfigurationError(
        "the alert webhook URL must use https (plain http only to 127.0.0.1 or localhost)"
    )


class WebhookNotifier:
    """Delivers alert payloads as signed POSTs from one background daemon thread.

    ``retries`` is the number of extra attempts after the first; attempt ``n`` waits
    ``min(backoff * 2 ** (n - 1), max_backoff)`` seconds first. ``transport`` is an
    ``httpx`` transport (tests may pass ``httpx.MockTransport``).
    """

    def __init__(
        self,
        url: str,
        secret: bytes,
        *,
        timeout: float = 5.0,
        max_queue: int = 1000,
        retries: int = 3,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._host = check_webhook_url(url)
        if not isinstance(secret, bytes) or len(secret) < MIN_SECRET_BYTES:
            raise ConfigurationError(
                f"the alert webhook secret must be at least {MIN_SECRET_BYTES} bytes"
            )
        if timeout <= 0 or max_queue < 1 or retries < 0 or backoff < 0 or max_backoff < 0:
            raise ConfigurationError("webhook timeout, queue, retries and backoff must be positive")
        self._url = url
        self._secret = secret
        self.max_queue = max_queue
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self._clock = clock or SystemClock()
        self._client = httpx.Client(transport=transport, timeout=timeout, follow_redirects=False)
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._lock = threading.Condition()
        self._pending = 0
        self._thread: threading.Thread | None = None
        self._closed = False
        self._abort = threading.Event()
        self._stats = {"delivered": 0, "failed": 0, "rejected": 0, "dropped": 0, "retried": 0}

    def __repr__(self) -> str:
        return f"WebhookNotifier(host={self._host!r})"

    # -- producer side ------------------------------------------------------------
    def notify(self, payload: Mapping[str, Any]) -> None:
        """Queue ``payload`` for delivery; drops it (counted) when the queue is full."""
        try:
            body = json.dumps(dict(payload), sort_keys=True, separators=(",", ":"),
                              ensure_ascii=False, allow_nan=False).encode("utf-8")
        except (TypeError, ValueError) as exc:
            raise InvalidInput("a webhook payload must be JSON without NaN") from exc
        if len(body) > MAX_BODY_BYTES:
            raise InvalidInput(f"a webhook payload must be at most {MAX_BODY_BYTES} bytes")
        event = payload.get("event")
        event = event if isinstance(event, str) and _EVENT.match(event) else "alert"
        delivery = str(payload.get("id", ""))[:64]
        with self._lock:
            if self._closed or self._pending >= self.max_queue:
                self._stats["dropped"] += 1
                log.warning("alert webhook queue full or closed; alert dropped",
                            host=self._host, delivery=delivery)
                return
            self._pending += 1
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, daemon=True,
                                                 name="garrison-alert-webhook")
                self._thread.start()
        self._queue.put((body, event, delivery))

    def stats(self) -> dict[str, int]:
        """Counters since start, plus ``queued`` (waiting or in flight)."""
        with self._lock:
            return {**self._stats, "queued": self._pending}

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every queued payload is delivered or given up; False on timeout."""
        with self._lock:
            return self._lock.wait_for(lambda: self._pending == 0, timeout=timeout)

    def close(self, timeout: float = 5.0) -> None:
        """Deliver what is queued within ``timeout`` seconds, drop the rest, stop."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            thread = self._thread
        if thread is not None:
            self._queue.put(_STOP)
            thread.join(timeout)
            if thread.is_alive():
                self._abort.set()
                thread.join(self._client.timeout.read or 5.0)
        if thread is None or not thread.is_alive():
            self._client.close()

    # -- the delivery thread ------------------------------------------------------
    def _count(self, name: str) -> None:
        with self._lock:
            self._stats[name] += 1

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            try:
                if self._abort.is_set():
                    self._count("dropped")
                else:
                    self._deliver(*item)
            except Exception:
                # The thread must survive anything; the alert itself is already stored.
                log.exception("alert webhook delivery crashed", host=self._host,
                              delivery=item[2])
                self._count("failed")
            finally:
                with self._lock:
                    self._pending -= 1
                    self._lock.notify_all()

    def _deliver(self, body: bytes, event: str, delivery: str) -> None:
        for attempt in range(self.retries + 1):
            if attempt:
                self._count("retried")
                delay = min(self.backoff * 2 ** (attempt - 1), self.max_backoff)
                if self._abort.wait(delay):
                    self._count("dropped")
                    return
            stamp = int(self._clock.now().timestamp())
            headers = {
                "Content-Type": "application/json",
                "User-Agent": "garrison-webhook/1",
                SIGNATURE_HEADER: sign_body(self._secret, body, stamp),
                EVENT_HEADER: event,
                DELIVERY_HEADER: delivery,
            }
            try:
                with self._client.stream("POST", self._url, content=body,
                                         headers=headers) as response:
                    status = response.status_code
            except httpx.HTTPError as exc:
                log.warning("alert webhook attempt failed", host=self._host, delivery=delivery,
                            attempt=attempt + 1, error=type(exc).__name__)
                continue
            if 200 <= status < 300:
                self._count("delivered")
                return
            if status < 500 and status not in _RETRY_STATUS:
                log.warning("alert webhook refused", host=self._host, delivery=delivery,
                            status=status)
                self._count("rejected")
                return
            log.warning("alert webhook attempt failed", host=self._host, delivery=delivery,
                        attempt=attempt + 1, status=status)
        log.error("alert webhook gave up", host=self._host, delivery=delivery,
                  attempts=self.retries + 1)
        self._count("failed")
