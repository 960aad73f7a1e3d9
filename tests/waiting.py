"""Waiting for background work in tests: generous hang guards, never speed goals.

A test that waits for something a background thread or process does (a table reload,
a flushed queue, a server start) polls for it and gives up only after ``HANG_GUARD``
seconds. The guard catches a hang; it is far above anything a slow or loaded machine
needs, so no test asserts how fast something happened (speed is measured in ``bench/``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

__all__ = ["HANG_GUARD", "eventually"]

T = TypeVar("T")

#: Seconds before a wait is called hung.
HANG_GUARD = 60.0


def eventually(check: Callable[[], T], what: str, *, guard: float = HANG_GUARD,
               interval: float = 0.05) -> T:
    """Poll ``check`` until it returns something true, and return that."""
    deadline = time.monotonic() + guard
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: still not so after {guard:.0f} s (hung?)")
        time.sleep(interval)
