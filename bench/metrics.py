"""The cost of counting a request, one worker vs several (multiprocess metrics).

    python bench/metrics.py [--calls 200000]

Each mode runs in its own interpreter (prometheus-client picks its value class at
import): ``single`` is one worker's in-memory counters (the baseline), ``multiprocess``
writes every counter and histogram to the shared memory-mapped files that let a scrape
sum all workers. Printed: nanoseconds per ``PrometheusTelemetry.request`` call (a
counter, a histogram and a row counter) and per scrape of the rendered text, with the
ratio to the single-worker figure measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

_CHILD = r"""
import json, sys, time
from garrison.gateway.metrics import PrometheusTelemetry, multiprocess_dir
calls = int(sys.argv[1])
t = PrometheusTelemetry(multiprocess=multiprocess_dir())
for i in range(1000):
    t.request("credit", 1, "ok", 0.001, 1)
start = time.perf_counter()
for i in range(calls):
    t.request("credit", 1, "ok", 0.001, 1)
per_call = (time.perf_counter() - start) / calls
start = time.perf_counter()
for _ in range(50):
    t.render()
per_scrape = (time.perf_counter() - start) / 50
print(json.dumps({"call_ns": per_call * 1e9, "scrape_ms": per_scrape * 1e3}))
"""


def _run(calls: int, directory: str | None) -> dict[str, float]:
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    if directory is not None:
        env["PROMETHEUS_MULTIPROC_DIR"] = directory
    out = subprocess.run([sys.executable, "-c", _CHILD, str(calls)], env=env, check=True,
                         capture_output=True, text=True, timeout=600)
    return dict(json.loads(out.stdout))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--calls", type=int, default=200_000)
    args = parser.parse_args()
    single = _run(args.calls, None)
    with tempfile.TemporaryDirectory(prefix="garrison-bench-metrics-") as directory:
        multi = _run(args.calls, directory)
    load = os.getloadavg()[0]
    print(f"metrics cost per request, {args.calls} calls (load average {load:.2f}) "
          f"at {time.strftime('%H:%M:%S')}")
    print(f"{'mode':<14}{'ns/request':>12}{'x single':>10}{'ms/scrape':>11}{'x single':>10}")
    for name, fig in (("single", single), ("multiprocess", multi)):
        print(f"{name:<14}{fig['call_ns']:>12.0f}{fig['call_ns'] / single['call_ns']:>10.2f}"
              f"{fig['scrape_ms']:>11.2f}{fig['scrape_ms'] / single['scrape_ms']:>10.2f}")


if __name__ == "__main__":
    main()
