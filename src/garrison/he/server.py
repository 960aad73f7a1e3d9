"""Server side of encrypted inference: score ciphertexts with plaintext weights.

The server holds the model's weights in the clear and the client's *public* context
(no secret key: see :mod:`garrison.he.contexts`); it can compute on ciphertexts but
never decrypt them. :class:`EncryptedScorer` is protocol-neutral: the gateway's HTTP
endpoints and the ``garrison he score`` command both call :meth:`EncryptedScorer.handle`
(or the ``register_context`` / ``score_*`` methods it is made of).

Every ciphertext is checked before and after SEAL reads it: envelope and header
(:func:`garrison.he.wire.open_ciphertext`), then level (fresh, top of the modulus
chain), size (two polynomials), NTT form, ring degree and scale. Anything else is
refused with :class:`~garrison.errors.InvalidCiphertext`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tenseal import sealapi

from garrison.errors import InvalidCiphertext, InvalidHEContext, InvalidInput, UnsupportedModel
from garrison.he import _seal
from garrison.he._circuits import Circuit
from garrison.he.contexts import DEFAULT_MAX_CONTEXT_BYTES, ContextCache, PublicContext
from garrison.he.model import LinearHEModel
from garrison.he.params import HEParams
from garrison.he.wire import (
    ContextRegistration,
    EncryptedRequest,
    EncryptedResponse,
    open_ciphertext,
    wrap_ciphertext,
)

__all__ = ["EncryptedScorer", "HELimits"]


@dataclass(frozen=True)
class HELimits:
    """Size limits of the encrypted endpoints (bytes of JSON documents and contexts)."""

    max_request_bytes: int = 64 * 1024 * 1024
    max_context_bytes: int = DEFAULT_MAX_CONTEXT_BYTES

    def to_dict(self) -> dict[str, int]:
        return {"max_request_bytes": self.max_request_bytes,
                "max_context_bytes": self.max_context_bytes}


def _check_consistent(model: LinearHEModel, params: HEParams) -> None:
    pairs = {
        "n_features": (model.n_features, params.n_features),
        "n_outputs": (model.n_outputs, params.n_outputs),
        "kind": (model.kind, params.kind),
        "classes": (model.classes, params.classes),
        "probability": (model.probability, params.probability),
    }
    for name, (ours, theirs) in pairs.items():
        if ours != theirs:
            raise InvalidInput(f"the model and the HE parameters disagree on {name}")


class EncryptedScorer:
    """Scores encrypted samples for one deployed model and parameter set."""

    def __init__(self, model: LinearHEModel, params: HEParams, *,
                 cache: ContextCache | None = None, limits: HELimits | None = None) -> None:
        _check_consistent(model, params)
        self.model = model
        self.params = params
        self.limits = limits or HELimits()
        if cache is None:  # Not `cache or ...`: an empty cache is falsy (it has a length).
            cache = ContextCache(max_context_bytes=self.limits.max_context_bytes)
        self.cache = cache
        self.fingerprint = params.fingerprint()
        self._circuit = Circuit(model, params)
        self._max_ct = params.max_ciphertext_bytes() + 64

    # --- contexts --------------------------------------------------------------------

    def register_context(self, context: bytes, *, owner: str = "") -> str:
        """Admit a client's public context (raw TenSEAL bytes); return its id."""
        return self.cache.register(context, self.params, owner=owner)

    def register(self, registration: ContextRegistration, *, owner: str = "") -> str:
        """Admit a ``garrison-he-context`` document made for these parameters."""
        if registration.params_fingerprint != self.fingerprint:
            raise InvalidHEContext(
                "the context was made for other parameters; fetch this deployment's "
                f"parameters ({self.fingerprint}) and generate keys for them"
            )
        return self.register_context(registration.context, owner=owner)

    # --- scoring ---------------------------------------------------------------------

    def _load(self, data: bytes, size: int | None) -> tuple[Any, int]:
        blob, scale, declared = open_ciphertext(data, size=size, max_bytes=self._max_ct)
        p, ctx = self.params, self._circuit.context
        if not 0 < declared <= p.slots:
            raise InvalidCiphertext(f"a ciphertext holds 1 to {p.slots} slots")
        if scale != p.scale:
            raise InvalidCiphertext(
                f"the ciphertext declares scale {scale!r}; expected 2^{p.scale_bits}"
            )
        try:
            ct = _seal.load(sealapi.Ciphertext(), ctx, blob)
        except Exception as exc:  # SEAL raises bare C++ exceptions (ValueError, RuntimeError).
            raise InvalidCiphertext(
                "the ciphertext does not load under the deployment's parameters"
            ) from exc
        if (ct.parms_id() != self._circuit.top or ct.size() != 2 or not ct.is_ntt_form()
                or ct.poly_modulus_degree() != p.poly_modulus_degree
                or ct.coeff_modulus_size() != len(p.coeff_mod_bit_sizes) - 1):
            raise InvalidCiphertext(
                "the ciphertext is not a fresh encryption under these parameters"
            )
        if ct.scale != p.scale:
            raise InvalidCiphertext(f"the ciphertext's scale is not 2^{p.scale_bits}")
        return ct, declared

    def _entry(self, context_id: str, owner: str, output: str) -> PublicContext:
        entry = self.cache.get(context_id, self.params, owner=owner)
        if output not in ("score", "probability"):
            raise InvalidInput("output must be 'score' or 'probability'")
        if output == "probability" and self.params.sigmoid is None:
            raise UnsupportedModel(
                "this deployment has no server-side sigmoid; ask for scores and apply the "
                "exact sigmoid after decryption"
            )
        return entry

    def score_single(self, context_id: str, ciphertext: bytes, *, owner: str = "",
                     output: str = "score") -> bytes:
        """Score one packed sample; the result holds score ``c`` in slot ``c * block``."""
        p = self.params
        entry = self._entry(context_id, owner, output)
        if not p.supports_single:
            raise UnsupportedModel(
                f"{p.n_outputs} outputs x {p.block} slots do not fit one ciphertext; use batch mode"
            )
        if p.galois_steps and not entry.single:
            raise InvalidHEContext(
                "this context has no Galois keys; it can only be used in batch mode"
            )
        ct, _ = self._load(ciphertext, p.n_outputs * p.block)
        try:
            out = self._circuit.single(
                ct, galois_keys=entry.galois_keys, relin_keys=entry.relin_keys,
                public_key=entry.public_key, sigmoid=output == "probability",
            )
        except (RuntimeError, ValueError) as exc:
            raise InvalidCiphertext("the ciphertext could not be evaluated") from exc
        return wrap_ciphertext(_seal.to_bytes(out), size=p.n_outputs * p.block, scale=out.scale)

    def score_batch(self, context_id: str, ciphertexts: Sequence[bytes], *,
                    n_samples: int | None = None, owner: str = "",
                    output: str = "score") -> list[bytes]:
        """Score feature-major ciphertexts (one per feature); one result per output."""
        p = self.params
        entry = self._entry(context_id, owner, output)
        if len(ciphertexts) != p.n_features:
            raise InvalidCiphertext(
                f"batch mode takes one ciphertext per feature: {p.n_features}, "
                f"got {len(ciphertexts)}"
            )
        loaded = []
        for data in ciphertexts:
            ct, declared = self._load(data, n_samples)
            n_samples = declared
            loaded.append(ct)
        assert n_samples is not None
        try:
            outs = self._circuit.batch(loaded, relin_keys=entry.relin_keys,
                                       public_key=entry.public_key,
                                       sigmoid=output == "probability")
        except (RuntimeError, ValueError) as exc:
            raise InvalidCiphertext("the ciphertexts could not be evaluated") from exc
        return [wrap_ciphertext(_seal.to_bytes(o), size=n_samples, scale=o.scale) for o in outs]

    def handle(self, request: EncryptedRequest, *, owner: str = "") -> EncryptedResponse:
        """Serve one ``garrison-he-request`` document."""
        if request.mode == "single":
            outs = [self.score_single(request.context_id, request.ciphertexts[0],
                                      owner=owner, output=request.output)]
        else:
            outs = self.score_batch(request.context_id, request.ciphertexts,
                                    n_samples=request.n_samples, owner=owner,
                                    output=request.output)
        return EncryptedResponse(
            mode=request.mode, context_id=request.context_id, ciphertexts=tuple(outs),
            n_samples=request.n_samples, n_outputs=self.params.n_outputs, output=request.output,
        )

    def handle_json(self, body: bytes, *, owner: str = "") -> bytes:
        """Parse, serve and serialize: the whole HTTP exchange, minus HTTP."""
        request = EncryptedRequest.from_json(body, max_bytes=self.limits.max_request_bytes)
        return self.handle(request, owner=owner).to_json()

    def register_json(self, body: bytes, *, owner: str = "") -> str:
        """Admit a ``garrison-he-context`` document given as its JSON bytes."""
        # The JSON document is base64, a third larger than the context it carries.
        limit = self.limits.max_context_bytes * 4 // 3 + 4096
        return self.register(ContextRegistration.from_json(body, max_bytes=limit), owner=owner)
