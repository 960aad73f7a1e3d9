"""Keys stay with the client: the server's context is attacked and must not decrypt.

Also: the server admits only public contexts that match the deployment exactly, keeps
them per owner, and bounds its cache.
"""

from __future__ import annotations

import numpy as np
import pytest
import tenseal as ts

from garrison.errors import HEContextNotFound, InvalidHEContext, PayloadTooLarge
from garrison.he import (
    ContextCache,
    EncryptedScorer,
    HEClient,
    HEParams,
    SigmoidApprox,
    _proto,
    _seal,
)
from tests.he.conftest import Deployment


def _tenseal_context(n: int = 8192, bits: tuple[int, ...] = (60, 40, 60), scale: float = 2.0**40,
                     **kw) -> ts.Context:
    context = ts.context(ts.SCHEME_TYPE.CKKS, n, coeff_mod_bit_sizes=list(bits), n_threads=1, **kw)
    context.global_scale = scale
    return context


# --- the server side cannot decrypt ------------------------------------------------------


def test_the_server_context_holds_no_secret_key(cancer_lr: Deployment, cancer) -> None:
    client, scorer = cancer_lr.single, cancer_lr.scorer
    entry = scorer.cache.get(client.context_id, cancer_lr.params)
    server_context = entry.context
    assert server_context.is_public() and not server_context.is_private()
    assert not server_context.has_secret_key()
    with pytest.raises(ValueError, match=r"(?i)secret"):
        server_context.secret_key()
    # Attack 1: decrypt a client's request with everything the server holds.
    request = client.encrypt_single(cancer.X_test[0])
    with pytest.raises(ValueError, match=r"(?i)secret"):
        ts.ckks_vector_from(server_context, request).decrypt()
    # Attack 2: decrypt the server's own result.
    result = scorer.score_single(client.context_id, request)
    with pytest.raises(ValueError, match=r"(?i)secret"):
        ts.ckks_vector_from(server_context, result).decrypt()
    # Attack 3: re-serialize the server context asking for the secret key: there is none.
    dumped = server_context.serialize(save_secret_key=True)
    assert _proto.decode_context(dumped).secret_key == b""
    assert not ts.context_from(dumped).is_private()
    # The client, holding the secret key, does decrypt the same result.
    scores = client.decrypt_scores([result], mode="single")
    np.testing.assert_allclose(scores, cancer_lr.model.scores(cancer.X_test[:1]), atol=1e-3)


def test_the_public_context_carries_no_secret_and_only_needed_keys(cancer_lr: Deployment) -> None:
    params = cancer_lr.params
    secret = _proto.decode_context(
        cancer_lr.single._context.serialize(save_secret_key=True)).secret_key
    assert len(secret) > 1000
    for client in (cancer_lr.single, cancer_lr.batch):
        public = client.public_context_bytes()
        message = _proto.decode_context(public)
        assert message.secret_key == b"" and secret not in public
        assert not ts.context_from(public).is_private()
        assert message.relin_keys == b""  # A linear deployment multiplies no ciphertexts.
    assert _proto.decode_context(cancer_lr.batch.public_context_bytes()).galois_keys == b""
    keys = ts.context_from(cancer_lr.single.public_context_bytes()).galois_keys().data
    n = params.poly_modulus_degree
    assert params.galois_steps == (16, 8, 4, 2, 1)
    assert keys.size() == 5
    assert all(keys.has_key(_seal.galois_element(s, n)) for s in params.galois_steps)
    assert not keys.has_key(_seal.galois_element(32, n))


# --- admission of contexts -----------------------------------------------------------------


def test_a_context_with_the_secret_key_is_refused_and_not_stored(cancer_lr: Deployment) -> None:
    scorer = cancer_lr.scorer
    before = len(scorer.cache)
    leaked = cancer_lr.batch._context.serialize(save_secret_key=True, save_relin_keys=False)
    with pytest.raises(InvalidHEContext, match="secret key"):
        scorer.register_context(leaked, owner="careless")
    assert len(scorer.cache) == before


def test_mismatched_parameters_are_refused_clearly(cancer_lr: Deployment) -> None:
    scorer = cancer_lr.scorer
    other = HEParams.for_model(cancer_lr.model, sigmoid=SigmoidApprox.fit(8.0))
    foreign = HEClient.generate(other, mode="batch")
    with pytest.raises(InvalidHEContext, match="other parameters"):
        scorer.register(foreign.registration())
    with pytest.raises(InvalidHEContext, match=r"N=8192, coefficient bits \[52, 38, 38, 38, 52\]"):
        scorer.register_context(foreign.public_context_bytes())
    bigger = _tenseal_context(16384, (60, 40, 40, 60))
    raw = bigger.serialize(save_secret_key=False, save_relin_keys=False, save_galois_keys=False)
    with pytest.raises(InvalidHEContext, match="N=16384"):
        scorer.register_context(raw)
    rescaled = _tenseal_context(scale=2.0**30)
    raw = rescaled.serialize(save_secret_key=False, save_relin_keys=False, save_galois_keys=False)
    with pytest.raises(InvalidHEContext, match="scale"):
        scorer.register_context(raw)


