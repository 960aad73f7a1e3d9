"""Artifact uploads: both encodings, the scanner's refusal, size caps, and no leftovers."""

from __future__ import annotations

import hashlib
import json

import anyio
import httpx
import pytest

from garrison.audit import AuditQuery
from garrison.web import create_web_app
from garrison.web._upload import safe_filename
from tests.web.helpers import SyncASGITransport, evil_pickle, model_bytes
from tests.web.test_errors import assert_canonical

UPLOAD = "/admin/models/fraud/versions"
OCTET = {"Content-Type": "application/octet-stream"}


def _uploads_left(inst) -> list:
    root = inst.services.settings.home / "uploads"
    return sorted(root.rglob("*")) if root.exists() else []


def test_malicious_pickle_is_refused_and_nothing_is_left(inst, http, tmp_path) -> None:
    marker = tmp_path / "PWNED"
    response = http.post(UPLOAD, content=evil_pickle(marker),
                         headers={**inst.auth("alice"), **OCTET, "X-Request-ID": "evil-1"})
    error = assert_canonical(response, 422, "artifact-refused")
    assert "refused" in error["message"]
    assert not marker.exists()
    assert _uploads_left(inst) == []
    assert not (inst.services.settings.artifacts / "fraud").exists()
    assert http.get("/admin/models", headers=inst.auth("dan")).json() == {"versions": []}
    [event] = inst.services.store.query(AuditQuery(action="register-model-version"))
    assert (event.actor, event.outcome, event.reason, event.request_id) == (
        "alice", "failed", "artifact-refused", "evil-1")


def test_multipart_upload_with_metadata(inst, http) -> None:
    data = model_bytes()
    meta = {"framework": "scikit-learn", "metrics": {"auc": 0.91}, "tags": {"team": "risk"}}
    response = http.post(UPLOAD, headers=inst.auth("alice"),
                         files={"file": ("model.pkl", data, "application/octet-stream")},
                         data={"metadata": json.dumps(meta)})
    assert response.status_code == 201, response.text
    body = response.json()
    assert response.headers["location"] == "/admin/models/fraud/versions/1"
    assert (body["version"], body["stage"], body["registrant"]) == (1, "registered", "alice")
    assert body["digest"] == hashlib.sha256(data).hexdigest() and body["size"] == len(data)
    detail = http.get(response.headers["location"], headers=inst.auth("dan")).json()
    assert detail["metadata"]["metrics"] == {"auc": 0.91}
    assert detail["scan_report"]["name"] == "model.pkl"
    assert detail["manifest"]["payloadType"] == "application/vnd.in-toto+json"
    assert [h["to_stage"] for h in detail["history"]] == ["registered"]
    assert _uploads_left(inst) == []


def test_raw_upload_with_metadata_header(inst, http, tmp_path) -> None:
    response = http.post(UPLOAD, content=model_bytes(), headers={
        **inst.auth("alice"), **OCTET, "X-Garrison-Metadata": '{"framework": "sklearn"}',
        "X-Garrison-Filename": "../../../escape.pkl"})
    assert response.status_code == 201, response.text
    assert response.json()["framework"] == "sklearn"
    detail = http.get(UPLOAD + "/1", headers=inst.auth("dan")).json()
    assert detail["scan_report"]["name"] == "escape.pkl"
    assert not list(tmp_path.rglob("escape.pkl"))
    assert _uploads_left(inst) == []


@pytest.mark.parametrize("presented,expected", [
    ("model.pkl", "model.pkl"),
    ("../../etc/passwd", "passwd"),
    ("C:\\Users\\x\\model.onnx", "model.onnx"),
    ("my model.ONNX", "artifact.onnx"),
    (".hidden", "artifact.hidden"),
    ("..", "artifact"),
    ("", "artifact"),
    (None, "artifact"),
    ("x" * 300 + ".pkl", "artifact.pkl"),
    ("bad\x00name.pkl", "artifact.pkl"),
])
def test_safe_filename(presented, expected) -> None:
    assert safe_filename(presented) == expected


def _multipart(*parts: tuple[str, str | None, bytes], boundary: str = "b0undary") -> bytes:
    out = b""
    for name, filename, payload in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename
                                                     else "")
        out += (f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode()
                + payload + b"\r\n")
    return out + f"--{boundary}--\r\n".encode()


MP = {"Content-Type": "multipart/form-data; boundary=b0undary"}


