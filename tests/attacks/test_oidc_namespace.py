"""Issue 11, finding 7: in ``serve``, an OIDC token is not an API-key principal, and its
``roles`` claim counts only through the configured mapping.

The gateway is built from settings as ``garrison serve`` builds it; only the identity
provider's JWKS is fetched from a fake (the tokens are really signed and verified).
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from garrison.app import build_gateway, initialize
from garrison.config import load_settings
from garrison.demo import FEATURES, setup_demo
from garrison.errors import ConfigurationError
from garrison.gateway.oidc import OIDCVerifier
from tests.gateway.test_oidc import AUDIENCE, ISSUER, FakeIdP, ManualTime, token
from tests.waiting import HANG_GUARD


def _gateway(tmp_path, role_map: dict[str, str]) -> Iterator[Any]:
    settings = load_settings(home=tmp_path / "home", database_url=None, rate_limit=1e6,
                             rate_burst=10**6, oidc_issuer=ISSUER, oidc_audience=AUDIENCE,
                             oidc_jwks_url="https://idp.example/jwks", oidc_role_map=role_map)
    services, admin, _ = initialize(settings, "root")
    demo = setup_demo(services, admin, config={"detection": "off"})
    app, state = build_gateway(services, settings, refresh_interval=0.2)
    built = state.authenticator._oidc  # As configured from the settings...
    state.authenticator._oidc = OIDCVerifier(  # ...with the fake provider's keys.
        dataclasses.replace(built.config), fetcher=FakeIdP("k1").fetch, clock=ManualTime())
    with TestClient(app) as client:
        yield client, demo, services, state
    services.close()


@pytest.fixture
def plain(tmp_path) -> Iterator[Any]:
    yield from _gateway(tmp_path, {})


@pytest.fixture
def mapped(tmp_path) -> Iterator[Any]:
    yield from _gateway(tmp_path, {"ml-scorers": "client", "ml-auditors": "auditor"})


def _bearer(**claims: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {token('k1', **claims)}"}


def _predict(client: TestClient, headers: dict[str, str], demo: Any) -> Any:
    row = dict(zip(FEATURES, map(float, demo.X[0]), strict=True))
    return client.post("/v1/models/credit-risk/predict", headers=headers,
                       content=json.dumps({"instances": [row]}))


def test_a_token_named_like_a_service_account_is_not_that_account(plain) -> None:
    client, demo, _, _ = plain
    # The API key of scoring-app may call credit-risk ...
    key = {"Authorization": f"Bearer {demo.keys['scoring-app']}"}
    answered = _predict(client, key, demo)
    assert answered.status_code == 200
    # ... a token whose subject is "scoring-app" (even claiming the client role) may not.
    impostor = _predict(client, _bearer(sub="scoring-app", roles=["client"]), demo)
    assert impostor.status_code == 404
    # Nor may it read scoring-app's decision records.
    rid = answered.json()["request_id"]
    record = client.get(f"/v1/decisions/{rid}", headers=_bearer(sub="scoring-app",
                                                                 roles=["auditor"]))
    assert record.status_code == 403


def test_a_roles_claim_without_a_mapping_gives_no_role(plain) -> None:
    client, demo, _, state = plain
    answered = _predict(client, {"Authorization": f"Bearer {demo.keys['scoring-app']}"}, demo)
    rid = answered.json()["request_id"]
    for roles in (["auditor"], ["admin"], "auditor admin"):
        r = client.get(f"/v1/decisions/{rid}", headers=_bearer(sub="eve", roles=roles))
        assert r.status_code == 403, roles
        assert client.get("/metrics", headers=_bearer(sub="eve", roles=roles)).status_code == 403


def test_only_mapped_provider_roles_count(mapped) -> None:
    client, demo, services, _ = mapped
    services.deployments.configure(demo.extra["people"]["bob"], "credit-risk",
                                   {"callers": ["scoring-app", "oidc:team-a"]})
    # Garrison's own role names in the claim are not provider roles: nothing.
    assert _predict(client, _bearer(sub="team-a", roles=["client"]), demo).status_code == 404
    # A mapped provider role, on the caller list under its own namespace: served.
    deadline = time.time() + HANG_GUARD
    while (r := _predict(client, _bearer(sub="team-a", roles=["ml-scorers"]), demo)
           ).status_code != 200:  # The table is rebuilt by the refresh loop.
        assert time.time() < deadline, r.text
        time.sleep(0.1)
    # The same mapped role under another subject is not on the list.
    assert _predict(client, _bearer(sub="team-b", roles=["ml-scorers"]), demo).status_code == 404


def test_a_role_map_naming_an_unknown_role_stops_the_gateway(tmp_path) -> None:
    settings = load_settings(home=tmp_path / "home", database_url=None, oidc_issuer=ISSUER,
                             oidc_audience=AUDIENCE, oidc_jwks_url="https://idp.example/jwks",
                             oidc_role_map={"x": "superuser"})
    services, _, _ = initialize(settings, "root")
    try:
        with pytest.raises(ConfigurationError):
            build_gateway(services, settings)
    finally:
        services.close()
