"""The dataset registry, lineage reading and pseudonymization with managed keys.

A workflow package: ``DatasetService`` records dataset versions (digest, schema, row
count, privacy scan, optional poisoning check) and reads lineage from datasets to
models to deployments; ``PseudonymizationService`` tokenizes and re-identifies columns
with keys it keeps in the installation's key directory, auditing every use. Both run
inside a training pipeline as well as behind ``garrison data`` and ``garrison lineage``.
"""

from garrison.datasets.describe import FileDescription, describe_file, file_sha256, schema_digest
from garrison.datasets.models import DatasetVersion, parse_dataset_ref, validate_dataset_name
from garrison.datasets.ports import DatasetRepository, DatasetStore, DatasetTx
from garrison.datasets.pseudonymize import (
    HMAC_KEY_FILE,
    SIV_KEY_FILE,
    PseudonymizationResult,
    PseudonymizationService,
    PseudonymKeys,
    reidentify_file,
)
from garrison.datasets.service import (
    DEFAULT_NAMESPACE,
    MAX_POISON_FINDINGS,
    PRODUCER,
    DatasetService,
)

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
