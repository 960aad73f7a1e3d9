"""Run a gate evaluation in a child process, under a deadline and a memory limit.

:class:`SubprocessGateRunner` sends one request to ``python -m garrison.gates.sandbox``
on its standard input: the verified artifact bytes of the candidate (and of the
production version), the holdout and training data files (already checked against
their registered digests) and the policy. The child limits its own address space
(``RLIMIT_AS``) before it imports anything heavy, loads the artifacts with the
registry's guarded loaders, runs :func:`garrison.gates.evaluate.evaluate` and writes
one JSON result to its standard output. Progress lines go to its standard error,
which the parent reads as it runs and hands to a ``progress`` callback.

A model that hangs, crashes the interpreter or exhausts memory takes the child down,
never the caller; the deadline kills it. Nothing is written to disk: the data travel
through a pipe and the child runs in an empty working directory, with an environment
stripped of everything but what an interpreter needs (no setting, no secret).
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import IO, Any

__all__ = ["PROGRESS_MARK", "GateRequest", "GateRunOutcome", "SubprocessGateRunner",
           "decode_request", "encode_request"]

_MAGIC = b"garrison-gate/1\n"
#: Standard-error lines of the child that carry progress (the rest is kept for errors).
PROGRESS_MARK = "\x1egarrison-gate-progress "
_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
#: The environment variables the child inherits; everything else is left behind.
_PASSED = frozenset({"PATH", "PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "LANG", "LC_ALL",
                     "LC_CTYPE", "TZ", "TMPDIR", "HOME", "SYSTEMROOT", "LD_LIBRARY_PATH"})

Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class DataBlob:
    """A data file's bytes and its format (``csv`` or ``parquet``)."""

    format: str
    data: bytes


@dataclass(frozen=True)
class GateRequest:
    """One evaluation: the policy (as its mapping, label resolved), the candidate's and
    production's artifacts with their formats and input feature names, and the data."""

    policy: dict[str, Any]
    candidate: bytes
    candidate_format: str
    candidate_features: tuple[str, ...]
    holdout: DataBlob
    production: bytes | None = None
    production_format: str = ""
    production_features: tuple[str, ...] = ()
    training: tuple[DataBlob, ...] = ()
    policy_extension: tuple[str, ...] = ()
    seed: int = 0


@dataclass(frozen=True)
class GateRunOutcome:
    """The child's answer: ``result`` (a ``GateResult`` mapping) or ``problem``."""

    result: dict[str, Any] | None
    problem: str = ""
    seconds: float = 0.0
    stages: tuple[str, ...] = field(default_factory=tuple)


def encode_request(request: GateRequest) -> bytes:
    blobs = [request.candidate, request.production or b"", request.holdout.data,
             *(t.data for t in request.training)]
    header = json.dumps({
        "policy": request.policy, "candidate_format": request.candidate_format,
        "candidate_features": list(request.candidate_features),
        "production": request.production is not None,
        "production_format": request.production_format,
        "production_features": list(request.production_features),
        "holdout_format": request.holdout.format,
        "training_formats": [t.format for t in request.training],
        "policy_extension": list(request.policy_extension), "seed": request.seed,
        "sizes": [len(b) for b in blobs],
    }, sort_keys=True).encode("utf-8")
    return b"".join((_MAGIC, len(header).to_bytes(8, "big"), header, *blobs))


def decode_request(data: bytes) -> GateRequest:
    if not data.startswith(_MAGIC):
        raise ValueError("not a garrison gate request")
    at = len(_MAGIC)
    size = int.from_bytes(data[at:at + 8], "big")
    header = json.loads(data[at + 8:at + 8 + size])
    at += 8 + size
    blobs = []
    for length in header["sizes"]:
        blobs.append(data[at:at + length])
        at += length
    training = tuple(DataBlob(fmt, blob) for fmt, blob in
                     zip(header["training_formats"], blobs[3:], strict=True))
    return GateRequest(
        policy=header["policy"], candidate=blobs[0],
        candidate_format=header["candidate_format"],
        candidate_features=tuple(header["candidate_features"]),
        holdout=DataBlob(header["holdout_format"], blobs[2]),
        production=blobs[1] if header["production"] else None,
        production_format=header["production_format"],
        production_features=tuple(header["production_features"]),
        training=training, policy_extension=tuple(header["policy_extension"]),
        seed=int(header["seed"]))


