"""Runs `garrison serve` (one worker) with a fault switch on the model named ``flaky``.

Usage: ``python -m tests.gateway.e2e_server PORT FAULT_FILE``. The server is the real one
(uvicorn, uvloop, httptools, the gateway app factory); the only change is that the
runtime of ``flaky`` reads FAULT_FILE before each call: ``hang`` blocks until the file
says something else (at most HANG_GUARD seconds), ``raise`` fails, anything else (or no
file) scores normally. A hung call keeps a ``FAULT_FILE.busy.*`` marker while it blocks.
Tests flip the file to drive the fallback and the circuit breaker over real HTTP: an
answer that arrives while the model still hangs can only have come from the deadline.
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from typing import Any

import garrison.serving.table as loading
from garrison.app import serve_gateway
from garrison.config import load_settings

#: The longest a hung call blocks if a test never releases it (a hang guard, not a speed).
HANG_GUARD = 60.0


class FaultyRuntime:
    """Delegates to the real runtime unless the fault file says otherwise."""

    inline = False  # Always through the executor and its deadline, like a heavy model.

    def __init__(self, runtime: Any, switch: Path) -> None:
        self._runtime = runtime
        self._switch = switch
        self.kind = runtime.kind
        self.model = runtime.model

    def _fault(self) -> str:
        return self._switch.read_text().strip() if self._switch.exists() else ""

    def predict(self, X: Any) -> Any:
        fault = self._fault()
        if fault == "hang":
            busy = self._switch.with_name(f"{self._switch.name}.busy.{threading.get_ident()}")
            busy.touch()
            try:
                released = time.monotonic() + HANG_GUARD
                while self._fault() == "hang" and time.monotonic() < released:
                    time.sleep(0.02)
            finally:
                busy.unlink(missing_ok=True)
        elif fault == "raise":
            raise RuntimeError("injected model failure")
        return self._runtime.predict(X)


def main() -> None:
    port, switch = int(sys.argv[1]), Path(sys.argv[2])
    real = loading.runtime_for

    def runtime_for(model: Any, fmt: Any, names: Any) -> Any:
        runtime = real(model, fmt, names)
        return FaultyRuntime(runtime, switch) if getattr(model, "garrison_flaky_", False) \
            else runtime

    loading.runtime_for = runtime_for
    serve_gateway(load_settings(), host="127.0.0.1", port=port, workers=1)


if __name__ == "__main__":
    main()
