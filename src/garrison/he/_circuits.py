"""Private: the homomorphic circuits the server evaluates, on SEAL ciphertexts.

.. warning::
   Hazmat. The inputs must already be validated (level, scale, size) by
   :mod:`garrison.he.server`; this module only computes.

Single mode (one sample per ciphertext). The client packs the feature vector ``x``
(zero-padded to ``s = 2^ceil(log2 n)`` slots) once per output block: slots
``[c*s, (c+1)*s)`` hold ``x`` for output ``c``. The server multiplies by the plaintext
that holds weight row ``c`` in block ``c`` (one plaintext multiplication, one rescale),
then sums inside every block at once with ``log2 s`` rotations by ``s/2, ..., 2, 1``
(done after the rescale, where key switching is cheapest), and adds the biases: score
``c`` lands in slot ``c*s``. Depth 1, ``log2 s`` Galois keys, whatever the number of
outputs.

Batch mode (feature-major). Ciphertext ``j`` holds feature ``j`` of up to ``N/2``
samples, one per slot. Score ``c`` is ``sum_j w_cj * ct_j + b_c``: plaintext-scalar
multiplications and additions only, accumulated at scale ``Delta^2`` with the bias
added before the single rescale. No rotations, no Galois keys, no relinearization.

Sigmoid (optional, binary logistic regression): ``p(z) = c0 + c1 z + c3 z^3`` on the
score at depth 2 more, with the scales of the two branches matched exactly, and in
single mode masked to slot 0 (the other slots hold partial sums).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from tenseal import sealapi

from garrison.he import _seal
from garrison.he.model import LinearHEModel
from garrison.he.params import HEParams

__all__ = ["Circuit"]


class Circuit:
    """Pre-encoded plaintexts and a key-less SEAL evaluator for one model and parameter set."""

    def __init__(self, model: LinearHEModel, params: HEParams) -> None:
        self.model = model
        self.params = params
        self.context = _seal.make_context(params.poly_modulus_degree, params.coeff_mod_bit_sizes)
        self.evaluator = sealapi.Evaluator(self.context)
        self.encoder = sealapi.CKKSEncoder(self.context)
        self.top = self.context.first_parms_id()
        self._packed: Any = None
        self._bias_plain: dict[tuple[tuple[int, ...], float], Any] = {}
        if params.supports_single and np.any(model.weights):
            s, slots = params.block, params.slots
            packed = np.zeros(slots)
            for c, row in enumerate(model.weights):
                packed[c * s : c * s + model.n_features] = row
            self._packed = self._encode(packed, self.top, params.scale)

    # --- helpers ---------------------------------------------------------------------

    def _encode(self, values: Any, parms_id: Any, scale: float) -> Any:
        plain = sealapi.Plaintext()
        if isinstance(values, np.ndarray):
            self.encoder.encode(values.astype(np.float64).tolist(), parms_id, scale, plain)
        else:
            self.encoder.encode(float(values), parms_id, scale, plain)
        return plain

    def _next_prime(self, ct: Any) -> int:
        """The prime the next rescale of ``ct`` divides by (the last one at its level)."""
        data = self.context.get_context_data(ct.parms_id())
        return int(data.parms().coeff_modulus()[-1].value())

    def _constant(self, values: Any, public_key: Any) -> Any:
        """Encrypt a constant (an output whose weights are all zero) at the post-rescale level."""
        out = sealapi.Ciphertext()
        encryptor = sealapi.Encryptor(self.context, public_key)
        encryptor.encrypt(self._encode(values, self.top, self.params.scale**2), out)
        self.evaluator.rescale_to_next_inplace(out)
        return out

    # --- circuits --------------------------------------------------------------------

    def single(self, ct: Any, *, galois_keys: Any, relin_keys: Any, public_key: Any,
               sigmoid: bool) -> Any:
        """Scores of one packed sample; score ``c`` ends in slot ``c * block``."""
        p, ev = self.params, self.evaluator
        bias = np.zeros(p.slots)
        bias[: p.n_outputs * p.block : p.block] = self.model.bias
        if self._packed is None:
            return self._finish(self._constant(bias, public_key), relin_keys, sigmoid, single=True)
        ev.multiply_plain_inplace(ct, self._packed)
        ev.rescale_to_next_inplace(ct)
        rotated = sealapi.Ciphertext()
        for step in p.galois_steps:
            ev.rotate_vector(ct, step, galois_keys, rotated)
            ev.add_inplace(ct, rotated)
        key = (tuple(ct.parms_id()), ct.scale)
        if key not in self._bias_plain:  # The level and scale are the same for every request.
            self._bias_plain[key] = self._encode(bias, ct.parms_id(), ct.scale)
        ev.add_plain_inplace(ct, self._bias_plain[key])
        return self._finish(ct, relin_keys, sigmoid, single=True)

    def batch(self, cts: Sequence[Any], *, relin_keys: Any, public_key: Any,
              sigmoid: bool) -> list[Any]:
        """One ciphertext of scores per output, slot ``i`` holding sample ``i``."""
        p, ev = self.params, self.evaluator
        outputs = []
        last = len(self.model.bias) - 1
        for c, (row, bias) in enumerate(zip(self.model.weights, self.model.bias, strict=True)):
            acc = None
            for ct, weight in zip(cts, row, strict=True):
                if weight == 0.0:
                    continue  # A zero plaintext would make a transparent ciphertext.
                plain = self._encode(weight, self.top, p.scale)
                if c == last:  # The inputs are not needed afterwards: no new allocation.
                    ev.multiply_plain_inplace(ct, plain)
                    term = ct
                else:
                    term = sealapi.Ciphertext()
                    ev.multiply_plain(ct, plain, term)
                if acc is None:
                    acc = term
                else:
                    ev.add_inplace(acc, term)
            if acc is None:
                outputs.append(self._finish(self._constant(bias, public_key), relin_keys, sigmoid))
                continue
            ev.add_plain_inplace(acc, self._encode(bias, acc.parms_id(), acc.scale))
            ev.rescale_to_next_inplace(acc)
            outputs.append(self._finish(acc, relin_keys, sigmoid))
        return outputs

    def _finish(self, z: Any, relin_keys: Any, sigmoid: bool, *, single: bool = False) -> Any:
        if not sigmoid:
            return z
        mask: Any = 1.0
        if single:
            mask = np.zeros(self.params.slots)
            mask[0] = 1.0
        return self._sigmoid(z, relin_keys, mask)

    def _sigmoid(self, z: Any, relin_keys: Any, mask: Any) -> Any:
        """``c0 + c1 z + c3 z^3`` (times ``mask``) in two levels, scales matched exactly."""
        assert self.params.sigmoid is not None
        ev = self.evaluator
        c0, c1, _, c3 = self.params.sigmoid.coefficients
        q_z = self._next_prime(z)
        square = sealapi.Ciphertext()
        ev.square(z, square)
        ev.relinearize_inplace(square, relin_keys)
        ev.rescale_to_next_inplace(square)
        cubic = sealapi.Ciphertext()
        ev.multiply_plain(z, self._encode(np.multiply(mask, c3), z.parms_id(), self.params.scale),
                          cubic)
        ev.rescale_to_next_inplace(cubic)
        ev.multiply_inplace(cubic, square)
        ev.relinearize_inplace(cubic, relin_keys)
        ev.rescale_to_next_inplace(cubic)
        # Encode c1 at the scale that lands the linear term exactly on the cubic's scale.
        target = cubic.scale
        linear = sealapi.Ciphertext()
        c1_plain = self._encode(np.multiply(mask, c1), z.parms_id(), target * q_z / z.scale)
        ev.multiply_plain(z, c1_plain, linear)
        ev.rescale_to_next_inplace(linear)
        ev.mod_switch_to_inplace(linear, cubic.parms_id())
        linear.scale = target  # Equal up to one rounding of the division above.
        ev.add_inplace(cubic, linear)
        ev.add_plain_inplace(cubic, self._encode(np.multiply(mask, c0), cubic.parms_id(), target))
        return cubic
