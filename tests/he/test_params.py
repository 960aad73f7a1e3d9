"""Parameter choice, the 128-bit security table, and the parameters document."""

from __future__ import annotations

import json

import numpy as np
import pytest

from garrison.errors import InvalidInput
from garrison.he import (
    LINEAR_PRESET,
    MAX_COEFF_BITS,
    SIGMOID_PRESET,
    HEParams,
    LinearHEModel,
    SigmoidApprox,
    _seal,
)


def _model(n_features: int = 30, n_outputs: int = 1) -> LinearHEModel:
    if n_outputs == 1:
        return LinearHEModel(np.ones((1, n_features)), [0.0], "binary", (0, 1), "sigmoid")
    classes = tuple(range(n_outputs))
    return LinearHEModel(np.ones((n_outputs, n_features)), np.zeros(n_outputs), "multiclass",
                         classes, "softmax")


def test_the_security_table_is_seals() -> None:
    """Our table (HomomorphicEncryption.org, 128-bit, ternary secret) is the one SEAL enforces."""
    assert {n: _seal.max_coeff_bits(n) for n in MAX_COEFF_BITS} == MAX_COEFF_BITS


@pytest.mark.parametrize("preset", [LINEAR_PRESET, SIGMOID_PRESET])
def test_the_presets_meet_128_bit_security(preset) -> None:
    n, bits, _ = preset
    assert sum(bits) <= MAX_COEFF_BITS[n]
    assert _seal.make_context(n, bits).parameters_set()


def test_parameters_follow_the_depth() -> None:
    linear = HEParams.for_model(_model())
    assert (linear.depth, linear.coeff_mod_bit_sizes, linear.scale_bits) == (1, (60, 40, 60), 40)
    assert not linear.needs_relin_keys
    sigmoid = HEParams.for_model(_model(), sigmoid=SigmoidApprox.fit())
    assert (sigmoid.depth, len(sigmoid.coeff_mod_bit_sizes) - 2) == (3, 3)
    assert sigmoid.needs_relin_keys and sum(sigmoid.coeff_mod_bit_sizes) == 218


@pytest.mark.parametrize("kw, message", [
    ({"coeff_mod_bit_sizes": (60, 60, 60, 60)}, "exceed the 128-bit security bound 218"),
    ({"poly_modulus_degree": 3000}, "poly_modulus_degree"),
    ({"coeff_mod_bit_sizes": (60, 40)}, "at least three"),
    ({"scale_bits": 30}, "rescaling primes"),
    ({"coeff_mod_bit_sizes": (60, 40, 50)}, "special prime"),
    ({"n_outputs": 2}, "n_outputs"),
])
def test_unsafe_or_inconsistent_parameters_are_refused(kw: dict, message: str) -> None:
    base = HEParams.for_model(_model())
    fields = {name: getattr(base, name) for name in base.__dataclass_fields__} | kw
    with pytest.raises(InvalidInput, match=message):
        HEParams(**fields)


def test_depth_must_fit_the_moduli() -> None:
    base = HEParams.for_model(_model())
    fields = {name: getattr(base, name) for name in base.__dataclass_fields__}
    with pytest.raises(InvalidInput, match="allow depth 1; the model needs 3"):
        HEParams(**fields | {"sigmoid": SigmoidApprox.fit()})


def test_single_mode_layout() -> None:
    params = HEParams.for_model(_model(30, 1))
    assert (params.block, params.galois_steps) == (32, (16, 8, 4, 2, 1))
    assert params.supports_single
    wide = HEParams.for_model(_model(13, 3))
    assert (wide.block, wide.galois_steps) == (16, (8, 4, 2, 1))
    assert HEParams.for_model(_model(1, 1)).galois_steps == ()
    too_big = HEParams.for_model(_model(3000, 2))  # 2 x 4096 slots > 4096.
    assert not too_big.supports_single and too_big.galois_steps == ()


def test_the_document_round_trips_and_is_checked() -> None:
    params = HEParams.for_model(_model(13, 3), sigmoid=None)
    doc = json.loads(json.dumps(params.to_dict()))
    assert HEParams.from_dict(doc) == params
    assert HEParams.from_dict(doc).fingerprint() == params.fingerprint()
    assert doc["security_bits"] == 128 and doc["max_coeff_bits"] == 218
    for change in ({"depth": 2}, {"single": {"supported": True, "block": 8, "galois_steps": []}},
                   {"format": "x"}, {"version": 2}, {"scheme": "BFV"}, {"n_features": "many"}):
        with pytest.raises(InvalidInput):
            HEParams.from_dict(doc | change)


def test_fingerprints_name_the_parameters() -> None:
    a = HEParams.for_model(_model(30, 1))
    b = HEParams.for_model(_model(31, 1))
    c = HEParams.for_model(_model(30, 1), sigmoid=SigmoidApprox.fit())
    assert len({a.fingerprint(), b.fingerprint(), c.fingerprint()}) == 3
    assert a.fingerprint() == HEParams.for_model(_model(30, 1)).fingerprint()
    assert a.fingerprint().startswith("sha256:") and len(a.fingerprint()) == 71
