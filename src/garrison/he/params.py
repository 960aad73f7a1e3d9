"""Encryption parameters of a deployment, chosen from the model's multiplicative depth.

:class:`HEParams` is everything a client needs to talk to an encrypted deployment and
nothing it must not see: the CKKS parameters (ring degree, coefficient moduli, scale),
the shape (features, outputs, slot layout) and how scores become predictions. It is
stored with the deployment, published to clients, and compared with every context a
client registers. The weights are not in it.

Security: every parameter set meets 128-bit classical security for a ternary secret
per the HomomorphicEncryption.org standard (Albrecht et al., 2018, table 1), which
bounds the total coefficient-modulus size by the ring degree (``MAX_COEFF_BITS``);
SEAL enforces the same table when a context is built.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from garrison.errors import InvalidInput, UnsupportedModel
from garrison.he.model import (
    KINDS,
    LinearHEModel,
    _expected_outputs,
    predict_from_scores,
    probabilities_from_scores,
)

__all__ = [
    "LINEAR_PRESET",
    "MAX_COEFF_BITS",
    "SIGMOID_PRESET",
    "HEParams",
    "SigmoidApprox",
]

#: HomomorphicEncryption.org standard, 128-bit classical security, ternary secret.
MAX_COEFF_BITS = {1024: 27, 2048: 54, 4096: 109, 8192: 218, 16384: 438, 32768: 881}

#: Depth 1 (one plaintext multiplication): N=8192, q = 60+40 bits of data, 60-bit special
#: prime (160 of 218 bits), scale 2^40.
LINEAR_PRESET = (8192, (60, 40, 60), 40)
#: Depth 3 (affine map, then a degree-3 polynomial): 52+3*38 bits of data, 52-bit special
#: prime (218 of 218 bits), scale 2^38.
SIGMOID_PRESET = (8192, (52, 38, 38, 38, 52), 38)


@dataclass(frozen=True)
class SigmoidApprox:
    """Degree-3 least-squares approximation of the logistic function on ``[-bound, bound]``.

    ``p(z) = c0 + c1 z + c3 z^3`` (``c0 = 1/2``, ``c2 = 0`` by symmetry) minimizes the
    squared error integrated over the interval (continuous least squares, computed with
    256-point Gauss-Legendre quadrature). ``max_error`` is a proven bound
    on ``|p(z) - sigmoid(z)|`` over the interval: the largest error on a 200,001-point
    grid plus the Lipschitz constant of the error times half the grid step. Outside the
    interval ``p`` is meaningless (a cubic), so it is stated and documented, not clipped.
    """

    bound: float
    coefficients: tuple[float, float, float, float]
    max_error: float

    @classmethod
    def fit(cls, bound: float = 8.0) -> SigmoidApprox:
        if not 1.0 <= bound <= 16.0:
            raise InvalidInput("the sigmoid interval bound must be within [1, 16]")
        return _fit(float(bound))

    def __call__(self, z: Any) -> np.ndarray:
        c0, c1, _, c3 = self.coefficients
        z = np.asarray(z, dtype=np.float64)
        return c0 + c1 * z + c3 * z**3

    def to_dict(self) -> dict[str, Any]:
        return {
            "degree": 3,
            "interval": [-self.bound, self.bound],
            "coefficients": list(self.coefficients),
            "max_error": self.max_error,
        }

    @classmethod
    def from_dict(cls, data: Any) -> SigmoidApprox:
        try:
            bound = float(data["interval"][1])
            coefficients = tuple(float(c) for c in data["coefficients"])
            if data["degree"] != 3 or len(coefficients) != 4 or data["interval"][0] != -bound:
                raise ValueError("shape")
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise InvalidInput("malformed sigmoid approximation") from exc
        fitted = cls.fit(bound)
        # Stored values are kept verbatim (so fingerprints are stable across machines) but
        # must agree with a local refit up to floating-point noise.
        if not np.allclose(coefficients, fitted.coefficients, rtol=1e-6, atol=1e-12):
            raise InvalidInput("sigmoid coefficients are not the least-squares fit of the interval")
        if not math.isclose(float(data["max_error"]), fitted.max_error, rel_tol=1e-6):
            raise InvalidInput("the stated sigmoid error bound is not the computed one")
        return cls(bound, coefficients, float(data["max_error"]))


@lru_cache(maxsize=32)
def _fit(bound: float) -> SigmoidApprox:
    nodes, weights = _gauss_legendre()
    z, root_w = nodes * bound, np.sqrt(weights * bound)
    basis = np.stack([z, z**3], axis=1) * root_w[:, None]
    target = (1.0 / (1.0 + np.exp(-z)) - 0.5) * root_w
    (c1, c3), *_ = np.linalg.lstsq(basis, target, rcond=None)
    coefficients = (0.5, float(c1), 0.0, float(c3))
    return SigmoidApprox(bound, coefficients, _error_bound(bound, coefficients))


@lru_cache(maxsize=1)
def _gauss_legendre() -> tuple[np.ndarray, np.ndarray]:
    return np.polynomial.legendre.leggauss(256)


def _error_bound(bound: float, coefficients: tuple[float, ...]) -> float:
    c0, c1, _, c3 = coefficients
    z = np.linspace(-bound, bound, 200_001)
    err = np.abs(c0 + c1 * z + c3 * z**3 - 1.0 / (1.0 + np.exp(-z))).max()
    lipschitz = 0.25 + abs(c1) + 3.0 * abs(c3) * bound**2
    return float(err + lipschitz * (z[1] - z[0]) / 2.0)


def _next_pow2(n: int) -> int:
    return 1 << max(0, (n - 1).bit_length())


@dataclass(frozen=True)
class HEParams:
    """CKKS parameters plus the layout and output description of one deployment."""

    poly_modulus_degree: int
    coeff_mod_bit_sizes: tuple[int, ...]
    scale_bits: int
    n_features: int
    n_outputs: int
    kind: str
    classes: tuple[Any, ...] | None = None
    probability: str | None = None
    sigmoid: SigmoidApprox | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "coeff_mod_bit_sizes", tuple(self.coeff_mod_bit_sizes))
        if self.classes is not None:
            object.__setattr__(self, "classes", tuple(self.classes))
        n, bits = self.poly_modulus_degree, self.coeff_mod_bit_sizes
        if n not in MAX_COEFF_BITS:
            raise InvalidInput(f"poly_modulus_degree must be one of {sorted(MAX_COEFF_BITS)}")
        if sum(bits) > MAX_COEFF_BITS[n]:
            raise InvalidInput(
                f"{sum(bits)} coefficient bits exceed the 128-bit security bound "
                f"{MAX_COEFF_BITS[n]} for N={n}"
            )
        if len(bits) < 3 or not all(20 <= b <= 60 for b in bits):
            raise InvalidInput("need at least three coefficient moduli of 20 to 60 bits")
        middle = bits[1:-1]
        if any(b != self.scale_bits for b in middle) or bits[0] < self.scale_bits + 10:
            raise InvalidInput(
                "the rescaling primes must match the scale, with >= 10 bits headroom"
            )
        if bits[-1] < max(bits[:-1]):
            raise InvalidInput("the special prime must be at least as large as every data prime")
        if len(middle) < self.depth:
            raise InvalidInput(
                f"these moduli allow depth {len(middle)}; the model needs {self.depth}"
            )
        if self.kind not in KINDS or self.n_features < 1:
            raise InvalidInput("unknown output kind or no features")
        if self.probability not in (None, "sigmoid", "softmax"):
            raise InvalidInput("probability must be 'sigmoid', 'softmax' or None")
        if _expected_outputs(self.kind, self.classes, self.n_outputs) != self.n_outputs:
            raise InvalidInput("n_outputs does not match the kind and classes")
        if self.sigmoid is not None and self.probability != "sigmoid":
            raise UnsupportedModel(
                "server-side sigmoid is only for binary logistic regression; decrypt the "
                "scores and apply the exact sigmoid or softmax on the client instead"
            )

    # --- derived -------------------------------------------------------------------

    @property
    def depth(self) -> int:
        """Multiplicative depth of the circuit: 1 for scores, 3 with the sigmoid polynomial."""
        return 3 if self.sigmoid is not None else 1

    @property
    def scale(self) -> float:
        return float(2**self.scale_bits)

    @property
    def slots(self) -> int:
        return self.poly_modulus_degree // 2

    @property
    def block(self) -> int:
        """Slots per output block in single mode: the feature count rounded up to 2^k."""
        return _next_pow2(self.n_features)

    @property
    def supports_single(self) -> bool:
        return self.n_outputs * self.block <= self.slots

    @property
    def galois_steps(self) -> tuple[int, ...]:
        """Left rotations single mode needs (rotate-and-sum inside each block)."""
        if not self.supports_single:
            return ()
        return tuple(1 << i for i in reversed(range(int(math.log2(self.block)))))

    @property
    def needs_relin_keys(self) -> bool:
        return self.sigmoid is not None

    @property
    def security_bits(self) -> int:
        return 128

    def max_ciphertext_bytes(self) -> int:
        """Upper bound of one serialized fresh ciphertext (uncompressed, plus slack)."""
        return 2 * (len(self.coeff_mod_bit_sizes) - 1) * self.poly_modulus_degree * 8 + 4096

    def max_context_bytes(self, *, single: bool) -> int:
        """Upper bound of a serialized public context holding exactly the needed keys."""
        n, levels = self.poly_modulus_degree, len(self.coeff_mod_bit_sizes)
        public_key = 2 * levels * n * 8
        switch_key = (levels - 1) * 2 * levels * n * 8
        n_keys = int(self.needs_relin_keys) + (len(self.galois_steps) if single else 0)
        return public_key + n_keys * switch_key + 65_536

    def predict(self, scores: Any) -> list:
        return predict_from_scores(self.kind, self.classes, scores)

    def probabilities(self, scores: Any) -> np.ndarray:
        return probabilities_from_scores(self.probability, scores)

    # --- construction and serialization --------------------------------------------

    @classmethod
    def for_model(cls, model: LinearHEModel, *, sigmoid: SigmoidApprox | None = None) -> HEParams:
        """The smallest preset whose depth fits the model (and the optional sigmoid)."""
        n, bits, scale_bits = SIGMOID_PRESET if sigmoid is not None else LINEAR_PRESET
        return cls(
            poly_modulus_degree=n,
            coeff_mod_bit_sizes=bits,
            scale_bits=scale_bits,
            n_features=model.n_features,
            n_outputs=model.n_outputs,
            kind=model.kind,
            classes=model.classes,
            probability=model.probability,
            sigmoid=sigmoid,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": "garrison-he-params",
            "version": 1,
            "scheme": "CKKS",
            "poly_modulus_degree": self.poly_modulus_degree,
            "coeff_mod_bit_sizes": list(self.coeff_mod_bit_sizes),
            "scale_bits": self.scale_bits,
            "security_bits": self.security_bits,
            "max_coeff_bits": MAX_COEFF_BITS[self.poly_modulus_degree],
            "depth": self.depth,
            "n_features": self.n_features,
            "n_outputs": self.n_outputs,
            "kind": self.kind,
            "classes": None if self.classes is None else list(self.classes),
            "probability": self.probability,
            "sigmoid": None if self.sigmoid is None else self.sigmoid.to_dict(),
            "single": {
                "supported": self.supports_single,
                "block": self.block,
                "galois_steps": list(self.galois_steps),
            },
            "batch": {"capacity": self.slots},
        }

    @classmethod
    def from_dict(cls, data: Any) -> HEParams:
        if not isinstance(data, dict) or data.get("format") != "garrison-he-params":
            raise InvalidInput("not garrison HE parameters")
        if data.get("version") != 1 or data.get("scheme") != "CKKS":
            raise InvalidInput("unsupported HE parameters version or scheme")
        try:
            params = cls(
                poly_modulus_degree=int(data["poly_modulus_degree"]),
                coeff_mod_bit_sizes=tuple(int(b) for b in data["coeff_mod_bit_sizes"]),
                scale_bits=int(data["scale_bits"]),
                n_features=int(data["n_features"]),
                n_outputs=int(data["n_outputs"]),
                kind=str(data["kind"]),
                classes=None if data.get("classes") is None else tuple(data["classes"]),
                probability=data.get("probability"),
                sigmoid=None if data.get("sigmoid") is None
                else SigmoidApprox.from_dict(data["sigmoid"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInput("malformed HE parameters") from exc
        if params.to_dict() != data:
            raise InvalidInput("HE parameters carry inconsistent derived fields")
        return params

    def fingerprint(self) -> str:
        """``sha256:<hex>`` of the canonical JSON form; names the parameter set on the wire."""
        body = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return "sha256:" + hashlib.sha256(body.encode()).hexdigest()
