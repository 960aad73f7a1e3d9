"""Server CPU per request: the Garrison gateway against a bare Starlette endpoint.

Run: ``python bench/gateway.py [--requests N] [--concurrency C] [--rounds R]
[--workers W] [--strict]``, or ``python bench/gateway.py --protocols`` for the
protocol comparison (see :func:`protocol_comparison`).

One run starts, on 127.0.0.1, three servers, each its own process group with
``--workers`` uvicorn workers (2 by default: one per core of the reference machine;
uvloop, httptools), all serving the same two scikit-learn models on 20 features: a
LogisticRegression (``lr``, ``garrison.demo``) and a HistGradientBoostingClassifier
with 100 iterations (``hgb``) fitted on the same rows:

* ``bare``: a minimal Starlette app written to the temporary directory at run time.
  Its ``async def`` route parses ``{"instances": [{...}, ...]}`` with
  ``request.json()``, calls the model's ``predict_proba`` inline and answers with a
  ``JSONResponse``. No guard, no log line (uvicorn's access log off).
* ``defaults``: ``garrison serve`` with the deployment defaults: API-key
  authentication, authorization, the per-caller rate limit and daily quota (set high so
  that the load is never refused), strict schema validation, input detection
  ``detection="flag"`` (magnitude, Mahalanobis and perturbation-instability on every
  row), output hardening, a decision record per prediction (batched, each batch
  anchored by a signed audit event), Prometheus metrics, the extraction and drift
  monitors, and the default log configuration (level ``info``: an access line per
  request). Models are served by the compiled runtime that registration's reference
  sample vouches for (``serving/compiled.py``).
* ``auth-only``: the same with everything a deployment can switch off switched off:
  detection ``off`` and the log at ``warning`` (no access lines). Authentication,
  authorization, validation, decision records and metrics cannot be switched off.

Every server gets the same load from this process, per workload (model x rows per
request: single rows and 100-row batches): ``--requests`` requests per round (a fifth
of that for batches), cycling over 64 different bodies, over ``--concurrency``
keep-alive HTTP/1.1 connections, from a small raw asyncio client, after a warm-up.
Rounds alternate between the servers, so background noise falls on all alike.

The figure the goal is about is the server's CPU time per request: the user+system
time of the server's processes (``/proc/<pid>/stat``) over a round, divided by the
round's requests, the median over the rounds. It does not depend on the client. Goal
(checked with ``--strict``): Garrison with its defaults at or below 1.0x the bare
endpoint's CPU per request, for both models, single rows and batches. Requests per
second and client-side p50/p99 latency are printed with their ratio to bare; on a
shared 2-core machine they also carry the client's and the other tenants' cost.
Last, the cost of each default detector per call, in process, on the served runtime.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import os
import pickle
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import load_line, strict_argument  # noqa: E402

GOAL_RATIO = 1.0
MODEL = "credit-risk"
MODELS = {"lr": MODEL, "hgb": "credit-risk-hgb"}
BATCH = 100

BARE_APP = '''
"""A bare endpoint: JSON in, predict_proba, JSON out (written by bench/gateway.py)."""
import os
import pickle

import numpy as np
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

MODELS = {}
for name in ("lr", "hgb"):
    with open(os.path.join(os.environ["BARE_MODELS"], name + ".pkl"), "rb") as fh:
        MODELS[name] = pickle.load(fh)
FEATURES = [f"f{i:02d}" for i in range(20)]


async def health(request):
    return JSONResponse({"ready": True})


async def predict(request):
    payload = await request.json()
    X = np.array([[row[n] for n in FEATURES] for row in payload["instances"]],
                 dtype=np.float64)
    model = MODELS[request.path_params["name"]]
    return JSONResponse({"predictions": model.predict_proba(X).tolist()})


app = Starlette(routes=[Route("/health", health),
                        Route("/predict/{name}", predict, methods=["POST"])])
'''


# -- servers ------------------------------------------------------------------------


@dataclass
class Server:
    """A server subprocess in its own process group, and how to call it."""

    name: str
    process: subprocess.Popen[bytes]
    port: int
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    log: Path | None = None

    def cpu_seconds(self) -> float:
        """User + system CPU of the server process and every live descendant."""
        tick = os.sysconf("SC_CLK_TCK")
        total = 0
        for pid in _descendants(self.process.pid):
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue  # The process ended between the listing and the read.
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15).
        return total / tick

    def stop(self) -> None:
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)


def _descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            try:
                todo.extend(int(c) for c in task.read_text().split())
            except OSError:
                continue
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(name: str, argv: list[str], env: dict[str, str], port: int, path: str,
           log: Path, headers: dict[str, str] | None = None) -> Server:
    with log.open("wb") as out:
        process = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    return Server(name, process, port, path, headers or {}, log)


def _wait_ready(server: Server, health: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    url = f"http://127.0.0.1:{server.port}{health}"
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            break
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return
        except (OSError, urllib.error.URLError):
            pass
        time.sleep(0.2)
    tail = server.log.read_text(errors="replace")[-2000:] if server.log else ""
    raise SystemExit(f"{server.name} did not become ready within {timeout:.0f}s:\n{tail}")


def hgb_model(X: Any, y: Any) -> Any:
    """The second model: 100 boosting iterations on the demo rows (no early stopping)."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(max_iter=100, early_stopping=False,
                                          random_state=0).fit(X, y)


