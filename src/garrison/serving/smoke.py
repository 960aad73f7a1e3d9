"""The servability smoke test: load a verified artifact and predict, in a child process.

:class:`SubprocessProbe` (the registry's :class:`~garrison.registry.servability.ServabilityProbe`,
wired in ``garrison.app``) sends one request to ``python -m garrison.serving.smoke`` on
its standard input and reads one JSON report from its standard output. The child loads
the artifact with the registry's guarded loaders, compares what the model expects with
the input schema, validates the reference rows (or rows made from the schema) with the
gateway's own validator and predicts them through the gateway's own runtime. A model
that hangs, crashes the interpreter or exhausts memory takes the child down, never the
caller; the deadline kills it.

Nothing is written to disk: the artifact and the sample travel through a pipe, and the
child runs in an empty working directory.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import OrderedDict
from dataclasses import replace

from garrison.registry.servability import (
    ServabilityReport,
    ServabilityRequest,
)
from garrison.schema import InputSchema

__all__ = ["MAX_ROWS", "SubprocessProbe", "decode_request", "encode_request"]

#: Rows of the reference sample the smoke test predicts.
MAX_ROWS = 64
_MAGIC = b"garrison-smoke/1\n"
_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def encode_request(request: ServabilityRequest) -> bytes:
    """The wire form: magic, header length, JSON header, artifact bytes, sample bytes."""
    header = json.dumps({
        "ref": request.ref, "purpose": request.purpose, "format": request.format,
        "file_name": request.file_name, "schema": request.schema.to_dict(),
        "derived": request.derived, "suspects": request.suspects,
        "policy_extension": list(request.policy_extension),
        "artifact": len(request.artifact),
        "sample": -1 if request.sample is None else len(request.sample),
    }, sort_keys=True).encode("utf-8")
    return b"".join((_MAGIC, len(header).to_bytes(8, "big"), header, request.artifact,
                     request.sample or b""))


def decode_request(data: bytes) -> ServabilityRequest:
    if not data.startswith(_MAGIC):
        raise ValueError("not a garrison smoke-test request")
    at = len(_MAGIC)
    size = int.from_bytes(data[at:at + 8], "big")
    header = json.loads(data[at + 8:at + 8 + size])
    body = at + 8 + size
    artifact = data[body:body + header["artifact"]]
    sample = None if header["sample"] < 0 else data[body + header["artifact"]:
                                                    body + header["artifact"] + header["sample"]]
    return ServabilityRequest(
        ref=header["ref"], purpose=header["purpose"], format=header["format"],
        file_name=header["file_name"], artifact=artifact,
        schema=InputSchema.from_dict(header["schema"]), sample=sample,
        derived=bool(header["derived"]), suspects=dict(header["suspects"]),
        policy_extension=tuple(header["policy_extension"]),
    )


def _outcome_key(request: ServabilityRequest, *, derived: bool,
                 suspects: dict[str, str]) -> str:
    """What decides the outcome: format, file extension, schema, policy and the exact
    bytes. The purpose and the version's name travel along but change nothing."""
    return hashlib.sha256(json.dumps([
        request.format, request.file_name.rsplit(".", 1)[-1], request.schema.to_dict(),
        derived, suspects, list(request.policy_extension),
        hashlib.sha256(request.artifact).hexdigest(),
        hashlib.sha256(request.sample or b"").hexdigest(),
    ], sort_keys=True).encode()).hexdigest()


class SubprocessProbe:
    """Runs each smoke test in a fresh interpreter under a deadline.

    Outcomes are remembered in this process per exact request (artifact, sample, schema,
    format, policy): the same bytes give the same answer in the same installation, so a
    version registered, approved and promoted by one process (the admin API) is loaded
    once. A passed registration check also stands for the transitions' check of the same
    bytes and schema. A deadline or a crash of the child is not remembered; the next
    transition tries again.
    """

    _outcomes: OrderedDict[str, ServabilityReport] = OrderedDict()
    _lock = threading.Lock()
    remember = 256

    def __init__(self, timeout: float, *, python: str | None = None) -> None:
        self.timeout = timeout
        self._python = python or sys.executable

    def probe(self, request: ServabilityRequest) -> ServabilityReport:
        key = _outcome_key(request, derived=request.derived, suspects=request.suspects)
        with self._lock:
            known = self._outcomes.get(key)
            if known is not None:
                self._outcomes.move_to_end(key)
                return replace(known, cached=True)
        report, deterministic = self._run(encode_request(request))
        if deterministic:
            keys = [key]
            if report.ok and tuple(report.order) == tuple(request.schema.names):
                # What the transitions will ask about the same bytes: no reordering allowed,
                # no row-id suspects (those only add refusals), and it passed with both.
                keys.append(_outcome_key(request, derived=False, suspects={}))
            with self._lock:
                for known_key in keys:
                    self._outcomes[known_key] = report
                while len(self._outcomes) > self.remember:
                    self._outcomes.popitem(last=False)
        return report

    def _run(self, payload: bytes) -> tuple[ServabilityReport, bool]:
        env = {**os.environ, **{name: "1" for name in _THREAD_VARIABLES}}
        env.pop("GARRISON_DEBUG", None)
        started = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="garrison-smoke-") as empty:
            try:
                done = subprocess.run(  # noqa: S603 - our own module, no shell, no user input
                    [self._python, "-m", "garrison.serving.smoke"], input=payload,
                    capture_output=True, timeout=self.timeout, cwd=empty, env=env,
                    check=False)
            except subprocess.TimeoutExpired:
                return ServabilityReport(problems=(
                    f"the model did not load and predict within the {self.timeout:g} s "
                    "deadline (GARRISON_SMOKE_TEST_TIMEOUT)",),
                    seconds=time.perf_counter() - started), False
            except OSError as exc:
                return ServabilityReport(problems=(
                    f"the smoke-test process could not start ({type(exc).__name__})",),
                ), False
        seconds = time.perf_counter() - started
        if done.returncode == 0:
            try:
                report = ServabilityReport.from_dict(json.loads(done.stdout))
            except (ValueError, TypeError, AttributeError):
                pass
            else:
                return replace(report, seconds=seconds), True
        return ServabilityReport(problems=(_crash(done.returncode, done.stderr),),
                                 seconds=seconds), False


def _crash(code: int, stderr: bytes) -> str:
    if code < 0:
        return f"the model crashed the smoke-test process (signal {-code})"
    lines = [line for line in stderr.decode("utf-8", "replace").splitlines() if line.strip()]
    last = lines[-1].strip()[:300] if lines else "no output"
    return f"the smoke-test process failed (exit {code}): {last}"


def main() -> None:  # pragma: no cover - runs in the child; tested through SubprocessProbe
    """The child: one request on stdin, one JSON report on stdout."""
    import warnings

    # Models and their libraries may print while loading: keep the real stdout for the
    # report and send everything else to stderr.
    report_to = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    warnings.simplefilter("ignore")
    from garrison.serving._smoke_child import run_smoke

    request = decode_request(sys.stdin.buffer.read())
    report = run_smoke(request)
    report_to.write(json.dumps(report.to_dict(), sort_keys=True))
    report_to.flush()


if __name__ == "__main__":  # pragma: no cover
    main()
