"""Model registry endpoints: list, show, register (upload), lifecycle, verify, download.

Handlers parse, call the registry service in the thread pool and render. The
service authorizes and audits every call; the handlers add nothing to the policy.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from garrison.registry import BOM_MEDIA_TYPE, ModelVersion, Transition
from garrison.registry.scratch import make_scratch
from garrison.signing import BUNDLE_MEDIA_TYPE
from garrison.web._http import (
    begin,
    path_name,
    path_version,
    read_json,
    read_query,
    reply,
)
from garrison.web._upload import receive_upload
from garrison.web.middleware import set_body_limit
from garrison.web.openapi import Operation
from garrison.web.schemas import (
    ModelListQuery,
    ModelVersionDetail,
    ModelVersionList,
    ModelVersionOut,
    PromoteBody,
    ReasonBody,
    VerifyOut,
)

__all__ = ["OPERATIONS"]

_BASE = "/admin/models"
_VERSION = _BASE + "/{name}/versions/{version}"


def _out(v: ModelVersion) -> ModelVersionOut:
    return ModelVersionOut.model_validate(v.to_dict())


async def list_versions(request: Request) -> Response:
    """Versions of every model, or of `name` only, oldest first."""
    call = await begin(request)
    # ModelListQuery enforces MODEL_NAME_PATTERN on `name` (pydantic's Rust regex: no
    # trailing-newline leniency), so the name needs no second check here.
    query = read_query(request, ModelListQuery)
    versions = await run_in_threadpool(call.services.registry.list_versions, call.principal,
                                       query.name)
    return reply(ModelVersionList(versions=[_out(v) for v in versions]))


async def show_version(request: Request) -> Response:
    """One version with its signed manifest, full scan report and stage history."""
    call = await begin(request)
    name, version = path_name(request), path_version(request)
    registry = call.services.registry

    def load() -> dict[str, Any]:
        v = registry.show(call.principal, name, version)
        # RegistryService.list shadows the builtin in its own annotations, hence Iterable.
        transitions: Iterable[Transition] = registry.history(call.principal, name)
        history = [t.to_dict() for t in transitions if t.version == version]
        return {**v.to_dict(manifest=True), "history": history}

    return reply(ModelVersionDetail.model_validate(await run_in_threadpool(load)))


async def register_version(request: Request) -> Response:
    """Upload an artifact: it is scanned, signed, encrypted and registered as the next
    version. An artifact the scanner does not call safe is refused with 422 and nothing
    is stored. Send the bytes as `application/octet-stream` (metadata JSON in the
    `X-Garrison-Metadata` header) or as `multipart/form-data` (`file`, and optionally
    `metadata`, `reference` data and an OpenSSF `signature`). A signature that does not
    verify against a trusted signer gets 409 `invalid-signature`."""
    call = await begin(request)
    name = path_name(request)
    config = call.config
    # Refuse (and audit) a principal who may not register before accepting gigabytes.
    await run_in_threadpool(call.services.guard.require, call.principal,
                            "register-model-version", f"model:{name}",
                            request_id=call.request_id)
    set_body_limit(request, config.max_upload_bytes)
    workdir = await run_in_threadpool(_private_dir, config.upload_dir)
    try:
        upload = await receive_upload(request, workdir, cap=config.max_upload_bytes,
                                      meta_cap=config.max_body_bytes)
        v = await run_in_threadpool(
            lambda: call.services.registry.register(
                call.principal, name, upload.path, upload.metadata, reference=upload.reference,
                signature=upload.signature, request_id=call.request_id))
    finally:
        # Synchronous on purpose: unlinking is quick, and it must run even when the
        # request task is being cancelled (client gone, server shutting down).
        shutil.rmtree(workdir, ignore_errors=True)
    location = f"{_BASE}/{v.name}/versions/{v.version}"
    return reply(_out(v), status=201, headers={"Location": location})


def _private_dir(root: Path) -> Path:
    """A scratch directory of this process under ``root`` (0700); those of processes
    killed mid-upload are swept first, so no plaintext model outlives a crash for long."""
    return make_scratch("upload", root)


def _lifecycle(method: str, doc: str) -> Any:
    async def handler(request: Request) -> Response:
        call = await begin(request)
        name, version = path_name(request), path_version(request)
        body = await read_json(request, ReasonBody)
        v = await run_in_threadpool(getattr(call.services.registry, method), call.principal,
                                    name, version, body.reason, request_id=call.request_id)
        return reply(_out(v))

    handler.__doc__ = doc
    handler.__name__ = f"{method}_version"
    return handler


approve_version = _lifecycle(
    "approve", "Approve a registered version. Never by its registrant (four eyes: 403).")
reject_version = _lifecycle("reject", "Reject a registered or approved version for good.")
retire_version = _lifecycle("retire", "Retire a version so it can never serve again.")


async def promote_version(request: Request) -> Response:
    """Move an approved version to production (superseding the current one) or shadow."""
    call = await begin(request)
    name, version = path_name(request), path_version(request)
    body = await read_json(request, PromoteBody)
    v = await run_in_threadpool(call.services.registry.promote, call.principal, name, version,
                                body.stage, body.reason, request_id=call.request_id)
    return reply(_out(v))


async def rollback_model(request: Request) -> Response:
    """Put the previous production version that is still approved back into production."""
    call = await begin(request)
    name = path_name(request)
    body = await read_json(request, ReasonBody)
    v = await run_in_threadpool(call.services.registry.rollback, call.principal, name,
                                body.reason, request_id=call.request_id)
    return reply(_out(v))


async def verify_version(request: Request) -> Response:
    """Check the signed manifest, the sealed blob and the digest; 409 if any fails."""
    call = await begin(request)
    name, version = path_name(request), path_version(request)
    out = await run_in_threadpool(call.services.registry.verify, call.principal, name, version,
                                  request_id=call.request_id)
    return reply(VerifyOut.model_validate(out))


async def download_artifact(request: Request) -> Response:
    """The verified, decrypted artifact bytes (needs download-artifact; every download is
    audited). `X-Garrison-SHA256` carries the signed digest."""
    call = await begin(request)
    name, version = path_name(request), path_version(request)
    registry = call.services.registry

    def load() -> tuple[bytes, str]:
        data = registry.download(call.principal, name, version, request_id=call.request_id)
        return data, registry.get(name, version).digest

    data, digest = await run_in_threadpool(load)
    return Response(data, media_type="application/octet-stream", headers={
        "Content-Disposition": f'attachment; filename="{name}-{version}.artifact"',
        "X-Garrison-SHA256": digest,
    })


async def get_bom(request: Request) -> Response:
    """The version's CycloneDX 1.6 ML-BOM: artifact digest, format, framework and version,
    training datasets and their digests, scan verdict and signatures. Its digest is in
    the signed manifest; a BOM changed at rest gets 409."""
    call = await begin(request)
    name, version = path_name(request), path_version(request)
    data = await run_in_threadpool(call.services.registry.bom, call.principal, name, version,
                                   request_id=call.request_id)
    return Response(data, media_type=BOM_MEDIA_TYPE)


async def get_model_signature(request: Request) -> Response:
    """Garrison's OpenSSF model-signing bundle over the artifact (a Sigstore bundle):
    check a downloaded artifact with `model_signing verify key --signature FILE
    --public_key garrison-model.pub ARTIFACT`."""
    call = await begin(request)
    name, version = path_name(request), path_version(request)
    data = await run_in_threadpool(call.services.registry.model_signature, call.principal,
                                   name, version, request_id=call.request_id)
    return Response(data, media_type=BUNDLE_MEDIA_TYPE, headers={
        "Content-Disposition": f'attachment; filename="{name}-{version}.sig"'})


async def get_model_signing_key(request: Request) -> Response:
    """The public key (PEM) of Garrison's current OpenSSF model-signing key."""
    call = await begin(request)
    registry = call.services.registry

    def load() -> bytes:
        call.services.guard.require(call.principal, "view-model", "signing",
                                    request_id=call.request_id)
        return registry.provenance.key.public_pem()

    return Response(await run_in_threadpool(load), media_type="application/x-pem-file")


