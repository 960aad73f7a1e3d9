"""Homomorphic encrypted inference (CKKS via TenSEAL) for linear models.

The client keeps the secret key; the server scores ciphertexts with plaintext weights
and can never decrypt. See ``docs/encrypted-inference.md`` for the threat model.
"""

from garrison.he.client import MAX_ABS_INPUT, HEClient
from garrison.he.contexts import ContextCache, PublicContext, load_public_context
from garrison.he.model import (
    KINDS,
    LinearHEModel,
    compile_model,
    predict_from_scores,
    probabilities_from_scores,
)
from garrison.he.params import (
    LINEAR_PRESET,
    MAX_COEFF_BITS,
    SIGMOID_PRESET,
    HEParams,
    SigmoidApprox,
)
from garrison.he.server import EncryptedScorer, HELimits
from garrison.he.wire import (
    MODES,
    OUTPUTS,
    ContextRegistration,
    EncryptedRequest,
    EncryptedResponse,
    context_id_for,
    open_ciphertext,
    wrap_ciphertext,
)

__all__ = [
    "KINDS",
    "LINEAR_PRESET",
    "MAX_ABS_INPUT",
    "MAX_COEFF_BITS",
    "MODES",
    "OUTPUTS",
    "SIGMOID_PRESET",
    "ContextCache",
    "ContextRegistration",
    "EncryptedRequest",
    "EncryptedResponse",
    "EncryptedScorer",
    "HEClient",
    "HELimits",
    "HEParams",
    "LinearHEModel",
    "PublicContext",
    "SigmoidApprox",
    "compile_model",
    "context_id_for",
    "load_public_context",
    "open_ciphertext",
    "predict_from_scores",
    "probabilities_from_scores",
    "wrap_ciphertext",
]
