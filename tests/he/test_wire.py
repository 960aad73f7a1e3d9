"""The JSON wire format: requests, responses and context registrations."""

from __future__ import annotations

import base64
import json

import pytest

from garrison.errors import InvalidInput, PayloadTooLarge
from garrison.he import ContextRegistration, EncryptedRequest, EncryptedResponse, context_id_for
from garrison.he.wire import open_ciphertext

CID = "hectx-" + "ab" * 20
FP = "sha256:" + "0" * 64


def test_request_round_trip_and_shape() -> None:
    request = EncryptedRequest("batch", CID, (b"\x01\x02", b"\x03"), 7, "score")
    doc = json.loads(request.to_json())
    assert doc == {"format": "garrison-he-request", "version": 1, "mode": "batch",
                   "context_id": CID, "n_samples": 7, "output": "score",
                   "ciphertexts": ["AQI=", "Aw=="]}
    assert EncryptedRequest.from_json(request.to_json(), max_bytes=10_000) == request


def test_response_round_trip() -> None:
    response = EncryptedResponse("single", CID, (b"\x00",), 1, 3, "score")
    assert EncryptedResponse.from_json(response.to_json(), max_bytes=10_000) == response
    assert json.loads(response.to_json())["n_outputs"] == 3


def test_registration_is_content_addressed() -> None:
    registration = ContextRegistration(FP, b"public context bytes")
    assert registration.context_id == context_id_for(FP, b"public context bytes")
    assert ContextRegistration.from_json(registration.to_json(), max_bytes=10_000) == registration
    doc = json.loads(registration.to_json())
    doc["context"] = base64.b64encode(b"another context").decode()
    with pytest.raises(InvalidInput, match="content address"):
        ContextRegistration.from_json(json.dumps(doc), max_bytes=10_000)


@pytest.mark.parametrize("change, message", [
    ({"version": 2}, "version"),
    ({"format": "garrison-he-response"}, "not a garrison-he-request"),
    ({"mode": "stream"}, "mode"),
    ({"output": "logits"}, "output"),
    ({"context_id": "ctx-1"}, "context_id"),
    ({"ciphertexts": []}, "non-empty"),
    ({"ciphertexts": ["not base64!"]}, "base64"),
    ({"ciphertexts": [1]}, "base64"),
    ({"n_samples": 0}, "positive"),
    ({"n_samples": True}, "positive"),
    ({"mode": "single", "n_samples": 2}, "one sample"),
])
def test_malformed_requests_are_refused(change: dict, message: str) -> None:
    doc = json.loads(EncryptedRequest("batch", CID, (b"\x01",), 1).to_json()) | change
    with pytest.raises(InvalidInput, match=message):
        EncryptedRequest.from_json(json.dumps(doc), max_bytes=10_000)


def test_size_limits_apply_before_parsing() -> None:
    body = EncryptedRequest("batch", CID, (b"\x01" * 3000,), 1).to_json()
    with pytest.raises(PayloadTooLarge):
        EncryptedRequest.from_json(body, max_bytes=1000)
    with pytest.raises(InvalidInput, match="not JSON"):
        EncryptedRequest.from_json(b"{" * 10, max_bytes=1000)
    with pytest.raises(PayloadTooLarge):
        open_ciphertext(b"\x00" * 101, size=None, max_bytes=100)
