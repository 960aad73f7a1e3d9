"""The Python SDK: ``GarrisonClient`` for the admin API, ``InferenceClient`` (and its
async twin) for the inference gateway.

Both share only :mod:`garrison.errors` with the server: an error answer is raised as
the class its code names. Importing the SDK loads neither the registry nor the data
stack (numpy is imported only when arrays are asked for).
"""

from garrison.client._admin import (
    AuditEvent,
    AuditPage,
    AuditVerifyResult,
    GarrisonClient,
    StageChange,
    VerifyResult,
    VersionDetail,
    VersionInfo,
)
from garrison.client._errors import error_from_response
from garrison.client.inference import (
    AsyncInferenceClient,
    InferenceClient,
    InferResponse,
    PredictResult,
    RetryPolicy,
    Tensor,
)

__all__ = [
    "AsyncInferenceClient",
    "AuditEvent",
    "AuditPage",
    "AuditVerifyResult",
    "GarrisonClient",
    "InferResponse",
    "InferenceClient",
    "PredictResult",
    "RetryPolicy",
    "StageChange",
    "Tensor",
    "VerifyResult",
    "VersionDetail",
    "VersionInfo",
    "error_from_response",
]
