"""The CycloneDX ML-BOM of a model version (``cyclonedx-python-lib``, spec 1.6, JSON).

One BOM per version, made at registration and sealed next to the artifact. Its SHA-256
is in the signed manifest, so a BOM that was changed afterwards no longer verifies.
It lists:

* the model (``machine-learning-model``): name, version, SHA-256 of the artifact, and
  Garrison's properties: format, framework, size, registrant, scan verdict and findings,
  input-schema digest, reference-sample digest, code commit, metrics, and the OpenSSF
  signatures (Garrison's own and, when one was supplied, the registrant's);
* the framework (``framework``) with its version and package URL;
* each training dataset named in the lineage (``data``) with its digest, row count and
  schema digest; the model depends on them and on the framework.

The BOM cannot hold the DSSE signature that covers it; it names the key that made it.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from importlib import metadata as importlib_metadata
from typing import Any

from garrison import __version__
from garrison.types import bare_digest

__all__ = ["BOM_MEDIA_TYPE", "BomInputs", "build_bom", "framework_version"]

BOM_MEDIA_TYPE = "application/vnd.cyclonedx+json; version=1.6"

#: Framework names as registrants write them -> the Python distribution that runs them.
_DISTRIBUTIONS = {
    "scikit-learn": "scikit-learn", "sklearn": "scikit-learn", "xgboost": "xgboost",
    "lightgbm": "lightgbm", "onnx": "onnxruntime", "onnxruntime": "onnxruntime",
    "pytorch": "torch", "torch": "torch", "tensorflow": "tensorflow", "keras": "keras",
    "safetensors": "safetensors",
}


def framework_version(framework: str, tags: Mapping[str, str]) -> tuple[str, str, str]:
    """``(distribution, version, source)``: the registrant's ``framework_version`` tag if
    given, else the version installed where Garrison registered (and will load) it."""
    dist = _DISTRIBUTIONS.get(framework.strip().lower(), framework.strip().lower())
    stated = tags.get("framework_version", "")
    if stated:
        return dist, stated, "registrant"
    if not dist:
        return "", "", ""
    candidates = [dist, f"{dist}-cpu"] if dist == "xgboost" else [dist]
    for name in candidates:
        try:
            return dist, importlib_metadata.version(name), "registration-environment"
        except importlib_metadata.PackageNotFoundError:
            continue
    return dist, "", ""


@dataclass(frozen=True)
class BomInputs:
    """What the BOM describes; every field comes from verified registration data."""

    name: str
    version: int
    digest: str
    size: int
    format: str
    created: datetime
    registrant: str
    metadata: Mapping[str, Any]
    scan: Mapping[str, Any]
    #: ``{name, version, digest, rows, schema_digest}`` per training dataset.
    datasets: Sequence[Mapping[str, Any]]
    #: Garrison's OpenSSF signature (``ModelSignature.to_dict()``) and the DSSE key id.
    signature: Mapping[str, str]
    manifest_key_id: str
    supplied_signature: Mapping[str, str] | None = None


def _props(pairs: Mapping[str, Any]) -> list[Any]:
    from cyclonedx.model import Property

    return [Property(name=k, value=str(v)) for k, v in pairs.items() if v not in (None, "")]



def build_bom(inputs: BomInputs) -> bytes:
    """The BOM as CycloneDX 1.6 JSON bytes; the same inputs give the same bytes."""
    from cyclonedx.model import HashAlgorithm, HashType
    from cyclonedx.model.bom import Bom, BomMetaData
    from cyclonedx.model.component import Component, ComponentType
    from cyclonedx.model.tool import ToolRepository
    from cyclonedx.output.json import JsonV1Dot6
    from packageurl import PackageURL

    meta = inputs.metadata
    scan = inputs.scan
    signature = {f"garrison:signature:openssf:{k}": v for k, v in inputs.signature.items()}
    supplied = {f"garrison:signature:supplied:{k}": v
                for k, v in (inputs.supplied_signature or {}).items()}
    metrics = {f"garrison:metric:{k}": v for k, v in sorted((meta.get("metrics") or {}).items())}
    model = Component(
        type=ComponentType.MACHINE_LEARNING_MODEL, name=inputs.name,
        version=str(inputs.version), bom_ref=f"model:{inputs.name}:{inputs.version}",
        description=str(meta.get("description") or "") or None,
        hashes=[HashType(alg=HashAlgorithm.SHA_256, content=inputs.digest)],
        properties=_props({
            "garrison:format": inputs.format, "garrison:framework": meta.get("framework"),
            "garrison:size": inputs.size, "garrison:registrant": inputs.registrant,
            "garrison:scan:verdict": scan.get("verdict"),
            "garrison:scan:format": scan.get("format"),
            "garrison:scan:findings": ",".join(
                sorted({str(f.get("rule_id")) for f in scan.get("findings", [])})),
            "garrison:code-commit": meta.get("code_commit"),
            "garrison:reference:sha256": meta.get("reference_sha256"),
            "garrison:manifest:key-id": inputs.manifest_key_id,
            **signature, **supplied, **metrics,
        }),
    )
    components = []
    dist, version, source = framework_version(str(meta.get("framework") or ""),
                                              meta.get("tags") or {})
    if dist:
        framework = Component(
            type=ComponentType.FRAMEWORK, name=dist, version=version or None,
            bom_ref=f"framework:{dist}",
            purl=PackageURL(type="pypi", name=dist, version=version or None),
            properties=_props({"garrison:version-source": source}))
        components.append(framework)
    for ds in inputs.datasets:
        components.append(Component(
            type=ComponentType.DATA, name=str(ds["name"]), version=str(ds["version"]),
            bom_ref=f"dataset:{ds['name']}@{ds['version']}",
            hashes=[HashType(alg=HashAlgorithm.SHA_256, content=bare_digest(str(ds["digest"])))],
            properties=_props({"garrison:dataset:rows": ds.get("rows"),
                               "garrison:dataset:schema-digest": ds.get("schema_digest"),
                               "garrison:role": "training-data"})))
    bom = Bom(
        serial_number=uuid.uuid5(uuid.NAMESPACE_URL,
                                 f"garrison:{inputs.name}:{inputs.version}:{inputs.digest}"),
        metadata=BomMetaData(timestamp=inputs.created, component=model,
                             tools=ToolRepository(components=[Component(
                                 type=ComponentType.APPLICATION, name="garrison",
                                 version=__version__, bom_ref="tool:garrison")])),
        components=components,
    )
    bom.register_dependency(model, components)
    return JsonV1Dot6(bom).output_as_string(indent=None).encode("utf-8")
