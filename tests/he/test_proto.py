"""The strict protobuf reader/writer that stands between the network and TenSEAL."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tenseal as ts

from garrison.he import _proto, _seal

VECTORS = json.loads((Path(__file__).parents[1] / "vectors" / "he" / "envelopes.json").read_text())


@pytest.mark.parametrize("case", VECTORS["valid"], ids=lambda c: c["name"])
def test_valid_envelopes(case: dict) -> None:
    message = _proto.decode_vector(bytes.fromhex(case["hex"]))
    assert message.sizes == tuple(case["sizes"])
    assert message.ciphertexts == tuple(bytes.fromhex(c) for c in case["ciphertexts"])
    assert message.scale == case["scale"]
    assert (_proto.encode_vector(message).hex() == case["hex"]) is case["canonical"]


@pytest.mark.parametrize("case", VECTORS["invalid"], ids=lambda c: c["name"])
def test_invalid_envelopes(case: dict) -> None:
    with pytest.raises(_proto.ProtoError, match=case["error"]):
        _proto.decode_vector(bytes.fromhex(case["hex"]))


@pytest.fixture(scope="module")
def context() -> ts.Context:
    context = ts.context(ts.SCHEME_TYPE.CKKS, 8192, coeff_mod_bit_sizes=[60, 40, 60], n_threads=1)
    context.global_scale = 2.0**40
    return context


def test_tenseal_vectors_are_read_and_ours_are_read_by_tenseal(context: ts.Context) -> None:
    values = np.arange(20, dtype=float) / 7
    data = ts.ckks_vector(context, values.tolist()).serialize()
    message = _proto.decode_vector(data)
    assert message.sizes == (20,) and len(message.ciphertexts) == 1 and message.scale == 2.0**40
    header = _proto.check_seal_header(message.ciphertexts[0], version=_seal.seal_version(),
                                      what="ciphertext")
    assert header.size == len(message.ciphertexts[0])
    rebuilt = _proto.encode_vector(_proto.VectorMessage((8,), message.ciphertexts, 2.0**40))
    decrypted = ts.ckks_vector_from(context, rebuilt).decrypt()
    np.testing.assert_allclose(decrypted, values[:8], atol=1e-6)


def test_context_messages_round_trip(context: ts.Context) -> None:
    full = _proto.decode_context(context.serialize(save_secret_key=True))
    assert full.secret_key and full.private_flags["relin"] is True
    public = context.serialize(save_secret_key=False, save_galois_keys=False)
    message = _proto.decode_context(public)
    assert message.secret_key == b"" and message.relin_keys and message.galois_keys == b""
    assert message.scale == 2.0**40 and message.encryption_type == 0
    rebuilt = _proto.encode_public_context(full)  # The writer drops the secret key.
    assert full.secret_key not in rebuilt
    assert not ts.context_from(rebuilt).is_private()
    loaded = ts.context_from(_proto.encode_public_context(message))
    assert not loaded.is_private() and loaded.has_relin_keys()
    assert message.encryption_parameters == _seal.parameters_blob(8192, (60, 40, 60))


def test_seal_header_checks() -> None:
    good = _seal.parameters_blob(8192, (60, 40, 60))
    version = _seal.seal_version()
    assert _proto.check_seal_header(good, version=version, what="x").size == len(good)
    with pytest.raises(_proto.ProtoError, match=r"SEAL 3\.5"):
        _proto.check_seal_header(good[:3] + b"\x03\x05" + good[5:], version=version, what="x")
    with pytest.raises(_proto.ProtoError, match="shorter"):
        _proto.check_seal_header(good[:15], version=version, what="x")
    with pytest.raises(_proto.ProtoError, match="compression"):
        _proto.check_seal_header(good[:5] + b"\x07" + good[6:], version=version, what="x")
    assert _seal.parameters_of(good) == (8192, (60, 40, 60))


def test_galois_elements_are_seals() -> None:
    # SEAL: the element of a left rotation by k is 3^k mod 2N; negative steps wrap.
    assert _seal.galois_element(1, 8192) == 3
    assert _seal.galois_element(16, 8192) == pow(3, 16, 16384)
    assert _seal.galois_element(-1, 8192) == pow(3, 4095, 16384)
    with pytest.raises(ValueError):
        _seal.galois_element(4096, 8192)
