"""Fixtures for the explanation tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from threadpoolctl import threadpool_limits


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    # The models here are tiny; OpenMP/BLAS worker threads only add contention on a shared
    # CI host (HistGradientBoosting fits took seconds instead of milliseconds).
    with threadpool_limits(limits=1):
        yield