_CHANGE = (400, 401, 403, 404, 409)
_CHANGE_BODY = (*_CHANGE, 413)
OPERATIONS: list[Operation] = [
    Operation("GET", _BASE, list_versions, "listModelVersions", "List model versions", "models",
              query=ModelListQuery, response=ModelVersionList, errors=(400, 401, 403)),
    Operation("POST", _BASE + "/{name}/versions", register_version, "registerModelVersion",
              "Register a new version (upload)", "models", response=ModelVersionOut,
              status=201, upload=True, errors=(400, 401, 403, 409, 413, 422)),
    Operation("GET", _VERSION, show_version, "getModelVersion", "Show a version", "models",
              response=ModelVersionDetail),
    Operation("POST", _VERSION + "/approve", approve_version, "approveModelVersion",
              "Approve a version", "lifecycle", body=ReasonBody, response=ModelVersionOut,
              errors=_CHANGE_BODY),
    Operation("POST", _VERSION + "/reject", reject_version, "rejectModelVersion",
              "Reject a version", "lifecycle", body=ReasonBody, response=ModelVersionOut,
              errors=_CHANGE_BODY),
    Operation("POST", _VERSION + "/promote", promote_version, "promoteModelVersion",
              "Promote a version", "lifecycle", body=PromoteBody, response=ModelVersionOut,
              errors=_CHANGE_BODY),
    Operation("POST", _VERSION + "/retire", retire_version, "retireModelVersion",
              "Retire a version", "lifecycle", body=ReasonBody, response=ModelVersionOut,
              errors=_CHANGE_BODY),
    Operation("POST", _BASE + "/{name}/rollback", rollback_model, "rollbackModel",
              "Roll back production", "lifecycle", body=ReasonBody, response=ModelVersionOut,
              errors=_CHANGE_BODY),
    Operation("POST", _VERSION + "/verify", verify_version, "verifyModelVersion",
              "Verify a version's integrity", "models", response=VerifyOut, errors=_CHANGE),
    Operation("GET", _VERSION + "/artifact", download_artifact, "downloadArtifact",
              "Download the artifact", "models", binary_response=True, errors=_CHANGE),
    Operation("GET", _VERSION + "/bom", get_bom, "getModelBom", "The version's ML-BOM",
              "models", document=(BOM_MEDIA_TYPE.split(";")[0], {"type": "object"}),
              errors=_CHANGE),
    Operation("GET", _VERSION + "/signature", get_model_signature, "getModelSignature",
              "The version's OpenSSF model signature", "models",
              document=(BUNDLE_MEDIA_TYPE, {"type": "object"}), errors=_CHANGE),
    Operation("GET", "/admin/signing/model-key", get_model_signing_key, "getModelSigningKey",
              "Garrison's OpenSSF model-signing public key", "models",
              document=("application/x-pem-file", {"type": "string"}),
              errors=(401, 403)),
]
