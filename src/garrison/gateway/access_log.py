"""The gateway's access log, off the request path.

A request costs the log one ``deque.append`` of a tuple, whatever the log level: no
formatting, no lock, no write. A daemon thread wakes every ``interval`` seconds,
renders what accumulated in the configured format (``json`` or ``console``, the same
fields as before: ``event``, ``level``, ``timestamp``, ``request_id``, ``method``,
``path``, ``status``, ``pid``, ``ms``) and writes it in one call. Below level ``info``
the log is off and ``record`` returns at once. Lines are flushed at exit; when more
than ``max_pending`` lines wait (the stream is stuck), new ones are dropped and the
next write says how many.
"""

from __future__ import annotations

import atexit
import collections
import os
import sys
import threading
import time
from datetime import UTC, datetime
from typing import IO, Any

import orjson

__all__ = ["AccessLog", "access_log", "configure_access_log"]


class AccessLog:
    def __init__(self, *, fmt: str = "console", enabled: bool = True, interval: float = 0.25,
                 max_pending: int = 100_000, stream: IO[str] | None = None) -> None:
        self.fmt = fmt
        self.enabled = enabled
        self.interval = interval
        self.max_pending = max_pending
        self._stream = stream
        self._pending: collections.deque[tuple[Any, ...]] = collections.deque()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()  # Writers only: the request path never takes it.
        self._pid = os.getpid()
        self.dropped = 0
        self.written = 0
        self.failed = 0

    def record(self, request_id: str, method: str, path: str, status: int,
               ms: float) -> None:
        """One answered request (called on the event loop: append only)."""
        if not self.enabled:
            return
        if len(self._pending) >= self.max_pending:
            self.dropped += 1
            return
        self._pending.append((time.time(), request_id, method, path, status, ms))
        if self._thread is None:
            self._start()

    def _start(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            self._pid = os.getpid()  # A forked worker logs its own pid.
            self._thread = threading.Thread(target=self._run, name="garrison-access-log",
                                            daemon=True)
            self._thread.start()
            atexit.register(self.flush)

    def _run(self) -> None:
        while True:
            time.sleep(self.interval)
            try:
                self.flush()
            except Exception:  # A broken stream must not stop the thread.
                self.failed += 1  # Those lines are lost; the count is the evidence.

    def flush(self) -> None:
        """Render and write every pending line (the writer thread, and at exit)."""
        with self._lock:
            pending = self._pending
            count = len(pending)
            if not count and not self.dropped:
                return
            items = [pending.popleft() for _ in range(count)]
            dropped, self.dropped = self.dropped, 0
            text = self._render(items, dropped)
            stream = self._stream or sys.stderr
            stream.write(text)
            stream.flush()
            self.written += count

    def _render(self, items: list[tuple[Any, ...]], dropped: int) -> str:
        pid = self._pid
        lines = []
        stamp_second, stamp = -1, ""
        json = self.fmt == "json"
        for created, rid, method, path, status, ms in items:
            second = int(created)
            if second != stamp_second:  # One ISO timestamp per second of log.
                stamp_second = second
                stamp = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
            ts = f"{stamp}.{int((created - second) * 1e6):06d}Z"
            ms = round(ms, 2)
            if json:
                lines.append(orjson.dumps({
                    "request_id": rid, "method": method, "path": path, "status": status,
                    "pid": pid, "ms": ms, "event": "request", "level": "info",
                    "timestamp": ts}).decode())
            else:
                lines.append(f"{ts} [info     ] request                        "
                             f"method={method} ms={ms} path={path} pid={pid} "
                             f"request_id={rid} status={status}")
        if dropped:
            message = f"access log: {dropped} lines dropped (the log stream fell behind)"
            lines.append(orjson.dumps({"event": message, "level": "warning", "pid": pid})
                         .decode() if json else f"[warning  ] {message} pid={pid}")
        return "\n".join(lines) + "\n"


#: The process's access log (one per gateway worker), set up by ``configure_logging``.
access_log = AccessLog()


def configure_access_log(*, fmt: str, level: str) -> None:
    """Follow the process's log settings: the format, and off below ``info``."""
    access_log.fmt = fmt
    access_log.enabled = level in ("debug", "info")
