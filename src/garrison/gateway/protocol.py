"""uvicorn's httptools protocol with the two guards it lacks against slow and bloated clients.

uvicorn arms no timer until a connection has answered its first request, and none while
a request's headers arrive. A client that connects and sends nothing, or sends one
header line a second (slowloris), holds a connection slot forever; a few hundred of them
exhaust ``limit_concurrency`` and every other caller gets 503. This protocol:

* closes a connection whose request headers are not complete ``header_timeout`` seconds
  after the connection opened or the request began (``408``, then close);
* refuses request headers larger than ``max_header_bytes`` (``431``, then close);
* sheds a request at its first bytes (``503`` with ``Retry-After``, then close) while
  ``max_in_flight`` requests of this worker are already being worked on, or when its
  bytes have waited in the kernel longer than ``max_queue_wait`` seconds.

Shedding happens here, not in the application, because under overload the work that
piles up is not the application's: a request the application refuses has still been
accepted, parsed, authenticated and read, and every connection the event loop has not
reached yet waits unseen in the kernel's accept queue, where no limiter can count it.
Its age can be read, though (``TCP_INFO``: milliseconds since the connection's last
bytes arrived): a request that waited past ``max_queue_wait`` would be answered late,
so it is refused instead. A refusal written before anything is parsed costs a few
microseconds, so a worker that fell behind (a CPU it shares, a burst) drains its
queue at once and every caller hears back within the deadline. "Being worked on" means the
whole request has arrived and its answer has not been sent: a client trickling its body
holds no slot (``GARRISON_BODY_TIMEOUT`` bounds it). Health probes are never shed.

The body has its own deadline in the application (``GARRISON_BODY_TIMEOUT``).
:func:`tls_files` checks a certificate pair for uvicorn. The gateway and the admin API
are both served this way.
"""

from __future__ import annotations

import asyncio
import os
import socket
import struct
from pathlib import Path
from typing import Any, ClassVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from garrison.errors import ConfigurationError

__all__ = ["GuardedHttpToolsProtocol", "tls_files"]

#: TLS 1.2 is limited to forward-secret AEAD suites (TLS 1.3 suites are all of that
#: kind); Python's server context already refuses anything older than TLS 1.2.
_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20"

_REFUSALS = {
    408: b"HTTP/1.1 408 Request Timeout\r\n",
    431: b"HTTP/1.1 431 Request Header Fields Too Large\r\n",
}


#: The friendly API's error shape and the Open Inference Protocol's (gateway/errors.py).
_SHED_BODY = {
    True: b'{"error":{"code":"overloaded","message":"server at capacity","request_id":"%s"}}',
    False: b'{"error":"server at capacity","code":"overloaded","request_id":"%s"}',
}
#: ``tcpi_last_data_recv`` of Linux's ``struct tcp_info``: milliseconds since data came.
_TCP_INFO = getattr(socket, "TCP_INFO", None)
_LAST_DATA_RECV = struct.Struct("=I")
_LAST_DATA_RECV_AT = 52

