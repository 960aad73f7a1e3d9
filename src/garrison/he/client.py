"""Client side of encrypted inference: keys, encryption, decryption.

The client generates the CKKS key pair and keeps the secret key. What it sends is a
*public evaluation context*: the public key, the relinearization keys only when the
deployment's sigmoid needs them, and in single mode only the Galois keys of the
``log2(block)`` rotations the server performs (none in batch mode). Everything the
client needs to know about the deployment is in its :class:`~garrison.he.params.HEParams`.

Example::

    client = HEClient.generate(params, mode="single")
    scorer.register(client.registration())                  # once
    response = scorer.handle(client.request_single(x))      # over HTTP in practice
    scores = client.decrypt_response(response)              # (1, n_outputs)
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import tenseal as ts

from garrison.errors import DecryptionFailed, InvalidInput, LimitExceeded, UnsupportedModel
from garrison.he import _proto, _seal
from garrison.he.params import HEParams
from garrison.he.wire import (
    ContextRegistration,
    EncryptedRequest,
    EncryptedResponse,
    context_id_for,
    open_ciphertext,
    wrap_ciphertext,
)

__all__ = ["MAX_ABS_INPUT", "HEClient"]

#: Inputs are refused beyond this magnitude (CKKS has no overflow detection).
MAX_ABS_INPUT = 1e9
_SECRET_FORMAT = "garrison-he-secret-context"  # noqa: S105 (a format name, not a secret)


class HEClient:
    """Holds the secret context; encrypts samples and decrypts scores for one deployment.

    ``mode`` names the key set: ``"single"`` includes the Galois keys single mode needs
    (and serves batch requests too); ``"batch"`` has none and serves batch requests only.
    """

    def __init__(self, params: HEParams, context: ts.Context, *, mode: str,
                 public_context: bytes | None = None) -> None:
        if mode not in ("single", "batch"):
            raise InvalidInput("mode must be 'single' or 'batch'")
        if mode == "single" and not params.supports_single:
            raise UnsupportedModel("this deployment's outputs do not fit single mode; use batch")
        if not context.is_private():
            raise InvalidInput("the client needs the context with its secret key")
        self.params = params
        self.mode = mode
        self._context = context
        self._public = public_context
        self._context_id: str | None = None
        if public_context is not None:
            self._check_public(public_context)

    @classmethod
    def generate(cls, params: HEParams, *, mode: str = "single") -> HEClient:
        """Generate a fresh key pair for ``params``."""
        context = ts.context(
            ts.SCHEME_TYPE.CKKS,
            poly_modulus_degree=params.poly_modulus_degree,
            coeff_mod_bit_sizes=list(params.coeff_mod_bit_sizes),
            n_threads=1,
        )
        context.global_scale = params.scale
        return cls(params, context, mode=mode)

    # --- the public context ------------------------------------------------------------

    def public_context_bytes(self) -> bytes:
        """The public evaluation context: no secret key, only the keys the server needs."""
        if self._public is None:
            raw = self._context.serialize(
                save_public_key=True, save_secret_key=False, save_galois_keys=False,
                save_relin_keys=self.params.needs_relin_keys,
            )
            message = _proto.decode_context(raw)
            galois = b""
            if self.mode == "single" and self.params.galois_steps:
                keys = ts._ts_cpp.GaloisKeys()
                n = self.params.poly_modulus_degree
                elements = [_seal.galois_element(s, n) for s in self.params.galois_steps]
                _seal.new_keygen(self._context).create_galois_keys(elements, keys)
                galois = _seal.to_bytes(keys)
            self._public = _proto.encode_public_context(
                _proto.ContextMessage(
                    encryption_parameters=message.encryption_parameters,
                    public_key=message.public_key, auto_flags=message.auto_flags,
                    scale=message.scale, relin_keys=message.relin_keys, galois_keys=galois,
                    encryption_type=message.encryption_type,
                )
            )
        return self._public

    def _check_public(self, public: bytes) -> None:
        ours = _proto.decode_context(self._context.serialize(save_secret_key=False,
                                                             save_relin_keys=False))
        try:
            theirs = _proto.decode_context(public)
        except _proto.ProtoError as exc:
            raise InvalidInput("the public context file is malformed") from exc
        if theirs.public_key != ours.public_key or theirs.secret_key:
            raise InvalidInput("the public context does not belong to this secret key")

    @property
    def context_id(self) -> str:
        if self._context_id is None:
            public = self.public_context_bytes()
            self._context_id = context_id_for(self.params.fingerprint(), public)
        return self._context_id

    def registration(self) -> ContextRegistration:
        return ContextRegistration(self.params.fingerprint(), self.public_context_bytes())

    # --- encryption ----------------------------------------------------------------------

    def _rows(self, X: Any) -> np.ndarray:
        X = np.atleast_2d(np.asarray(X, dtype=np.float64))
        if X.ndim != 2 or X.shape[1] != self.params.n_features:
            raise InvalidInput(f"expected rows of {self.params.n_features} features")
        if not np.isfinite(X).all() or np.abs(X).max(initial=0.0) > MAX_ABS_INPUT:
            raise InvalidInput(f"inputs must be finite and within +-{MAX_ABS_INPUT:g}")
        return X

    def encrypt_single(self, x: Any) -> bytes:
        """One sample, packed once per output block (see :mod:`garrison.he._circuits`)."""
        if self.mode != "single":
            raise InvalidInput("these keys were generated for batch mode only (no Galois keys)")
        row = self._rows(x)
        if row.shape[0] != 1:
            raise InvalidInput("encrypt_single takes one sample; use batch mode for many")
        p = self.params
        packed = np.zeros(p.n_outputs * p.block)
        for c in range(p.n_outputs):
            packed[c * p.block : c * p.block + p.n_features] = row[0]
        return ts.ckks_vector(self._context, packed.tolist()).serialize()

    def encrypt_batch(self, X: Any) -> list[bytes]:
        """Feature-major: one ciphertext per feature, one sample per slot."""
        X = self._rows(X)
        if X.shape[0] > self.params.slots:
            raise LimitExceeded(f"a batch holds at most {self.params.slots} samples; split it")
        return [ts.ckks_vector(self._context, X[:, j].tolist()).serialize()
                for j in range(X.shape[1])]

    def request_single(self, x: Any, *, output: str = "score") -> EncryptedRequest:
        return EncryptedRequest("single", self.context_id, (self.encrypt_single(x),), 1, output)

    def request_batch(self, X: Any, *, output: str = "score") -> EncryptedRequest:
        cts = tuple(self.encrypt_batch(X))
        return EncryptedRequest("batch", self.context_id, cts, len(np.atleast_2d(X)), output)

    # --- decryption ----------------------------------------------------------------------

    def _decrypt(self, data: bytes, size: int) -> np.ndarray:
        try:
            blob, scale, _ = open_ciphertext(data, size=size,
                                             max_bytes=self.params.max_ciphertext_bytes() + 64)
            envelope = wrap_ciphertext(blob, size=size, scale=scale)
            vector = ts.ckks_vector_from(self._context, envelope)
            return np.asarray(vector.decrypt(), dtype=np.float64)
        except Exception as exc:
            raise DecryptionFailed("the server's ciphertext could not be decrypted") from exc

    def decrypt_scores(self, ciphertexts: Sequence[bytes], *, mode: str, n_samples: int = 1,
                       output: str = "score") -> np.ndarray:
        """Scores ``(n_samples, n_outputs)`` (or probabilities ``(n_samples, 1)``)."""
        p = self.params
        n_outputs = 1 if output == "probability" else p.n_outputs
        if mode == "single":
            if len(ciphertexts) != 1 or n_samples != 1:
                raise DecryptionFailed("a single-mode response holds one ciphertext")
            values = self._decrypt(ciphertexts[0], p.n_outputs * p.block)
            return values[: n_outputs * p.block : p.block].reshape(1, n_outputs)
        if len(ciphertexts) != n_outputs or not 0 < n_samples <= p.slots:
            raise DecryptionFailed(f"a batch response holds {n_outputs} ciphertexts")
        return np.stack([self._decrypt(ct, n_samples) for ct in ciphertexts], axis=1)

    def decrypt_response(self, response: EncryptedResponse) -> np.ndarray:
        if response.context_id != self.context_id:
            raise DecryptionFailed("the response was made for another context")
        return self.decrypt_scores(response.ciphertexts, mode=response.mode,
                                   n_samples=response.n_samples, output=response.output)

    # --- the secret file -----------------------------------------------------------------

    def secret_bytes(self) -> bytes:
        """The secret context as a JSON document; store it like a private key (mode 0600)."""
        raw = self._context.serialize(save_public_key=True, save_secret_key=True,
                                      save_galois_keys=False, save_relin_keys=False)
        return json.dumps({
            "format": _SECRET_FORMAT, "version": 1, "mode": self.mode,
            "params": self.params.to_dict(), "context": base64.b64encode(raw).decode(),
        }).encode()

    @classmethod
    def from_secret_bytes(cls, data: bytes, *, public_context: bytes | None = None) -> HEClient:
        try:
            doc = json.loads(data)
            if doc.get("format") != _SECRET_FORMAT or doc.get("version") != 1:
                raise ValueError("format")
            raw = base64.b64decode(doc["context"], validate=True)
            params = HEParams.from_dict(doc["params"])
            context = ts.Context.load(raw, n_threads=1)
        except (ValueError, KeyError, TypeError, AttributeError, binascii.Error) as exc:
            raise InvalidInput("not a garrison HE secret context file") from exc
        if params.needs_relin_keys:
            context.generate_relin_keys()
        return cls(params, context, mode=str(doc.get("mode")), public_context=public_context)