def _register_hgb(services: Any, demo: Any, config: dict[str, Any]) -> Any:
    import pandas as pd

    from garrison.demo import FEATURES, demo_schema

    people = demo.extra["people"]
    model = hgb_model(demo.X, demo.estimator.predict(demo.X))
    name = MODELS["hgb"]
    with tempfile.TemporaryDirectory() as tmp:
        path, reference = Path(tmp) / "model.pkl", Path(tmp) / "reference.csv"
        path.write_bytes(pickle.dumps(model, protocol=5))
        pd.DataFrame(demo.X, columns=FEATURES).to_csv(reference, index=False)
        services.registry.register(people["alice"], name, path, reference=reference,
                                   metadata={"framework": "scikit-learn",
                                             "input_schema": demo_schema(demo.X)})
    services.registry.approve(people["bob"], name, 1, "bench: reviewed")
    services.registry.promote(people["bob"], name, 1, reason="bench")
    services.deployments.configure(people["bob"], name, {"callers": ["scoring-app"], **config})
    return model


def prepare(home: Path, detection: str | None, *, log_level: str | None = None,
            hgb: bool = True) -> tuple[dict[str, str], dict[str, str], Any]:
    """A demo home whose limits never refuse the load, serving ``lr`` (and ``hgb``);
    ``detection=None`` keeps the deployment default. Returns env, headers and the demo
    (``demo.extra["hgb"]``: the fitted second model)."""
    from garrison.app import initialize
    from garrison.config import load_settings
    from garrison.demo import setup_demo

    settings = load_settings(home=home, database_url=None)
    services, admin, _ = initialize(settings, "root")
    config: dict[str, Any] = {"rate_limit": 1e6, "rate_burst": 1_000_000,
                              "daily_quota": 1_000_000_000}
    if detection is not None:
        config["detection"] = detection
    try:
        demo = setup_demo(services, admin, config=config)
        if hgb:
            demo.extra["hgb"] = _register_hgb(services, demo, config)
    finally:
        services.close()
    path = os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")]))
    env = {k: v for k, v in os.environ.items() if not k.startswith("GARRISON_")}
    env.update({"GARRISON_HOME": str(home), "PYTHONUNBUFFERED": "1", "PYTHONPATH": path})
    if log_level is not None:
        env["GARRISON_LOG_LEVEL"] = log_level
    return env, {"authorization": f"Bearer {demo.keys['scoring-app']}"}, demo


def bodies(demo: Any, count: int = 64, rows: int = 1) -> list[bytes]:
    """``count`` request bodies of ``rows`` consecutive training rows each (cycled)."""
    from garrison.demo import FEATURES

    X = demo.X
    return [json.dumps({"instances": [
        {n: round(float(v), 6) for n, v in zip(FEATURES, X[(i * rows + r) % len(X)],
                                                  strict=True)}
        for r in range(rows)]}).encode() for i in range(count)]


# -- load ---------------------------------------------------------------------------