_SHED_HEAD = (b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n"
              b"retry-after: %d\r\nx-request-id: %s\r\ncache-control: no-store\r\n"
              b"x-content-type-options: nosniff\r\ncontent-length: %d\r\n")


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    header_timeout: ClassVar[float] = 10.0
    max_header_bytes: ClassVar[int] = 65_536
    #: Requests of this worker being worked on at once; more are shed (None: no limit).
    max_in_flight: ClassVar[int | None] = None
    retry_after: ClassVar[int] = 1
    #: Milliseconds a request's bytes may have waited in the kernel (None: no limit).
    max_queue_wait_ms: ClassVar[int | None] = None
    #: This worker's count of requests being worked on, and of requests shed.
    working: ClassVar[int] = 0
    shed: ClassVar[int] = 0

    @classmethod
    def configure(cls, *, header_timeout: float, max_header_bytes: int,
                  max_in_flight: int | None = None, max_queue_wait: float = 0.0,
                  retry_after: int = 1) -> None:
        """Set the limits for every connection of this process (one call per worker)."""
        cls.header_timeout = header_timeout
        cls.max_header_bytes = max_header_bytes
        cls.max_in_flight = max_in_flight
        cls.max_queue_wait_ms = int(max_queue_wait * 1000) if max_queue_wait and _TCP_INFO \
            else None
        cls.retry_after = retry_after

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timer: asyncio.TimerHandle | None = None
        self._in_headers = True
        self._header_bytes = 0
        self._tail = b""  # The last bytes seen, to find a header end split across reads.
        self._discarding = False  # Refused: what the client still sends is dropped.
        self._working = False  # This connection's request counts in ``working``.

    def _arm(self) -> None:
        # The byte count is not reset here: this runs while the request's first read is
        # being parsed, and that read has already been counted.
        self._in_headers = True
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self.header_timeout, self._too_slow)

    def _disarm(self) -> None:
        self._in_headers = False
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _refuse(self, status: int, answer: bytes = b"") -> None:
        self._disarm()
        if self.transport.is_closing():
            return
        self.transport.write(answer or _REFUSALS[status] + b"content-length: 0\r\n"
                             b"connection: close\r\n\r\n")
        self._discarding = True
        if self.transport.can_write_eof():
            # A lingering close: closing with the client's bytes still unread would send
            # a reset that can destroy the answer in flight. Half-close, discard what
            # still arrives, and close for good a moment later.
            self.transport.write_eof()
            self.loop.call_later(1.0, self.transport.close)
        else:
            self.transport.close()

    def _overloaded(self, data: bytes) -> bool:
        """Whether the request starting with ``data`` must be shed: the worker is at its
        limit, this connection has no answer in progress (a pipelined request waits for
        its turn instead), and it is not a health probe."""
        if b" /v2/health/" in data[:24] or not (self.cycle is None
                                                 or self.cycle.response_complete):
            return False
        limit = self.max_in_flight
        if limit is not None and GuardedHttpToolsProtocol.working >= limit:
            return True
        cap = self.limit_concurrency  # uvicorn's own limit, whose 503 has no Retry-After.
        if cap is not None and (len(self.connections) >= cap or len(self.tasks) >= cap):
            return True
        return self.max_queue_wait_ms is not None and self._waited_ms() > self.max_queue_wait_ms

    def _waited_ms(self) -> int:
        """Milliseconds since this connection's last bytes arrived (0 when unknown)."""
        try:
            sock = self.transport.get_extra_info("socket")
            info = sock.getsockopt(socket.IPPROTO_TCP, _TCP_INFO, _LAST_DATA_RECV_AT + 4)
            return int(_LAST_DATA_RECV.unpack_from(info, _LAST_DATA_RECV_AT)[0])
        except (AttributeError, OSError, TypeError, struct.error):
            return 0

    def _shed(self, data: bytes) -> None:
        GuardedHttpToolsProtocol.shed += 1
        # Answered: while it lingers it is no connection uvicorn's limit should count.
        self.connections.discard(self)
        rid = os.urandom(16).hex().encode()
        body = _SHED_BODY[b" /v1/" in data[:16]] % rid
        self._refuse(503, _SHED_HEAD % (self.retry_after, rid, len(body))
                     + b"connection: close\r\n\r\n" + body)

    def _done_working(self) -> None:
        if self._working:
            self._working = False
            GuardedHttpToolsProtocol.working -= 1

    def _too_slow(self) -> None:
        self._header_timer = None
        if self._in_headers:
            self._refuse(408)

    # -- protocol and parser callbacks ------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()  # Until the first request's headers are in, idle time counts too.

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self._done_working()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._discarding:
            return
        if self._in_headers:
            if not self._header_bytes and self._overloaded(data):
                self._shed(data)  # The first bytes of a request: nothing parsed yet.
                return
            # Count only the bytes up to the blank line that ends the headers: the body
            # often arrives in the same read.
            window = self._tail + data
            end = window.find(b"\r\n\r\n")
            self._header_bytes += len(data) if end < 0 else max(0, end + 4 - len(self._tail))
            if self._header_bytes > self.max_header_bytes:
                self._refuse(431)
                return
            self._tail = window[-3:]
        super().data_received(data)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        if self.cycle is not None and not self.cycle.response_complete and not self._working:
            self._working = True  # The whole request is in; its answer is not yet out.
            GuardedHttpToolsProtocol.working += 1

    def on_response_complete(self) -> None:
        self._done_working()
        super().on_response_complete()
        # The next request's first bytes count against its header limit; uvicorn's
        # keep-alive timer covers the idle time until they come.
        self._in_headers, self._header_bytes, self._tail = True, 0, b""


def tls_files(cert: Path | None, key: Path | None) -> dict[str, str]:
    """uvicorn's TLS arguments, after checking the pair; empty for plain HTTP.

    Raises ``ConfigurationError`` for half a pair, a missing file, or a private key that
    others can read (the same rule as every key Garrison keeps).
    """
    if cert is None and key is None:
        return {}
    if cert is None or key is None:
        raise ConfigurationError("give both the TLS certificate and its key, or neither")
    for path in (cert, key):
        if not path.is_file():
            raise ConfigurationError(f"TLS file not found: {path.name}")
    mode = key.stat().st_mode & 0o777
    if mode & 0o077:
        raise ConfigurationError(f"TLS key {key.name} has mode {oct(mode)}; it must be 0600")
    return {"ssl_certfile": str(cert), "ssl_keyfile": str(key), "ssl_ciphers": _CIPHERS}