def test_keys_beyond_the_needed_ones_are_refused(cancer_lr: Deployment) -> None:
    scorer = cancer_lr.scorer
    context = _tenseal_context()
    with_relin = context.serialize(save_secret_key=False, save_galois_keys=False)
    with pytest.raises(InvalidHEContext, match="must not carry relinearization"):
        scorer.register_context(with_relin)
    # Galois keys for other rotations (same count), spliced in as the client SDK would.
    message = _proto.decode_context(context.serialize(save_secret_key=False, save_relin_keys=False))
    keys = ts._ts_cpp.GaloisKeys()
    elements = [_seal.galois_element(s, 8192) for s in (3, 5, 7, 9, 11)]
    _seal.new_keygen(context).create_galois_keys(elements, keys)
    forged = _proto.encode_public_context(
        _proto.ContextMessage(message.encryption_parameters, message.public_key,
                              message.auto_flags, message.scale, b"", _seal.to_bytes(keys), 0))
    with pytest.raises(InvalidHEContext, match=r"exactly those of rotations by \[16, 8, 4, 2, 1\]"):
        scorer.register_context(forged)
    # TenSEAL's default: every power-of-two rotation (about 18 MB): over the size bound.
    context.generate_galois_keys()
    everything = context.serialize(save_secret_key=False, save_relin_keys=False)
    with pytest.raises(PayloadTooLarge):
        scorer.register_context(everything)


def test_symmetric_and_malformed_contexts_are_refused(cancer_lr: Deployment) -> None:
    scorer = cancer_lr.scorer
    symmetric = _tenseal_context(encryption_type=ts.ENCRYPTION_TYPE.SYMMETRIC)
    raw = symmetric.serialize(save_secret_key=False, save_relin_keys=False)
    with pytest.raises(InvalidHEContext):
        scorer.register_context(raw)
    public = cancer_lr.batch.public_context_bytes()
    for bad in (b"", b"\x00" * 100, public[:1000], public[:-1], public + b"\x00",
                np.random.default_rng(1).bytes(5000)):
        with pytest.raises(InvalidHEContext):
            scorer.register_context(bad)


def test_a_context_needs_relinearization_keys_when_the_sigmoid_is_on(cancer_lr: Deployment) -> None:
    params = HEParams.for_model(cancer_lr.model, sigmoid=SigmoidApprox.fit(8.0))
    scorer = EncryptedScorer(cancer_lr.model, params)
    context = _tenseal_context(8192, params.coeff_mod_bit_sizes, params.scale)
    raw = context.serialize(save_secret_key=False, save_relin_keys=False, save_galois_keys=False)
    with pytest.raises(InvalidHEContext, match="needs relinearization keys"):
        scorer.register_context(raw)


# --- the cache -------------------------------------------------------------------------------


def test_contexts_are_per_owner(cancer_lr: Deployment, cancer) -> None:
    scorer, client = cancer_lr.scorer, cancer_lr.batch
    assert scorer.register(client.registration(), owner="alice") == client.context_id
    request = client.request_batch(cancer.X_test[:3])
    scorer.handle(request, owner="alice")
    with pytest.raises(HEContextNotFound):
        scorer.handle(request, owner="mallory")


def test_the_cache_is_a_bounded_lru(cancer_lr: Deployment) -> None:
    params = cancer_lr.params
    clients = [HEClient.generate(params, mode="batch") for _ in range(3)]
    size = len(clients[0].public_context_bytes())
    cache = ContextCache(max_entries=2, max_bytes=10 * size)
    ids = [cache.register(c.public_context_bytes(), params) for c in clients[:2]]
    cache.get(ids[0], params)  # Touch the first: the second is now the least recent.
    ids.append(cache.register(clients[2].public_context_bytes(), params))
    assert len(cache) == 2
    cache.get(ids[0], params)
    with pytest.raises(HEContextNotFound):
        cache.get(ids[1], params)
    # Registering again is idempotent and costs no new entry.
    assert cache.register(clients[2].public_context_bytes(), params) == ids[2]
    assert len(cache) == 2
    by_bytes = ContextCache(max_entries=10, max_bytes=2 * size + size // 2)
    for c in clients:
        by_bytes.register(c.public_context_bytes(), params)
    assert len(by_bytes) == 2 and by_bytes.total_bytes <= by_bytes.max_bytes
    tiny = ContextCache(max_context_bytes=size - 1)
    with pytest.raises(PayloadTooLarge):
        tiny.register(clients[0].public_context_bytes(), params)


def test_a_context_is_bound_to_its_parameters(cancer_lr: Deployment) -> None:
    """A context id registered through one deployment is not usable by another one."""
    cache = ContextCache()
    first = EncryptedScorer(cancer_lr.model, cancer_lr.params, cache=cache)
    doubled = type(cancer_lr.model)(cancer_lr.model.weights * 2, cancer_lr.model.bias,
                                    "binary", cancer_lr.model.classes, "sigmoid")
    other_params = HEParams.for_model(doubled, sigmoid=SigmoidApprox.fit(4.0))
    second = EncryptedScorer(doubled, other_params, cache=cache)
    context_id = first.register(cancer_lr.batch.registration())
    with pytest.raises(InvalidHEContext, match="other parameters"):
        cache.get(context_id, second.params)