@pytest.mark.parametrize("body,headers,status", [
    (_multipart(("file", "a.pkl", b"x"), ("file", "b.pkl", b"y")), MP, 400),
    (_multipart(("file", "a.pkl", b"x"), ("owner", None, b"me")), MP, 400),
    (_multipart(("metadata", None, b"{}")), MP, 400),
    (_multipart(("file", "a.pkl", b"x"), ("metadata", None, b"{nope")), MP, 400),
    (_multipart(("file", "a.pkl", b"x"))[:-10], MP, 400),
    (b"garbage without boundaries", MP, 400),
    (_multipart(("file", "a.pkl", b"x")), {"Content-Type": "multipart/form-data"}, 400),
    (_multipart(("file", "a.pkl", b"x"), ("metadata", None, b" " * 2048)), MP, 413),
], ids=["two-files", "unknown-part", "no-file", "metadata-not-json", "truncated",
        "garbage", "no-boundary", "metadata-too-large"])
def test_malformed_multipart_is_refused(inst, body, headers, status) -> None:
    app = create_web_app(inst.services, max_body_bytes=1024)
    transport = SyncASGITransport(app)
    with httpx.Client(transport=transport, base_url="http://testserver") as http:
        response = http.post(UPLOAD, content=body, headers={**inst.auth("alice"), **headers})
    transport.close()
    assert_canonical(response, status, "invalid-input" if status == 400 else "payload-too-large")
    assert _uploads_left(inst) == []


async def _asgi(app, method: str, path: str, headers: dict[str, str], chunks: list[bytes]):
    """Drive the app by hand: count how much of the body it reads before answering."""
    pending = list(chunks)
    reads = {"chunks": 0}
    answer: dict = {"body": b""}

    async def receive():
        if not pending:
            return {"type": "http.disconnect"}
        reads["chunks"] += 1
        chunk = pending.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(pending)}

    async def send(message):
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
        elif message["type"] == "http.response.body":
            answer["body"] += message.get("body", b"")

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "server": ("testserver", 80), "client": ("127.0.0.1", 1),
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
    }
    await app(scope, receive, send)
    return answer["status"], json.loads(answer["body"]), reads["chunks"]


def test_declared_oversize_upload_is_refused_before_reading(inst) -> None:
    app = create_web_app(inst.services, max_upload_bytes=4096)
    headers = {**inst.auth("alice"), **OCTET, "Content-Length": str(10**9)}
    status, body, read = anyio.run(_asgi, app, "POST", UPLOAD, headers, [b"x" * 1024] * 4)
    assert (status, body["error"]["code"], read) == (413, "payload-too-large", 0)
    assert _uploads_left(inst) == []


def test_chunked_oversize_upload_stops_midway(inst) -> None:
    app = create_web_app(inst.services, max_upload_bytes=4096)
    headers = {**inst.auth("alice"), **OCTET}
    chunks = [b"x" * 1024] * 100
    status, body, read = anyio.run(_asgi, app, "POST", UPLOAD, headers, chunks)
    assert (status, body["error"]["code"]) == (413, "payload-too-large")
    assert read == 5  # the fifth kilobyte crosses the cap; nothing more is read
    assert _uploads_left(inst) == []


def test_forbidden_uploader_is_refused_before_the_body_is_read(inst) -> None:
    app = create_web_app(inst.services)
    headers = {**inst.auth("dan"), **OCTET}
    status, body, read = anyio.run(_asgi, app, "POST", UPLOAD, headers, [b"x" * 1024] * 8)
    assert (status, body["error"]["code"], read) == (403, "forbidden", 0)
    status, body, read = anyio.run(_asgi, app, "POST", UPLOAD, OCTET, [b"x" * 1024] * 8)
    assert (status, body["error"]["code"], read) == (401, "unauthenticated", 0)
    assert not (inst.services.settings.home / "uploads").exists()


def test_upload_within_a_raised_cap_succeeds(inst) -> None:
    data = model_bytes()
    app = create_web_app(inst.services, max_upload_bytes=len(data), max_body_bytes=64)
    headers = {**inst.auth("alice"), **OCTET}
    status, body, _ = anyio.run(_asgi, app, "POST", UPLOAD, headers,
                                [data[:100], data[100:]])
    assert (status, body["size"]) == (201, len(data))


@pytest.mark.parametrize("metadata", [
    '{"metrics": {"auc": NaN}}', '{"owner": "me"}', '{"code_commit": 5}', "not json",
])
def test_bad_metadata_header_is_refused_before_the_body(inst, metadata) -> None:
    app = create_web_app(inst.services)
    headers = {**inst.auth("alice"), **OCTET, "X-Garrison-Metadata": metadata}
    status, body, read = anyio.run(_asgi, app, "POST", UPLOAD, headers, [b"x" * 1024] * 4)
    assert (status, body["error"]["code"], read) == (400, "invalid-input", 0)
