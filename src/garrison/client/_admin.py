"""The Python SDK of the admin API: ``GarrisonClient(base_url, api_key)``.

Every method mirrors one endpoint (see ``docs/admin-api.md``) and returns a frozen
dataclass. An error answer is raised as the :mod:`garrison.errors` class named by its
code (``FourEyesViolation``, ``ArtifactRefused``, ``AuditChainBroken`` ...), with the
HTTP status and the request id in ``detail``; a code this release does not know, and a
server that cannot be reached, raise the base :class:`~garrison.errors.GarrisonError`.

::

    with GarrisonClient("https://garrison.internal:8081", os.environ["GARRISON_API_KEY"]) as c:
        v = c.register("fraud", "model.skops", metadata={"framework": "scikit-learn"})
        c.approve("fraud", v.version, reason="reviewed")   # by someone else: four eyes
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import IO, Any, TypeVar

import httpx

from garrison import __version__
from garrison.client._errors import error_from_response
from garrison.client._gates import GateMethods
from garrison.errors import DigestMismatch, GarrisonError, InvalidInput
from garrison.types import validate_model_name

__all__ = [
    "AuditEvent",
    "AuditPage",
    "AuditVerifyResult",
    "GarrisonClient",
    "StageChange",
    "VerifyResult",
    "VersionDetail",
    "VersionInfo",
]

T = TypeVar("T")
#: What an upload part may be: a path, bytes or an open binary file.
Source = str | os.PathLike[str] | bytes | IO[bytes]
#: Registration scans, signs and encrypts before answering: allow it this long at least.
UPLOAD_READ_TIMEOUT = 300.0
_CHUNK = 1 << 16


def _build(cls: type[T], data: Any) -> T:
    """Build a dataclass from a JSON object, ignoring fields a newer server adds."""
    try:
        return cls(**{f.name: data[f.name] for f in fields(cls)})  # type: ignore[arg-type]
    except (KeyError, TypeError) as exc:
        raise GarrisonError(f"unexpected answer from the server ({cls.__name__})") from exc


@dataclass(frozen=True)
class VersionInfo:
    """A model version (``ModelVersionOut`` in the OpenAPI document)."""

    name: str
    version: int
    stage: str
    format: str
    framework: str
    digest: str
    size: int
    registrant: str
    created: str
    stage_changed: str
    metadata: dict[str, Any]
    scan: dict[str, Any]

    @property
    def ref(self) -> str:
        return f"{self.name}:{self.version}"


@dataclass(frozen=True)
class StageChange:
    """One stage transition of a version (``TransitionOut``)."""

    name: str
    version: int
    from_stage: str
    to_stage: str
    actor: str
    reason: str
    created: str


@dataclass(frozen=True)
class VersionDetail(VersionInfo):
    """A version with its signed manifest, scan report and history (``ModelVersionDetail``)."""

    manifest: dict[str, Any]
    scan_report: dict[str, Any]
    history: tuple[StageChange, ...]


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    name: str
    version: int
    sha256: str
    signed_by: tuple[str | None, ...]
    model_signed_by: str | None


@dataclass(frozen=True)
class AuditEvent:
    seq: int
    event_id: str
    created: str
    actor: str
    action: str
    resource: str
    outcome: str
    reason: str
    request_id: str
    payload: dict[str, Any]
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class AuditPage:
    events: tuple[AuditEvent, ...]
    next_after_seq: int | None


@dataclass(frozen=True)
class AuditVerifyResult:
    ok: bool
    events: int
    head_seq: int
    head_hash: str
    checkpoints_checked: int
    #: Acknowledged audit incidents (quarantined records), as the server reports them.
    incidents: tuple[dict[str, Any], ...]


def _version(version: int) -> int:
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise InvalidInput("the version must be a positive integer")
    return version


class GarrisonClient(GateMethods):
    """A synchronous client of one Garrison admin API, acting with one API key.

    ``transport`` is any httpx transport (tests pass an in-process one). Redirects are
    never followed, so the key is only ever sent to ``base_url``.
    """

    def __init__(
        self, base_url: str, api_key: str, *, timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not api_key or not api_key.strip():
            raise InvalidInput("an API key is required")
        self.base_url = base_url.rstrip("/")
        self._timeout = timeout
        self._http = httpx.Client(
            base_url=self.base_url, timeout=timeout, transport=transport,
            follow_redirects=False,
            headers={"Authorization": f"Bearer {api_key.strip()}", "Accept": "application/json",
                     "User-Agent": f"garrison-client/{__version__}"},
        )

    def __repr__(self) -> str:
        return f"GarrisonClient({self.base_url!r})"

    def __enter__(self) -> GarrisonClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- transport --------------------------------------------------------------------
    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            raise GarrisonError("the Garrison server did not answer in time") from exc
        except httpx.HTTPError as exc:
            raise GarrisonError(
                f"could not reach the Garrison server ({type(exc).__name__})") from exc
        if response.status_code >= 400:
            raise error_from_response(response)
        return response

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._send(method, path, **kwargs)
        try:
            return response.json()
        except ValueError as exc:
            raise GarrisonError("the server's answer is not JSON") from exc

    @staticmethod
    def _model(name: str, version: int | None = None) -> str:
        base = f"/admin/models/{validate_model_name(name)}"
        return base if version is None else f"{base}/versions/{_version(version)}"

    # -- endpoints --------------------------------------------------------------------
    def health(self) -> bool:
        """True when the server answers its liveness check."""
        return bool(self._json("GET", "/admin/health").get("status") == "ok")

    def list_versions(self, name: str | None = None) -> list[VersionInfo]:
        params = {"name": validate_model_name(name)} if name is not None else None
        body = self._json("GET", "/admin/models", params=params)
        return [_build(VersionInfo, v) for v in body["versions"]]

    def show(self, name: str, version: int) -> VersionDetail:
        body = dict(self._json("GET", self._model(name, version)))
        body["history"] = tuple(_build(StageChange, t) for t in body.get("history", []))
        return _build(VersionDetail, body)

    def register(
        self, name: str, artifact: Source, *, metadata: Mapping[str, Any] | None = None,
        filename: str | None = None, reference: Source | None = None,
        reference_filename: str | None = None, signature: Source | None = None,
    ) -> VersionInfo:
        """Upload ``artifact`` (a path, bytes or a binary file) as the next version.

        ``filename`` (default: the path's name) is a format hint for the scanner.
        ``reference`` is the reference (training) data, CSV or Parquet (say which with
        ``reference_filename`` when it is not a path): it gives the version its input
        schema, profile and the sealed sample the gateway's detectors need, so a version
        registered without one (and without an ``input_schema``) cannot be served.
        ``signature`` is an OpenSSF model-signing bundle (``model.sig``) made by a signer
        the server trusts; it is verified before anything is stored.
        Raises ``ArtifactRefused`` when the scanner does not call it safe, and
        ``InvalidSignature`` when the signature does not verify.
        """
        path = self._model(name) + "/versions"
        data = {"metadata": json.dumps(dict(metadata))} if metadata is not None else None
        timeout = httpx.Timeout(self._timeout, read=max(self._timeout, UPLOAD_READ_TIMEOUT))
        with contextlib.ExitStack() as stack:
            files = {"file": _part(stack, artifact, filename, "artifact")}
            if reference is not None:
                files["reference"] = _part(stack, reference, reference_filename,
                                           "reference.csv")
            if signature is not None:
                files["signature"] = _part(stack, signature, None, "model.sig")
            return _build(VersionInfo, self._json("POST", path, files=files, data=data,
                                                  timeout=timeout))

    def _lifecycle(self, action: str, name: str, version: int, body: dict[str, Any]) -> VersionInfo:
        return _build(VersionInfo, self._json("POST", f"{self._model(name, version)}/{action}",
                                              json=body))

    def approve(self, name: str, version: int, reason: str = "") -> VersionInfo:
        """Approve (approver role, never the registrant: ``FourEyesViolation``)."""
        return self._lifecycle("approve", name, version, {"reason": reason})

    def reject(self, name: str, version: int, reason: str = "") -> VersionInfo:
        return self._lifecycle("reject", name, version, {"reason": reason})

    def retire(self, name: str, version: int, reason: str = "") -> VersionInfo:
        return self._lifecycle("retire", name, version, {"reason": reason})

    def promote(self, name: str, version: int, *, stage: str = "production",
                reason: str = "") -> VersionInfo:
        return self._lifecycle("promote", name, version, {"reason": reason, "stage": stage})

    def rollback(self, name: str, reason: str = "") -> VersionInfo:
        """Restore the previous production version; returns it."""
        return _build(VersionInfo, self._json("POST", f"{self._model(name)}/rollback",
                                              json={"reason": reason}))

    def verify(self, name: str, version: int) -> VerifyResult:
        body = dict(self._json("POST", f"{self._model(name, version)}/verify"))
        body["signed_by"] = tuple(body.get("signed_by", []))
        body.setdefault("model_signed_by", None)
        return _build(VerifyResult, body)

    def download(self, name: str, version: int) -> bytes:
        """The verified artifact bytes; raises ``DigestMismatch`` if they arrive altered."""
        response = self._send("GET", f"{self._model(name, version)}/artifact")
        _check_digest(hashlib.sha256(response.content).hexdigest(), response)
        return response.content

    def download_to(self, name: str, version: int, out: str | os.PathLike[str]) -> int:
        """Stream the artifact to ``out`` (mode 0600, replaced only once verified)."""
        target = Path(out)
        partial = target.with_name(f".{target.name}.partial")
        digest, size = hashlib.sha256(), 0
        try:
            with self._http.stream("GET", f"{self._model(name, version)}/artifact") as response:
                if response.status_code >= 400:
                    response.read()
                    raise error_from_response(response)
                fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "wb") as fh:
                    for chunk in response.iter_bytes(_CHUNK):
                        digest.update(chunk)
                        size += len(chunk)
                        fh.write(chunk)
                _check_digest(digest.hexdigest(), response)
            os.replace(partial, target)
        except httpx.HTTPError as exc:
            raise GarrisonError(f"the download failed ({type(exc).__name__})") from exc
        finally:
            partial.unlink(missing_ok=True)
        return size

    def audit_events(
        self, *, actor: str | None = None, action: str | None = None,
        outcome: str | None = None, resource: str | None = None, request_id: str | None = None,
        since: str | None = None, until: str | None = None, after_seq: int = 0, limit: int = 100,
    ) -> AuditPage:
        """One page of audit events, oldest first (pass ``next_after_seq`` on)."""
        params = {k: v for k, v in {
            "actor": actor, "action": action, "outcome": outcome, "resource": resource,
            "request_id": request_id, "since": since, "until": until,
        }.items() if v is not None}
        params.update(after_seq=str(after_seq), limit=str(limit))
        body = self._json("GET", "/admin/audit/events", params=params)
        return AuditPage(events=tuple(_build(AuditEvent, e) for e in body["events"]),
                         next_after_seq=body.get("next_after_seq"))

    def bom(self, name: str, version: int) -> dict[str, Any]:
        """The version's CycloneDX ML-BOM (checked by the server against its signed manifest)."""
        return dict(self._json("GET", f"{self._model(name, version)}/bom"))

    def model_signature(self, name: str, version: int) -> bytes:
        """Garrison's OpenSSF model-signing bundle over the artifact (save it as ``.sig``)."""
        return self._send("GET", f"{self._model(name, version)}/signature").content

    def model_signing_key(self) -> bytes:
        """The PEM public key that verifies Garrison's OpenSSF model signatures."""
        return self._send("GET", "/admin/signing/model-key").content

    def verify_audit(self) -> AuditVerifyResult:
        """Verify the audit chain; raises ``AuditChainBroken`` (position, reason) if broken."""
        body = dict(self._json("POST", "/admin/audit/verify"))
        body["incidents"] = tuple(body.get("incidents") or ())
        return _build(AuditVerifyResult, body)


def _part(stack: contextlib.ExitStack, source: Source, filename: str | None,
          default: str) -> tuple[str, IO[bytes], str]:
    """One multipart file part; a path is opened on ``stack`` and named after itself."""
    if isinstance(source, bytes | bytearray | memoryview):
        return filename or default, io.BytesIO(bytes(source)), "application/octet-stream"
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        return (filename or path.name, stack.enter_context(open(path, "rb")),
                "application/octet-stream")
    return filename or default, source, "application/octet-stream"


def _check_digest(actual: str, response: httpx.Response) -> None:
    expected = response.headers.get("x-garrison-sha256")
    if expected is not None and actual != expected:
        raise DigestMismatch("the downloaded artifact does not match its signed digest")
