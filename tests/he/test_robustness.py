"""Malformed, truncated, tampered and mismatched ciphertexts get a clear error, never a crash."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tenseal as ts

from garrison.errors import (
    DecryptionFailed,
    HEContextNotFound,
    InvalidCiphertext,
    InvalidHEContext,
    PayloadTooLarge,
    UnsupportedModel,
)
from garrison.he import EncryptedRequest, HEClient, HEParams, SigmoidApprox, _proto
from tests.he.conftest import Deployment


def _envelope(data: bytes) -> _proto.VectorMessage:
    return _proto.decode_vector(data)


def _rewrap(data: bytes, *, blob: bytes | None = None, sizes: tuple[int, ...] | None = None,
            scale: float | None = None, extra: tuple[bytes, ...] = ()) -> bytes:
    message = _envelope(data)
    return _proto.encode_vector(_proto.VectorMessage(
        sizes if sizes is not None else message.sizes,
        (blob if blob is not None else message.ciphertexts[0], *extra),
        scale if scale is not None else message.scale,
    ))


@pytest.fixture(scope="module")
def sample(cancer_lr: Deployment, cancer) -> bytes:
    return cancer_lr.single.encrypt_single(cancer.X_test[0])


def test_the_untampered_sample_is_accepted(cancer_lr: Deployment, sample: bytes) -> None:
    cancer_lr.scorer.score_single(cancer_lr.single.context_id, sample)


def _header_variants(blob: bytes) -> dict[str, bytes]:
    magic, size, rest = blob[:2], blob[8:16], blob[16:]
    return {
        "magic": b"SE" + blob[2:],
        "header size": blob[:2] + b"\x11" + blob[3:],
        "version": blob[:3] + b"\x03" + blob[4:],
        "compression": blob[:5] + b"\x09" + blob[6:],
        "reserved": blob[:6] + b"\x01\x00" + blob[8:],
        "size field": blob[:8] + struct.pack("<Q", len(blob) + 1) + rest,
        "truncated": blob[:-1],
        "trailing": blob + b"\x00",
        "header only": blob[:16],
        "empty": b"",
        "body bytes": magic + size,
    }


@pytest.mark.parametrize("case", sorted(_header_variants(b"\x00" * 40)))
def test_a_broken_seal_header_is_refused(cancer_lr: Deployment, sample: bytes, case: str) -> None:
    blob = _envelope(sample).ciphertexts[0]
    with pytest.raises(InvalidCiphertext, match="malformed"):
        cancer_lr.scorer.score_single(cancer_lr.single.context_id,
                                      _rewrap(sample, blob=_header_variants(blob)[case]))


def test_a_broken_envelope_is_refused(cancer_lr: Deployment, sample: bytes) -> None:
    score = lambda data: cancer_lr.scorer.score_single(cancer_lr.single.context_id, data)  # noqa: E731
    blob = _envelope(sample).ciphertexts[0]
    cases = {
        "two ciphertexts": _rewrap(sample, extra=(blob[:32],)),
        "no size": _rewrap(sample, sizes=()),
        "wrong size": _rewrap(sample, sizes=(31,)),
        "truncated envelope": sample[: len(sample) // 2],
        "unknown field": sample + b"\x20\x01",
        "not protobuf": b"\xff" * 64,
    }
    for name, data in cases.items():
        with pytest.raises(InvalidCiphertext):
            score(data)
        assert name  # Each case has a name for the failure report.
    with pytest.raises(PayloadTooLarge):
        score(sample + b"\x00" * cancer_lr.params.max_ciphertext_bytes())


def test_wrong_scale_is_refused(cancer_lr: Deployment, cancer) -> None:
    client, scorer = cancer_lr.single, cancer_lr.scorer
    p = cancer_lr.params
    packed = np.zeros(p.block)
    packed[: p.n_features] = cancer.X_test[0]
    odd = ts.ckks_vector(client._context, packed.tolist(), scale=2.0**30).serialize()
    with pytest.raises(InvalidCiphertext, match="declares scale"):
        scorer.score_single(client.context_id, odd)
    # The envelope lies about the scale: the check after loading catches it.
    with pytest.raises(InvalidCiphertext, match="scale is not"):
        scorer.score_single(client.context_id, _rewrap(odd, scale=2.0**40))


def test_ciphertexts_that_are_not_fresh_are_refused(cancer_lr: Deployment, sample: bytes) -> None:
    client, scorer = cancer_lr.single, cancer_lr.scorer
    result = scorer.score_single(client.context_id, sample)  # Rescaled: one level down.
    with pytest.raises(InvalidCiphertext, match="declares scale"):
        scorer.score_single(client.context_id, result)
    with pytest.raises(InvalidCiphertext, match="not a fresh"):
        scorer.score_single(client.context_id, _rewrap(result, scale=2.0**40))
    context = client._context.copy()
    context.auto_relin = context.auto_rescale = False
    squared = ts.ckks_vector_from(context, sample)
    squared.mul_(squared)  # Three polynomials, scale 2^80: larger than any fresh ciphertext.
    with pytest.raises((InvalidCiphertext, PayloadTooLarge)):
        scorer.score_single(client.context_id, squared.serialize())


def test_ciphertexts_for_other_parameters_are_refused(cancer_lr: Deployment, cancer) -> None:
    scorer, client = cancer_lr.scorer, cancer_lr.single
    other = HEClient.generate(
        HEParams.for_model(cancer_lr.model, sigmoid=SigmoidApprox.fit(8.0)), mode="batch")
    foreign = other.encrypt_batch(cancer.X_test[:5])
    with pytest.raises((InvalidCiphertext, PayloadTooLarge)):
        scorer.score_batch(client.context_id, foreign)
    context = ts.context(ts.SCHEME_TYPE.CKKS, 8192, coeff_mod_bit_sizes=[60, 40, 40, 60])
    context.global_scale = 2.0**40
    packed = np.zeros(cancer_lr.params.block)
    wrong_chain = ts.ckks_vector(context, packed.tolist()).serialize()
    with pytest.raises((InvalidCiphertext, PayloadTooLarge)):
        scorer.score_single(client.context_id, wrong_chain)


def test_batch_shape_errors(cancer_lr: Deployment, cancer) -> None:
    client, scorer = cancer_lr.batch, cancer_lr.scorer
    cts = client.encrypt_batch(cancer.X_test[:10])
    with pytest.raises(InvalidCiphertext, match="one ciphertext per feature"):
        scorer.score_batch(client.context_id, cts[:-1])
    mixed = cts[:-1] + client.encrypt_batch(cancer.X_test[:11])[-1:]
    with pytest.raises(InvalidCiphertext, match="declares 11 slots; expected 10"):
        scorer.score_batch(client.context_id, mixed)
    with pytest.raises(InvalidCiphertext, match="expected 12"):
        scorer.handle(EncryptedRequest("batch", client.context_id, tuple(cts), 12))
    huge = [_rewrap(ct, sizes=(10**7,)) for ct in cts]
    with pytest.raises(InvalidCiphertext, match="1 to 4096 slots"):
        scorer.score_batch(client.context_id, huge)


def test_mode_and_context_errors(cancer_lr: Deployment, sample: bytes) -> None:
    scorer = cancer_lr.scorer
    with pytest.raises(InvalidHEContext, match="batch mode"):
        scorer.score_single(cancer_lr.batch.context_id, sample)
    with pytest.raises(HEContextNotFound):
        scorer.score_single("hectx-" + "0" * 40, sample)
    with pytest.raises(UnsupportedModel, match="no server-side sigmoid"):
        scorer.score_single(cancer_lr.single.context_id, sample, output="probability")


def test_a_ciphertext_under_another_key_is_undetectable_and_decrypts_to_noise(
        cancer_lr: Deployment, cancer) -> None:
    """Documented limitation: same parameters, another key pair; the result is noise."""
    stranger = HEClient.generate(cancer_lr.params, mode="single")
    request = stranger.encrypt_single(cancer.X_test[0])
    result = cancer_lr.scorer.score_single(cancer_lr.single.context_id, request)
    garbage = cancer_lr.single.decrypt_scores([result], mode="single")
    assert np.abs(garbage - cancer_lr.model.scores(cancer.X_test[:1])).max() > 1e3


def test_the_client_refuses_a_tampered_response(cancer_lr: Deployment, sample: bytes) -> None:
    client = cancer_lr.single
    result = cancer_lr.scorer.score_single(client.context_id, sample)
    blob = _envelope(result).ciphertexts[0]
    for bad in (result[:100], _rewrap(result, blob=blob[:-10]), _rewrap(result, sizes=(3,)), b""):
        with pytest.raises(DecryptionFailed):
            client.decrypt_scores([bad], mode="single")


FUZZ = textwrap.dedent('''
    import json, sys
    import numpy as np
    from garrison.errors import GarrisonError
    from garrison.he import EncryptedScorer, HEClient, HEParams, LinearHEModel

    rng = np.random.default_rng(int(sys.argv[1]))
    model = LinearHEModel(rng.normal(size=(1, 30)), [0.5], "binary", (0, 1), "sigmoid")
    params = HEParams.for_model(model)
    scorer = EncryptedScorer(model, params)
    client = HEClient.generate(params, mode="single")
    cid = scorer.register(client.registration())
    sample = client.encrypt_single(rng.normal(size=30))
    public = client.public_context_bytes()
    request = client.request_single(rng.normal(size=30)).to_json()
    result = scorer.score_single(cid, sample)

    def mutate(data):
        kind = rng.integers(0, 4)
        if kind == 0:
            return rng.bytes(int(rng.integers(0, 2 * len(data))))
        if kind == 1:
            return data[: int(rng.integers(0, len(data)))]
        out = bytearray(data)
        window = 96 if kind == 2 else len(out)  # Headers and framing, or anywhere.
        for _ in range(int(rng.integers(1, 6))):
            out[int(rng.integers(0, min(window, len(out))))] = int(rng.integers(0, 256))
        return bytes(out)

    targets = {
        "ciphertext": lambda d: scorer.score_single(cid, d),
        "context": lambda d: scorer.register_context(d, owner="fuzz"),
        "request": lambda d: scorer.handle_json(d),
        "response": lambda d: client.decrypt_scores([d], mode="single"),
    }
    seeds = {"ciphertext": sample, "context": public, "request": request, "response": result}
    counts = {}
    for i in range(int(sys.argv[2])):
        name = list(targets)[i % len(targets)]
        try:
            targets[name](mutate(seeds[name]))
            outcome = "accepted"
        except GarrisonError as exc:
            outcome = exc.code
        counts[name + ":" + outcome] = counts.get(name + ":" + outcome, 0) + 1
    print(json.dumps(counts))
''')


def test_fuzzed_inputs_never_crash_the_process() -> None:
    """Random, truncated and corrupted bytes in a subprocess: a segfault fails this test."""
    run = subprocess.run([sys.executable, "-c", FUZZ, "20240611", "160"],
                         capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, f"worker died ({run.returncode}): {run.stderr[-2000:]}"
    counts = json.loads(run.stdout.strip().splitlines()[-1])
    print("\nfuzz outcomes:", counts)
    assert sum(counts.values()) == 160
    refused = sum(n for key, n in counts.items() if not key.endswith(":accepted"))
    assert refused >= 100  # Most mutations are caught; accepted ones are CKKS's malleability.