class SubprocessGateRunner:
    """Runs each evaluation in a fresh interpreter under ``timeout`` seconds and
    ``memory_mb`` MiB of address space."""

    def __init__(self, timeout: float, memory_mb: int, *, python: str | None = None) -> None:
        self.timeout = timeout
        self.memory_mb = memory_mb
        self._python = python or sys.executable

    def run(self, request: GateRequest, progress: Progress | None = None) -> GateRunOutcome:
        # Only what an interpreter needs: never the server's settings or secrets
        # (database URL, keys), which a model under evaluation has no business reading.
        env = {name: value for name, value in os.environ.items() if name in _PASSED}
        env.update({name: "1" for name in _THREAD_VARIABLES})
        payload = encode_request(request)
        started = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="garrison-gate-") as empty:
            try:
                child = subprocess.Popen(  # noqa: S603 - our own module, no shell, no user input
                    [self._python, "-m", "garrison.gates.sandbox",
                     str(self.memory_mb * 1024 * 1024)],
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                    cwd=empty, env=env)
            except OSError as exc:
                return GateRunOutcome(None, f"the gate process could not start "
                                      f"({type(exc).__name__})")
            return self._wait(child, payload, started, progress)

    def _wait(self, child: subprocess.Popen[bytes], payload: bytes, started: float,
              progress: Progress | None) -> GateRunOutcome:
        lines: queue.Queue[str | None] = queue.Queue()
        out: list[bytes] = []
        assert child.stdin is not None and child.stdout is not None
        assert child.stderr is not None
        threads = [threading.Thread(target=_feed, args=(child.stdin, payload), daemon=True),
                   threading.Thread(target=lambda: out.append(child.stdout.read()),  # type: ignore[union-attr]
                                    daemon=True),
                   threading.Thread(target=_lines, args=(child.stderr, lines), daemon=True)]
        for thread in threads:
            thread.start()
        deadline = started + self.timeout
        errors: list[str] = []
        stages: list[str] = []
        finished = False
        late = GateRunOutcome(None, f"the gate run did not finish within the "
                              f"{self.timeout:g} s deadline (GARRISON_GATE_TIMEOUT)")
        while not finished:
            left = deadline - time.perf_counter()
            if left <= 0:
                child.kill()
                child.wait()
                return replace(late, seconds=time.perf_counter() - started,
                               stages=tuple(stages))
            try:
                line = lines.get(timeout=min(left, 0.5))
            except queue.Empty:
                continue
            if line is None:
                finished = True
            elif line.startswith(PROGRESS_MARK):
                fraction, stage = _progress(line)
                stages.append(stage)
                if progress is not None:
                    progress(fraction, stage)
            elif line.strip():
                errors.append(line.strip())
        try:  # Standard error closed; the child may still run (it closed it itself).
            code = child.wait(timeout=max(deadline - time.perf_counter(), 0.1))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
            return replace(late, seconds=time.perf_counter() - started, stages=tuple(stages))
        threads[1].join(timeout=5.0)
        seconds = time.perf_counter() - started
        if code == 0 and out:
            try:
                answer = json.loads(out[0])
            except ValueError:
                answer = None
            if isinstance(answer, dict):
                result = answer.get("result")
                return GateRunOutcome(result if isinstance(result, dict) else None,
                                      str(answer.get("problem") or ""), seconds,
                                      tuple(stages))
        return GateRunOutcome(None, _crash(code, errors), seconds, tuple(stages))


def _feed(stream: IO[bytes], payload: bytes) -> None:
    try:
        stream.write(payload)
        stream.close()
    except OSError:  # The child died before reading everything: its exit says why.
        pass


def _lines(stream: IO[bytes], sink: queue.Queue[str | None]) -> None:
    for raw in stream:
        sink.put(raw.decode("utf-8", "replace").rstrip("\n"))
    sink.put(None)


def _progress(line: str) -> tuple[float, str]:
    try:
        data = json.loads(line[len(PROGRESS_MARK):])
        return min(max(float(data["fraction"]), 0.0), 1.0), str(data["stage"])[:80]
    except (ValueError, KeyError, TypeError):
        return 0.0, "working"


def _crash(code: int, errors: list[str]) -> str:
    if code < 0:
        return f"the model crashed the gate process (signal {-code})"
    last = errors[-1][:300] if errors else "no output"
    if "MemoryError" in last:
        return "the gate process ran out of memory (GARRISON_GATE_MEMORY_MB)"
    return f"the gate process failed (exit {code}): {last}"


def main() -> None:  # pragma: no cover - runs in the child; tested through the runner
    """The child: limit memory, read one request on stdin, write one JSON answer."""
    if len(sys.argv) > 1:
        import resource

        limit = int(sys.argv[1])
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    import warnings

    # Models and libraries may print: keep the real stdout for the answer.
    answer_to = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    warnings.simplefilter("ignore")
    from garrison.gates._sandbox_child import run_request

    request = decode_request(sys.stdin.buffer.read())
    answer = run_request(request)
    answer_to.write(json.dumps(answer, sort_keys=True))
    answer_to.flush()


if __name__ == "__main__":  # pragma: no cover
    main()
