"""Runs `garrison serve` (one worker) with a fault switch on the model named ``flaky``.

Usage: ``python -m tests.gateway.e2e_server PORT FAULT_FILE``. The server is the real one
(uvicorn, uvloop, httptools, the gateway app factory); the only change is that the
runtime of ``flaky`` reads FAULT_FILE before each call: ``hang`` sleeps past any
deadline, ``raise`` fails, anything else (or no file) scores normally. Tests flip the
file to drive the fallback and the circuit breaker over real HTTP.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import garrison.serving.table as loading
from garrison.app import serve_gateway
from garrison.config import load_settings

HANG_SECONDS = 1.5


class FaultyRuntime:
    """Delegates to the real runtime unless the fault file says otherwise."""

    inline = False  # Always through the executor and its deadline, like a heavy model.

    def __init__(self, runtime: Any, switch: Path) -> None:
        self._runtime = runtime
        self._switch = switch
        self.kind = runtime.kind
        self.model = runtime.model

    def predict(self, X: Any) -> Any:
        fault = self._switch.read_text().strip() if self._switch.exists() else ""
        if fault == "hang":
            time.sleep(HANG_SECONDS)
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