def _request_bytes(server: Server, body: bytes, path: str | None = None) -> bytes:
    lines = [f"POST {path or server.path} HTTP/1.1", f"host: 127.0.0.1:{server.port}",
             "content-type: application/json", f"content-length: {len(body)}",
             *(f"{k}: {v}" for k, v in server.headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _connection(port: int, requests: list[bytes], first: int, count: int,
                      latencies: list[float], statuses: dict[int, int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for i in range(first, first + count):
            started = time.perf_counter()
            writer.write(requests[i % len(requests)])
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length, close = 0, False
            for line in head.split(b"\r\n")[1:]:
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
                close = close or line.lower() == b"connection: close"
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            statuses[status] = statuses.get(status, 0) + 1
            if close:  # A shed answer (503) closes its connection: open another.
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
    finally:
        writer.close()


@dataclass(frozen=True)
class Round:
    requests: int
    wall: float
    cpu: float
    latencies: list[float]
    statuses: dict[int, int]


def drive(server: Server, payloads: list[bytes], requests: int, concurrency: int,
          timeout: float, path: str | None = None) -> Round:
    """``requests`` requests over ``concurrency`` connections; CPU read around them."""
    wire = [_request_bytes(server, body, path) for body in payloads]
    shares = [requests // concurrency + (i < requests % concurrency) for i in range(concurrency)]
    latencies: list[float] = []
    statuses: dict[int, int] = {}

    async def run() -> None:
        await asyncio.wait_for(asyncio.gather(*(
            _connection(server.port, wire, i * 7, n, latencies, statuses)
            for i, n in enumerate(shares) if n)), timeout)

    cpu, wall = server.cpu_seconds(), time.perf_counter()
    asyncio.run(run())
    wall, cpu = time.perf_counter() - wall, server.cpu_seconds() - cpu
    return Round(requests, wall, cpu, latencies, statuses)


# -- report -------------------------------------------------------------------------


@dataclass(frozen=True)
class Summary:
    name: str
    cpu_us: float
    rps: float
    p50_ms: float
    p99_ms: float
    rounds_cpu_us: list[float]


def summarize(name: str, rounds: list[Round]) -> Summary:
    per_round = [r.cpu / r.requests * 1e6 for r in rounds]
    latencies = sorted(x for r in rounds for x in r.latencies)
    q = statistics.quantiles(latencies, n=100, method="inclusive")
    rps = sum(r.requests for r in rounds) / sum(r.wall for r in rounds)
    return Summary(name, statistics.median(per_round), rps, q[49] * 1e3, q[98] * 1e3,
                   per_round)


def table(rows: list[Summary], base: Summary | None = None) -> str:
    header = ["server", "CPU us/request", "req/s", "p50 ms", "p99 ms", "CPU us per round"]
    if base is not None:
        header[2:2] = ["CPU ratio"]
        header[4:4] = ["req/s ratio"]
    cells = []
    for s in rows:
        row = [s.name, f"{s.cpu_us:,.0f}", f"{s.rps:,.0f}", f"{s.p50_ms:.2f}", f"{s.p99_ms:.2f}",
               " ".join(f"{x:.0f}" for x in s.rounds_cpu_us)]
        if base is not None:
            row[2:2] = [f"{s.cpu_us / base.cpu_us:.2f}"]
            row[4:4] = [f"{s.rps / base.rps:.2f}"]
        cells.append(row)
    widths = [max(len(r[i]) for r in [header, *cells]) for i in range(len(header))]
    last = len(header) - 1

    def line(r: list[str]) -> str:
        return "  ".join(c.ljust(w) if i in (0, last) else c.rjust(w)
                         for i, (c, w) in enumerate(zip(r, widths, strict=True))).rstrip()

    return "\n".join([line(header), "  ".join("-" * w for w in widths), *map(line, cells)])


def _bare_server(tmp: Path, demo: Any, workers: int) -> Server:
    models = tmp / "bare-models"
    models.mkdir()
    (models / "lr.pkl").write_bytes(pickle.dumps(demo.estimator, protocol=5))
    (models / "hgb.pkl").write_bytes(pickle.dumps(demo.extra["hgb"], protocol=5))
    (tmp / "bare_app.py").write_text(textwrap.dedent(BARE_APP))
    port = _free_port()
    argv = [sys.executable, "-m", "uvicorn", "bare_app:app", "--app-dir", str(tmp),
            "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
            "--loop", "uvloop", "--http", "httptools", "--no-access-log",
            "--log-level", "warning"]
    # One native thread per worker, as Garrison sets (``native_threads``): with its
    # default OpenMP pool, HistGradientBoosting spins both cores after every call and
    # the bare endpoint burns ~50x the CPU per request (measured), an unfair baseline.
    threads = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                      "MKL_NUM_THREADS")}
    return _start("bare", argv, {**os.environ, **threads, "BARE_MODELS": str(models)}, port,
                  "/predict/lr", tmp / "bare.log")


def _path(server: Server, model: str) -> str:
    return f"/predict/{model}" if server.name == "bare" else f"/v1/models/{MODELS[model]}/predict"


def detector_costs(demo: Any, repeat: int = 200) -> list[tuple[str, str, int, float]]:
    """(model, detector, rows, microseconds per call) of the gateway's default detectors,
    fitted as the gateway fits them, on the runtime that serves (compiled when it may)."""
    import pandas as pd

    from garrison.demo import FEATURES
    from garrison.detection import InputMonitor
    from garrison.serving.compiled import choose_runtime
    from garrison.serving.runtime import runtime_for
    from garrison.serving.table import GATEWAY_DETECTORS

    out = []
    reference = pd.DataFrame(demo.X, columns=FEATURES)
    for label, model in (("lr", demo.estimator), ("hgb", demo.extra["hgb"])):
        runtime, _ = choose_runtime(runtime_for(model, "pickle", FEATURES), model, FEATURES,
                                    demo.X)
        monitor = InputMonitor.fit(reference, model=runtime, detectors=GATEWAY_DETECTORS)
        for rows in (1, BATCH):
            X = demo.X[:rows].copy()
            # As ``flags`` calls them: perturbation-instability with its early stop.
            named = [(name, functools.partial(decide, threshold=t))
                     for (name, *_), (decide, t) in zip(monitor._plan, monitor._decide,
                                                         strict=True)]
            for name, fn in [("rules (passes_all)", monitor.checker.passes_all), *named,
                             ("all (flags)", monitor.flags), ("model itself", runtime.predict)]:
                fn(X)
                started = time.perf_counter()
                for _ in range(repeat):
                    fn(X)
                out.append((label, name, rows, (time.perf_counter() - started) / repeat * 1e6))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1000,
                        help="Single-row requests per round (batches: a fifth of it).")
    parser.add_argument("--concurrency", type=int, default=8, help="Keep-alive connections.")
    parser.add_argument("--rounds", type=int, default=3, help="Rounds per server, alternating.")
    parser.add_argument("--warmup", type=int, default=200, help="Warm-up requests per server.")
    parser.add_argument("--workers", type=int, default=2, help="Worker processes per server.")
    parser.add_argument("--models", default="lr,hgb", help="Comma-separated: lr, hgb.")
    parser.add_argument("--rows", default=f"1,{BATCH}", help="Rows per request, comma-separated.")
    parser.add_argument("--timeout", type=float, default=120.0,
                        help="Longest a round may take, in seconds.")
    parser.add_argument("--protocols", action="store_true",
                        help="Instead: server CPU per 1,000-row request over OIP v2 REST "
                        "JSON, REST binary and gRPC.")
    strict_argument(parser)
    args = parser.parse_args(argv)
    models = [m for m in args.models.split(",") if m]
    sizes = [int(r) for r in args.rows.split(",") if r]
    if args.requests < 1 or args.concurrency < 1 or args.rounds < 1 or args.warmup < 0 \
            or args.workers < 1 or not set(models) <= set(MODELS) or not models \
            or not sizes or min(sizes) < 1:
        parser.error("--requests, --concurrency, --rounds and --workers must be positive; "
                     "--models lr,hgb; --rows positive")
    if args.protocols:
        return protocol_comparison(args.requests, args.rounds, args.concurrency, args.timeout)

    print(load_line())
    started = time.monotonic()
    servers: list[Server] = []
    workloads = [(m, r) for m in models for r in sizes]
    rounds: dict[tuple[str, int], dict[str, list[Round]]] = {w: {} for w in workloads}
    with tempfile.TemporaryDirectory(prefix="garrison-bench-") as name:
        tmp = Path(name)
        try:
            homes = {"defaults": prepare(tmp / "defaults", None),
                     "auth-only": prepare(tmp / "auth-only", "off", log_level="warning")}
            demo = homes["defaults"][2]
            servers.append(_bare_server(tmp, demo, args.workers))
            for label, (env, headers, _) in homes.items():
                port = _free_port()
                servers.append(_start(
                    label, [sys.executable, "-m", "garrison", "serve", "--workers",
                            str(args.workers), "--host", "127.0.0.1", "--port", str(port)],
                    env, port, f"/v1/models/{MODEL}/predict", tmp / f"{label}.log", headers))
            for server in servers:
                _wait_ready(server, "/health" if server.name == "bare" else "/v2/health/ready",
                            180)
            payloads = {r: bodies(demo, rows=r) for r in sizes}
            for model, rows in workloads:
                count = max(1, args.requests // (5 if rows > 1 else 1))
                for server in servers:  # Warm-up.
                    warm = drive(server, payloads[rows], max(1, args.warmup // 5 if rows > 1
                                                             else args.warmup),
                                 args.concurrency, args.timeout, _path(server, model))
                    if set(warm.statuses) != {200}:
                        raise SystemExit(f"{server.name} answered {warm.statuses} in warm-up")
                per = rounds[(model, rows)] = {s.name: [] for s in servers}
                for _ in range(args.rounds):
                    for server in servers:
                        result = drive(server, payloads[rows], count, args.concurrency,
                                       args.timeout, _path(server, model))
                        if set(result.statuses) != {200}:
                            raise SystemExit(f"{server.name} answered {result.statuses}")
                        per[server.name].append(result)
        finally:
            for server in servers:
                server.stop()
        costs = detector_costs(demo)
    print(f"load: {args.rounds} rounds per server and workload ({args.requests} single-row "
          f"requests or {max(1, args.requests // 5)} {BATCH}-row requests per round), "
          f"{args.concurrency} keep-alive connections, {args.workers} workers per server, "
          f"127.0.0.1; {time.monotonic() - started:.0f} s in all")
    met = True
    for (model, rows), per in rounds.items():
        summaries = [summarize(label, runs) for label, runs in per.items()]
        bare = summaries[0]
        print(f"\n{model}, {rows} row{'s' if rows > 1 else ''} per request:")
        print(table(summaries, bare))
        for summary in summaries[1:]:
            ratio = summary.cpu_us / bare.cpu_us
            goal = summary.name == "defaults"
            verdict = f"goal <= {GOAL_RATIO}: {'met' if ratio <= GOAL_RATIO else 'MISSED'}"
            print(f"ratio {summary.name}/bare server CPU per request [{model} x{rows}]: "
                  f"{ratio:.2f} ({verdict if goal else 'no goal'}); "
                  f"req/s ratio {summary.rps / bare.rps:.2f}")
            met = met and (not goal or ratio <= GOAL_RATIO)
    print("\ndefault detectors, in process, per call (us), on the served runtime:")
    print(f"{'model':5}  {'detector':26}  {'1 row':>8}  {f'{BATCH} rows':>9}")
    by = {(m, d, r): us for m, d, r, us in costs}
    for m, d in dict.fromkeys((m, d) for m, d, _, _ in costs):
        print(f"{m:5}  {d:26}  {by.get((m, d, 1), 0):8,.0f}  {by.get((m, d, BATCH), 0):9,.0f}")
    print(load_line())
    return 1 if args.strict and not met else 0


# -- protocols: REST JSON vs REST binary vs gRPC, 1,000-row batches -------------------

BATCH_ROWS = 1000


def _protocol_payloads(demo: Any) -> dict[str, Any]:
    """One 1,000-row OIP v2 request per protocol: the same rows, as JSON, as the binary
    tensor data extension (answer in binary too) and as a gRPC ``ModelInferRequest``."""
    import numpy as np

    from garrison.gateway.grpc_v2 import grpc_predict_v2_pb2 as pb

    X = np.resize(demo.X, (BATCH_ROWS, demo.X.shape[1])).astype(np.float64)
    tensor = {"name": "input", "shape": list(X.shape), "datatype": "FP64"}
    as_json = json.dumps({"inputs": [{**tensor, "data": X.ravel().tolist()}]}).encode()
    raw = X.tobytes()
    header = json.dumps({"inputs": [{**tensor, "parameters": {"binary_data_size": len(raw)}}],
                         "parameters": {"binary_data_output": True}}).encode()
    request = pb.ModelInferRequest(model_name=MODEL)
    request.inputs.add(**tensor)
    request.raw_input_contents.append(raw)
    return {"rest-json": (as_json, {}),
            "rest-binary": (header + raw, {"inference-header-content-length": str(len(header))}),
            "grpc": request}


def _drive_grpc(server: Server, grpc_port: int, request: Any, requests: int,
                concurrency: int, timeout: float) -> Round:
    import grpc

    from garrison.gateway.grpc_v2 import grpc_predict_v2_pb2_grpc as pb_grpc

    metadata = tuple(server.headers.items())
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    shares = [requests // concurrency + (i < requests % concurrency) for i in range(concurrency)]

    async def run() -> None:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port}", options=[
                ("grpc.max_receive_message_length", 16 << 20)]) as channel:
            stub = pb_grpc.GRPCInferenceServiceStub(channel)

            async def worker(count: int) -> None:
                for _ in range(count):
                    started = time.perf_counter()
                    try:
                        await stub.ModelInfer(request, metadata=metadata)
                        code = 200
                    except grpc.aio.AioRpcError:
                        code = 500
                    latencies.append(time.perf_counter() - started)
                    statuses[code] = statuses.get(code, 0) + 1

            await asyncio.wait_for(asyncio.gather(*(worker(n) for n in shares if n)), timeout)

    cpu, wall = server.cpu_seconds(), time.perf_counter()
    asyncio.run(run())
    wall, cpu = time.perf_counter() - wall, server.cpu_seconds() - cpu
    return Round(requests, wall, cpu, latencies, statuses)


def protocol_comparison(requests: int, rounds: int, concurrency: int, timeout: float) -> int:
    """Server CPU per 1,000-row OIP v2 request: REST JSON, REST binary, gRPC (raw).

    One ``garrison serve --workers 1 --grpc-port`` process (detection off, every other
    guard on) gets, in alternating rounds, ``requests`` requests of each kind over
    ``concurrency`` connections; the figure is the server process's CPU time per request
    (median over rounds), and the ratios are against REST JSON measured in the same run.
    """
    print(load_line())
    # A 1,000-row request costs ~20 single-row ones; at least 10 per round, so that a
    # round spans several clock ticks (10 ms) of server CPU and no ratio divides by 0.
    requests = max(10, requests // 20)
    with tempfile.TemporaryDirectory(prefix="garrison-bench-proto-") as name:
        tmp = Path(name)
        env, headers, demo = prepare(tmp / "home", "off", log_level="warning", hgb=False)
        payloads = _protocol_payloads(demo)
        port, grpc_port = _free_port(), _free_port()
        server = _start("garrison", [sys.executable, "-m", "garrison", "serve", "--workers",
                                     "1", "--host", "127.0.0.1", "--port", str(port),
                                     "--grpc-port", str(grpc_port)],
                        env, port, f"/v2/models/{MODEL}/infer", tmp / "serve.log", headers)
        results: dict[str, list[Round]] = {kind: [] for kind in payloads}
        try:
            _wait_ready(server, "/v2/health/ready", 90)

            def once(kind: str, count: int) -> Round:
                if kind == "grpc":
                    return _drive_grpc(server, grpc_port, payloads[kind], count, concurrency,
                                       timeout)
                body, extra = payloads[kind]
                rest = Server(kind, server.process, port, server.path,
                              {**headers, **extra}, server.log)
                return drive(rest, [body], count, concurrency, timeout)

            for kind in payloads:  # Warm-up.
                warm = once(kind, max(2, requests // 5))
                if set(warm.statuses) != {200}:
                    raise SystemExit(f"{kind} answered {warm.statuses} during warm-up")
            for _ in range(rounds):
                for kind in payloads:
                    result = once(kind, requests)
                    if set(result.statuses) != {200}:
                        raise SystemExit(f"{kind} answered {result.statuses}")
                    results[kind].append(result)
        finally:
            server.stop()
    summaries = [summarize(kind, runs) for kind, runs in results.items()]
    print(f"load: {rounds} rounds x {requests} requests of {BATCH_ROWS:,} rows per protocol, "
          f"{concurrency} connections, one gateway worker, 127.0.0.1")
    print(table(summaries))
    base = summaries[0]
    for summary in summaries[1:]:
        print(f"ratio {summary.name}/rest-json server CPU per request: "
              f"{summary.cpu_us / base.cpu_us:.2f}")
    binary, grpc_ = summaries[1], summaries[2]
    print(f"ratio grpc/rest-binary server CPU per request: {grpc_.cpu_us / binary.cpu_us:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
