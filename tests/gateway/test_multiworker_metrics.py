"""Metrics that hold across workers (issue 12): `garrison serve --workers 2` over real HTTP.

Every scrape, whichever worker answers it, sums both workers' counters: under load,
scraped again and again, ``garrison_requests_total`` never goes down and ends equal to
the requests sent; the process collectors count both workers.
"""

from __future__ import annotations

import json
import re
import threading

import httpx
import pytest

from garrison.app import initialize
from garrison.config import load_settings
from garrison.demo import setup_demo

from .models import row
from .serving import free_port, gateway_env, start, stop

REQUESTS = 160


def _value(text: str, series: str) -> float:
    match = re.search(rf"^{re.escape(series)} ([0-9.e+]+)$", text, re.M)
    return float(match.group(1)) if match else 0.0


@pytest.mark.slow
def test_two_workers_scraped_under_load_count_every_request(tmp_path) -> None:
    home = tmp_path / "home"
    settings = load_settings(home=home, database_url=None)
    services, admin, root = initialize(settings, "root")
    demo = setup_demo(services, admin, config={"rate_limit": 10_000.0, "rate_burst": 10_000})
    services.close()
    port, log = free_port(), tmp_path / "server.log"
    proc = start(["-m", "garrison", "serve", "--port", str(port), "--workers", "2"],
                 gateway_env(home), port, log, workers=2)
    base = f"http://127.0.0.1:{port}"
    series = f'garrison_requests_total{{model="{demo.model}",outcome="ok",version="1"}}'
    body = json.dumps({"instances": [row(demo.X)]})
    headers = {"Authorization": f"Bearer {demo.keys['scoring-app']}"}
    codes: list[int] = []
    lock = threading.Lock()

    def send(count: int) -> None:
        for _ in range(count):  # A new connection each time, so both workers serve.
            with httpx.Client(base_url=base, timeout=30) as c:
                status = c.post(f"/v1/models/{demo.model}/predict", headers=headers,
                                content=body).status_code
            with lock:
                codes.append(status)

    try:
        senders = [threading.Thread(target=send, args=(REQUESTS // 4,)) for _ in range(4)]
        for t in senders:
            t.start()
        seen: list[float] = []
        cpu: list[float] = []
        scrape = {"Authorization": f"Bearer {root.secret}"}
        while any(t.is_alive() for t in senders) or len(seen) < 5:
            with httpx.Client(base_url=base, timeout=30) as c:
                text = c.get("/metrics", headers=scrape).text
            seen.append(_value(text, series))
            cpu.append(_value(text, "process_cpu_seconds_total"))
        for t in senders:
            t.join()
        with httpx.Client(base_url=base, timeout=30) as c:
            final = [c.get("/metrics", headers=scrape).text for _ in range(4)]
    finally:
        stop(proc)
    assert codes == [200] * REQUESTS, sorted(set(codes))
    assert seen == sorted(seen), "a counter went down between scrapes"
    assert cpu == sorted(cpu), "process CPU seconds went down between scrapes"
    for text in final:  # Every scrape, whichever worker answers, has the whole count.
        assert _value(text, series) == REQUESTS
        assert _value(text, "garrison_workers") == 2
        assert _value(text, f'garrison_model_ready{{model="{demo.model}",role="primary"}}') == 1
        # The alert counters are mirrored too (known kinds start at zero).
        assert 'garrison_alerts_total{kind="drift",severity="high"} 0.0' in text
    # Both workers write to one file, so lines may interleave: read each JSON object.
    pids = set()
    for chunk in re.findall(r"\{[^{}]*\}", log.read_text()):
        try:
            line = json.loads(chunk)
        except ValueError:
            continue
        if str(line.get("path", "")).endswith("/predict") and line.get("status") == 200:
            pids.add(line.get("pid"))
    assert len(pids) == 2, "both workers should have served requests"
