"""Benchmark: encrypted inference (CKKS) for the breast cancer logistic regression.

Measures, for single mode (one sample per request) and batch mode (4,096 samples per
request): key generation, client encryption, server compute, client decryption, and
request/response sizes, next to the plaintext prediction time measured in the same run
(the machine is shared and noisy, so the ratio is the figure to read).

Server compute is what :meth:`EncryptedScorer.score_single` / ``score_batch`` do end to
end: check and deserialize the ciphertexts, evaluate, serialize the results.

Goals: single-sample server compute under 20 ms; a 4,096-sample batch under 60 ms
(under 15 us per sample). A goal is judged on the best of the timed runs (as ``timeit``
advises: slower runs measure the other processes), and the median wall time and the
process CPU time are printed beside it. ``--strict`` exits 1 when a goal is missed.

    python bench/he.py [--strict] [--json] [--repeats N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from garrison.he import EncryptedScorer, HEClient, HEParams, compile_model

GOAL_SINGLE_MS = 20.0
GOAL_BATCH_MS = 60.0
BATCH = 4096


def _timed(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """Median wall time in milliseconds over ``repeats`` runs, and the last result."""
    stats, result = _stats(fn, repeats)
    return stats["median_ms"], result


def _stats(fn: Callable[[], Any], repeats: int) -> tuple[dict[str, float], Any]:
    """Wall time (median and best) and process CPU time (median) in milliseconds."""
    wall, cpu, result = [], [], None
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = fn()
        wall.append((time.perf_counter() - start) * 1e3)
        cpu.append((time.process_time() - start_cpu) * 1e3)
    return {"median_ms": statistics.median(wall), "best_ms": min(wall),
            "cpu_ms": statistics.median(cpu)}, result


def run(repeats: int) -> dict[str, Any]:
    X, y = load_breast_cancer(return_X_y=True)
    estimator = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000)).fit(X, y)
    model = compile_model(estimator)
    params = HEParams.for_model(model)
    scorer = EncryptedScorer(model, params)
    rng = np.random.default_rng(0)
    X_batch = X[rng.integers(0, len(X), BATCH)]
    out: dict[str, Any] = {"params": {"N": params.poly_modulus_degree,
                                      "coeff_mod_bit_sizes": list(params.coeff_mod_bit_sizes),
                                      "scale_bits": params.scale_bits, "security_bits": 128}}

    # Single mode.
    keygen_ms, client = _timed(lambda: HEClient.generate(params, mode="single"), 1)
    registration = client.registration()
    context_id = scorer.register(registration)
    x = X[0]
    plain_ms, _ = _timed(lambda: estimator.predict(x.reshape(1, -1)), repeats * 5)
    plain_np_ms, _ = _timed(lambda: model.scores(x), repeats * 5)
    encrypt_ms, ciphertext = _timed(lambda: client.encrypt_single(x), repeats)
    server, result = _stats(lambda: scorer.score_single(context_id, ciphertext), repeats)
    server_ms = server["median_ms"]
    decrypt_ms, scores = _timed(lambda: client.decrypt_scores([result], mode="single"), repeats)
    request_json = client.request_single(x).to_json()
    response_json = scorer.handle_json(request_json)
    out["single"] = {
        "keygen_ms": keygen_ms, "public_context_bytes": len(registration.context),
        "encrypt_ms": encrypt_ms, "server_ms": server_ms, "server_best_ms": server["best_ms"],
        "server_cpu_ms": server["cpu_ms"], "decrypt_ms": decrypt_ms,
        "request_bytes": len(ciphertext), "response_bytes": len(result),
        "request_json_bytes": len(request_json), "response_json_bytes": len(response_json),
        "plaintext_predict_ms": plain_ms, "plaintext_numpy_ms": plain_np_ms,
        "ratio_server_vs_plaintext": server_ms / plain_ms,
        "max_abs_error": float(np.abs(scores - model.scores(x)).max()),
        "goal_ms": GOAL_SINGLE_MS, "goal_met": server["best_ms"] < GOAL_SINGLE_MS,
    }

    # Batch mode (a context without Galois keys).
    keygen_ms, client = _timed(lambda: HEClient.generate(params, mode="batch"), 1)
    registration = client.registration()
    context_id = scorer.register(registration)
    batch_repeats = max(3, repeats // 4)
    plain_ms, _ = _timed(lambda: estimator.predict(X_batch), batch_repeats * 3)
    encrypt_ms, ciphertexts = _timed(lambda: client.encrypt_batch(X_batch), batch_repeats)
    server, results = _stats(lambda: scorer.score_batch(context_id, ciphertexts), batch_repeats)
    server_ms = server["median_ms"]
    decrypt_ms, scores = _timed(
        lambda: client.decrypt_scores(results, mode="batch", n_samples=BATCH), batch_repeats)
    out["batch"] = {
        "samples": BATCH, "keygen_ms": keygen_ms,
        "public_context_bytes": len(registration.context),
        "encrypt_ms": encrypt_ms, "server_ms": server_ms, "server_best_ms": server["best_ms"],
        "server_cpu_ms": server["cpu_ms"], "decrypt_ms": decrypt_ms,
        "server_us_per_sample": server["best_ms"] * 1e3 / BATCH,
        "request_bytes": sum(map(len, ciphertexts)), "response_bytes": sum(map(len, results)),
        "plaintext_predict_ms": plain_ms, "ratio_server_vs_plaintext": server_ms / plain_ms,
        "max_abs_error": float(np.abs(scores - model.scores(X_batch)).max()),
        "same_predictions": params.predict(scores) == list(estimator.predict(X_batch)),
        "goal_ms": GOAL_BATCH_MS, "goal_met": server["best_ms"] < GOAL_BATCH_MS,
    }
    return out


def _print(report: dict[str, Any]) -> None:
    p = report["params"]
    print(f"CKKS N={p['N']}, coefficient moduli {p['coeff_mod_bit_sizes']} bits, "
          f"scale 2^{p['scale_bits']}, {p['security_bits']}-bit security")
    for mode in ("single", "batch"):
        r = report[mode]
        label = "single (1 sample)" if mode == "single" else f"batch ({r['samples']:,} samples)"
        print(f"\n{label}")
        print(f"  key generation       {r['keygen_ms']:9.1f} ms   "
              f"public context {r['public_context_bytes'] / 1e6:6.2f} MB")
        print(f"  client encrypt       {r['encrypt_ms']:9.2f} ms   "
              f"request  {r['request_bytes'] / 1e3:9.1f} kB")
        print(f"  server compute       {r['server_ms']:9.2f} ms   "
              f"response {r['response_bytes'] / 1e3:9.1f} kB   (median wall)")
        print(f"  server compute best  {r['server_best_ms']:9.2f} ms   "
              f"cpu {r['server_cpu_ms']:.2f} ms   "
              f"goal < {r['goal_ms']:.0f} ms: {'met' if r['goal_met'] else 'MISSED'}")
        if mode == "batch":
            print(f"  server per sample    {r['server_us_per_sample']:9.2f} us (best)")
        print(f"  client decrypt       {r['decrypt_ms']:9.2f} ms")
        print(f"  plaintext predict    {r['plaintext_predict_ms']:9.3f} ms   "
              f"(sklearn predict, same run)")
        print(f"  ratio server/plain   {r['ratio_server_vs_plaintext']:9.1f} x")
        print(f"  max |score error|    {r['max_abs_error']:9.2e}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strict", action="store_true", help="exit 1 if a goal is missed")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--repeats", type=int, default=20, help="timed runs per figure")
    args = parser.parse_args(argv)
    report = run(args.repeats)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        _print(report)
    missed = [m for m in ("single", "batch") if not report[m]["goal_met"]]
    if missed and args.strict:
        print(f"\ngoal missed: {', '.join(missed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
