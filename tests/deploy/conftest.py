"""Render the Helm chart offline (helm-python-sdk: Helm's Go library, no helm binary)."""

from __future__ import annotations

import copy
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "garrison"
PRODUCTION = CHART / "values-production.yaml"
RELEASE, NAMESPACE = "prod", "garrison"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def production_values() -> dict[str, Any]:
    return yaml.safe_load(PRODUCTION.read_text())


#: The value sets CI renders: the defaults, the production file, and the other branches.
VARIANTS: dict[str, dict[str, Any]] = {
    "default": {},
    "production": production_values(),
    "keda": {**production_values(), "gateway": {
        **production_values()["gateway"],
        "autoscaling": {"enabled": True, "minReplicas": 2, "maxReplicas": 8,
                        "metric": "inflight", "inflight": {"provider": "keda"}}}},
    "local-claim": {"artifacts": {"store": "local", "local": {
        "existingClaim": "shared-artifacts", "create": False}},
        "gateway": {"autoscaling": {"enabled": False}, "replicas": 3}},
    "s3-credentials-file": {"artifacts": {"store": "s3", "s3": {
        "bucket": "garrison-artifacts", "endpointUrl": "https://minio.storage.svc:9000",
        "addressingStyle": "path"}}, "secrets": {"s3Credentials": "garrison-s3"}},
}


def render(values: dict[str, Any]) -> dict[str, str]:
    import helm_python as helm

    with helm.Chart.load(str(CHART)) as chart:
        chart.validate_schema(values)
        return chart.render(values=copy.deepcopy(values), name=RELEASE, namespace=NAMESPACE,
                            is_install=True)


def manifests(values: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for name, text in sorted(render(values).items()):
        if name.endswith(".yaml"):
            out.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return out


@pytest.fixture(scope="module", params=sorted(VARIANTS))
def variant(request) -> tuple[str, list[dict[str, Any]]]:
    return request.param, manifests(VARIANTS[request.param])


def tool(name: str) -> str:
    """A command-line tool from the tools virtualenv (`make tools`), the venv or PATH."""
    for candidate in (ROOT / ".venv-tools" / "bin" / name, Path(os.sys.executable).parent / name):
        if candidate.exists():
            return str(candidate)
    found = shutil.which(name)
    if found:
        return found
    message = f"{name} is not installed (make tools)"
    if IN_CI:
        pytest.fail(f"{message}; CI must run it")
    pytest.skip(message)
    raise AssertionError  # pragma: no cover
