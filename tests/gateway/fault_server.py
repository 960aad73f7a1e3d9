"""Runs `garrison serve` (one worker) with faults injected into chosen models.

Usage: ``python -m tests.gateway.fault_server PORT SWITCH``. The server is the real one
(uvicorn, the gateway app factory); the only change is that a model whose pickled
estimator carries ``garrison_fault_`` is wrapped when the gateway loads it:

* ``rows``: raises on every batch holding a row whose first feature is above 1.0;
* ``hang``: blocks until SWITCH reads ``release`` (at most HANG_GUARD seconds).

The registry's own smoke test runs in its own process, without the wrapper, so the
faulty versions pass it as a bug that shows only in production would.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import garrison.serving.table as loading
from garrison.app import serve_gateway
from garrison.config import load_settings
from tests.waiting import HANG_GUARD


class FaultRuntime:
    inline = False  # Through the executor and its deadline, like a heavy model.

    def __init__(self, runtime: Any, fault: str, switch: Path) -> None:
        self._runtime = runtime
        self._fault = fault
        self._switch = switch
        self.kind = runtime.kind
        self.model = runtime.model

    def predict(self, X: Any) -> Any:
        if self._fault == "rows" and (X[:, 0] > 1.0).any():
            raise ValueError("injected failure: first feature above 1.0")
        if self._fault == "hang":
            released = time.monotonic() + HANG_GUARD
            while time.monotonic() < released and not (
                    self._switch.exists() and self._switch.read_text().strip() == "release"):
                time.sleep(0.02)
        return self._runtime.predict(X)


def main() -> None:
    port, switch = int(sys.argv[1]), Path(sys.argv[2])
    real = loading.runtime_for

    def runtime_for(model: Any, fmt: Any, names: Any) -> Any:
        runtime = real(model, fmt, names)
        fault = getattr(model, "garrison_fault_", None)
        return FaultRuntime(runtime, fault, switch) if fault else runtime

    loading.runtime_for = runtime_for
    serve_gateway(load_settings(), host="127.0.0.1", port=port, workers=1)


if __name__ == "__main__":
    main()
