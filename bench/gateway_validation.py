"""Cost of the gateway's guard primitives per request and per row.

Run: ``python bench/gateway_validation.py [--strict] [--redis URL]``

Each figure is the best of several timed repeats of process CPU time (the machine
is shared and noisy) and is printed with its ratio to the baseline measured in the same run: a plain
``json.loads`` of the same body, the one cost no gateway can avoid. Goals (checked
with ``--strict``): validating a 20-feature single-row request from raw bytes takes
at most 50 us, and validation + in-memory rate limit + output hardening at most
100 us, the gateway's overhead budget.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import timeit
from collections.abc import Callable
from typing import Any

import numpy as np

from garrison.schema import FeatureSpec, InputSchema
from garrison.serving import InputValidator, LimitPolicy, MemoryRateLimiter, OutputPolicy

D = 20
GOAL_VALIDATE_US = 50.0
GOAL_TOTAL_US = 100.0


def best_us(fn: Callable[[], Any], number: int) -> float:
    """Best per-call CPU time of this process in microseconds over five repeats.

    CPU time rather than wall time: on a shared machine the process is often
    descheduled, which says nothing about the code. The Redis figure is the exception:
    it is mostly waiting, so it is timed on the wall clock.
    """
    return min(timeit.repeat(fn, number=number, repeat=5, timer=time.process_time)) / number * 1e6


def best_wall_us(fn: Callable[[], Any], number: int) -> float:
    return min(timeit.repeat(fn, number=number, repeat=5)) / number * 1e6


def bodies(rows: int, rng: np.random.Generator) -> dict[str, bytes]:
    values = rng.uniform(-50, 50, size=(rows, D)).round(4)
    names = [f"f{i}" for i in range(D)]
    instances = {"instances": [dict(zip(names, r, strict=True)) for r in values.tolist()]}
    matrix = {
        "inputs": [
            {"name": "x", "shape": [rows, D], "datatype": "FP64", "data": values.ravel().tolist()}
        ]
    }
    columns = {
        "inputs": [
            {"name": n, "shape": [rows], "datatype": "FP64", "data": values[:, j].tolist()}
            for j, n in enumerate(names)
        ]
    }
    return {
        "instances": json.dumps(instances).encode(),
        "oip-matrix": json.dumps(matrix).encode(),
        "oip-columns": json.dumps(columns).encode(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strict", action="store_true", help="exit 1 if a goal is missed")
    parser.add_argument("--redis", default=None, help="also time RedisRateLimiter.hit")
    args = parser.parse_args()

    rng = np.random.default_rng(7)
    schema = InputSchema(
        tuple(FeatureSpec(f"f{i}", "float", minimum=-100, maximum=100) for i in range(D))
    )
    validator = InputValidator(schema)
    limiter = MemoryRateLimiter(LimitPolicy(rate=1e9, burst=10**9))
    policy = OutputPolicy("top_k", k=2)
    proba = np.array([[0.1, 0.7, 0.2]])
    classes = np.array(["a", "b", "c"])

    print(f"{'case':<34}{'us/request':>12}{'us/row':>10}{'x json.loads':>14}")
    single = bodies(1, rng)
    validate_single = 0.0
    for shape, body in single.items():
        base = best_us(lambda b=body: json.loads(b), 3_000)
        cost = best_us(lambda b=body: validator.validate_json(b), 3_000)
        if shape == "instances":
            validate_single = cost
        print(f"{'validate_json 1 row ' + shape:<34}{cost:>12.1f}{cost:>10.1f}{cost / base:>14.2f}")
    for rows in (100, 1000):
        for shape, body in bodies(rows, rng).items():
            number = max(5, 3_000 // rows)
            base = best_us(lambda b=body: json.loads(b), number)
            cost = best_us(lambda b=body: validator.validate_json(b), number)
            label = f"validate_json {rows} rows {shape}"
            print(f"{label:<34}{cost:>12.1f}{cost / rows:>10.2f}{cost / base:>14.2f}")

    body = single["instances"]
    base = best_us(lambda: json.loads(body), 3_000)
    hit = best_us(lambda: limiter.hit("principal"), 3_000)
    harden = best_us(lambda: policy.apply(proba, classes).to_predictions(), 3_000)

    def request() -> None:
        validator.validate_json(body)
        limiter.hit("principal").raise_if_denied()
        policy.apply(proba, classes).to_predictions()

    total = best_us(request, 3_000)
    print(f"{'MemoryRateLimiter.hit':<34}{hit:>12.1f}{'':>10}{hit / base:>14.2f}")
    print(f"{'OutputPolicy top_k + render':<34}{harden:>12.1f}{'':>10}{harden / base:>14.2f}")
    print(f"{'all guards, 1 row instances':<34}{total:>12.1f}{total:>10.1f}{total / base:>14.2f}")
    if args.redis:
        from garrison.gateway.limits_redis import RedisRateLimiter

        shared = RedisRateLimiter.from_url(args.redis, LimitPolicy(rate=1e9, burst=10**9))
        redis_hit = best_wall_us(lambda: shared.hit("garrison-bench:principal"), 500)
        label = "RedisRateLimiter.hit (sync, wall)"
        print(f"{label:<34}{redis_hit:>12.1f}{'':>10}{redis_hit / base:>14.2f}")

    missed = []
    if validate_single > GOAL_VALIDATE_US:
        missed.append(f"validate_json 1 row {validate_single:.1f} us > {GOAL_VALIDATE_US} us")
    if total > GOAL_TOTAL_US:
        missed.append(f"all guards {total:.1f} us > {GOAL_TOTAL_US} us")
    for line in missed:
        print(f"GOAL MISSED: {line}")
    if not missed:
        print(f"goals met: validate <= {GOAL_VALIDATE_US} us, all guards <= {GOAL_TOTAL_US} us")
    return 1 if missed and args.strict else 0


if __name__ == "__main__":
    sys.exit(main())
