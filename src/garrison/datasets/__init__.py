"""The dataset registry, lineage reading and pseudonymization with managed keys.

A workflow package: ``DatasetService`` records dataset versions (digest, schema, row
count, privacy scan, optional poisoning check) and reads lineage from datasets to
models to deployments; ``PseudonymizationService`` tokenizes and re-identifies columns
with keys it keeps in the installation's key directory, auditing every use. Both run
inside a training pipeline as well as behind ``garrison data`` and ``garrison lineage``.
"""

import importlib
from typing import Any

from garrison.datasets.models import DatasetVersion, parse_dataset_ref, validate_dataset_name
from garrison.datasets.ports import DatasetRepository, DatasetStore, DatasetTx

#: Names whose modules read files (pandas, pyarrow): imported on first use, so that
#: storage and the CLI can use the light names without them.
_LAZY = {
    "FileDescription": "describe", "describe_file": "describe", "file_sha256": "describe",
    "schema_digest": "describe",
    "HMAC_KEY_FILE": "pseudonymize", "SIV_KEY_FILE": "pseudonymize",
    "PseudonymizationResult": "pseudonymize", "PseudonymizationService": "pseudonymize",
    "PseudonymKeys": "pseudonymize", "reidentify_file": "pseudonymize",
    "DEFAULT_NAMESPACE": "service", "MAX_POISON_FINDINGS": "service", "PRODUCER": "service",
    "DatasetService": "service",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'garrison.datasets' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"garrison.datasets.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "DEFAULT_NAMESPACE",
    "HMAC_KEY_FILE",
    "MAX_POISON_FINDINGS",
    "PRODUCER",
    "SIV_KEY_FILE",
    "DatasetRepository",
    "DatasetService",
    "DatasetStore",
    "DatasetTx",
    "DatasetVersion",
    "FileDescription",
    "PseudonymKeys",
    "PseudonymizationResult",
    "PseudonymizationService",
    "describe_file",
    "file_sha256",
    "parse_dataset_ref",
    "reidentify_file",
    "schema_digest",
    "validate_dataset_name",
]
