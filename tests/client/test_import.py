"""The SDK stays light: importing it loads neither the registry nor the data stack."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from garrison.client import GarrisonClient
from garrison.errors import InvalidInput

ROOT = Path(__file__).parent.parent.parent
KEY = "gk_0123456789ab_" + "s" * 43

# Runs in a fresh interpreter: the import must not drag in the registry, and the rule
# the client checks names against must still hold there (before any request is sent).
_PROBE = """
import json, sys
import garrison.client
loaded = [m for m in ("pandas", "sklearn", "garrison.registry") if m in sys.modules]
import httpx
from garrison.errors import InvalidInput
sent = []
def handler(request):
    sent.append(str(request.url))
    return httpx.Response(200, json={"versions": []})
client = garrison.client.GarrisonClient(
    "http://garrison.test", "gk_0123456789ab_" + "s" * 43,
    transport=httpx.MockTransport(handler))
refused = False
try:
    client.list_versions("Bad Name")
except InvalidInput:
    refused = True
print(json.dumps({"loaded": loaded, "refused": refused, "sent": sent}))
"""


def test_import_does_not_load_the_registry_or_the_data_stack() -> None:
    result = subprocess.run([sys.executable, "-c", _PROBE], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["loaded"] == [], f"importing garrison.client loaded {report['loaded']}"
    assert report["refused"] is True
    assert report["sent"] == []


@pytest.mark.parametrize("name", ["Bad Name", "../x", "-x", "", "a" * 65, "fraud\n", "Fraud"])
def test_bad_model_name_is_refused_before_any_request(name: str) -> None:
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json={"versions": []})

    client = GarrisonClient("http://garrison.test", KEY, transport=httpx.MockTransport(handler))
    with client:
        for call in (lambda: client.list_versions(name), lambda: client.show(name, 1),
                     lambda: client.approve(name, 1), lambda: client.rollback(name),
                     lambda: client.download(name, 1)):
            with pytest.raises(InvalidInput):
                call()
    assert sent == []
