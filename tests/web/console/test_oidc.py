"""Console sign-in with OIDC (authorization code + PKCE) against a local provider that
signs real JWTs, over real TLS; and every way its answer can fail to check out."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from garrison.app import build_console_oidc
from garrison.audit import AuditQuery
from garrison.errors import ConfigurationError
from garrison.web import create_web_app
from tests.web.console.fake_oidc import CLIENT_ID, FakeProvider
from tests.web.console.helpers import Console
from tests.web.console.live import LiveServer, make_tls

CALLBACK = "http://testserver/console/oidc/callback"


@pytest.fixture(scope="module")
def provider(tmp_path_factory) -> Iterator[tuple[FakeProvider, httpx.Client, str]]:
    tls = make_tls(tmp_path_factory.mktemp("idp-tls"))
    fake = FakeProvider(CALLBACK)
    server = LiveServer(fake.app, tls=tls)
    fake.issuer = server.url
    trust = ssl.create_default_context(cafile=str(tls.ca))
    with httpx.Client(verify=trust, follow_redirects=False) as idp:
        yield fake, idp, str(tls.ca)
    server.stop()


@pytest.fixture
def oidc_browser(inst, provider) -> Iterator[Console]:
    fake, _, ca = provider
    fake.mode = ""
    settings = inst.services.settings.model_copy(update={
        "oidc_issuer": fake.issuer, "console_oidc_client_id": CLIENT_ID,
        "console_public_url": "http://testserver", "console_oidc_ca_file": ca})
    inst.services.settings = settings
    console = Console(create_web_app(inst.services, oidc=build_console_oidc(settings)))
    yield console
    console.close()


def _sign_in(browser: Console, idp: httpx.Client, username: str) -> httpx.Response:
    start = browser.get("/console/login/oidc")
    assert start.status_code == 303, start.text
    location = start.headers["location"]
    answer = idp.get(location + "&login_hint=" + username)
    assert answer.status_code == 302, answer.text
    back = answer.headers["location"]
    assert back.startswith(CALLBACK)
    return browser.get(back.removeprefix("http://testserver"))


def _denials(inst) -> list[str]:
    return [e.reason for e in inst.services.store.query(
        AuditQuery(action="authenticate", outcome="denied", limit=None))]


def test_the_login_page_offers_the_provider_and_the_flow_uses_pkce(oidc_browser,
                                                                    provider) -> None:
    assert 'href="/console/login/oidc"' in oidc_browser.get("/console/login").text
    start = oidc_browser.get("/console/login/oidc")
    query = parse_qs(urlsplit(start.headers["location"]).query)
    assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) == 43
    assert query["redirect_uri"] == [CALLBACK] and query["client_id"] == [CLIENT_ID]
    assert "openid" in query["scope"][0].split() and query["nonce"] and query["state"]
    cookie = [c for c in start.headers.get_list("set-cookie") if c.startswith("garrison-oidc=")]
    assert cookie and "HttpOnly" in cookie[0] and "SameSite=lax" in cookie[0]


def test_a_known_person_signs_in_and_gets_garrisons_roles(oidc_browser, provider,
                                                         inst) -> None:
    fake, idp, _ = provider
    landed = _sign_in(oidc_browser, idp, "bob")
    assert landed.status_code == 200 and "Signed in as bob" in landed.text
    assert 'http-equiv="refresh"' in landed.text  # A same-site hop for the Strict cookie.
    assert oidc_browser.session_cookie and oidc_browser.session_cookie.startswith("gs1_")
    page = oidc_browser.get("/console/approvals")
    assert page.status_code == 200 and "Signed in as <strong>bob</strong>" in page.text
    assert oidc_browser.get("/console/audit").status_code == 403  # Bob is no auditor.
    # The provider saw the PKCE verifier, and the code worked exactly once.
    assert fake.token_requests[-1]["code_verifier"]
    [opened] = inst.services.store.query(AuditQuery(action="open-console-session"))
    assert opened.actor == "bob" and '"method":"oidc"' in opened.payload


@pytest.mark.parametrize("mode,reason", [
    ("wrong-nonce", "nonce-mismatch"),
    ("wrong-audience", "wrong-audience"),
    ("wrong-issuer", "wrong-issuer"),
    ("expired", "expired"),
    ("rogue-key", "bad-signature"),
    ("other-party", "wrong-authorized-party"),
])
def test_an_id_token_that_does_not_check_out_opens_nothing(oidc_browser, provider, inst,
                                                           mode, reason) -> None:
    fake, idp, _ = provider
    fake.mode = mode
    landed = _sign_in(oidc_browser, idp, "bob")
    assert landed.status_code == 401 and "failed" in landed.text
    assert oidc_browser.session_cookie is None
    assert _denials(inst)[-1] == reason


def test_a_person_unknown_to_garrison_is_refused(oidc_browser, provider, inst) -> None:
    _, idp, _ = provider
    assert _sign_in(oidc_browser, idp, "mallory").status_code == 401
    assert _denials(inst)[-1] == "unknown-principal"


def test_a_callback_is_single_use_and_bound_to_the_browser_that_started_it(
        oidc_browser, provider, inst, open_browser) -> None:
    _, idp, _ = provider
    start = oidc_browser.get("/console/login/oidc")
    back = idp.get(start.headers["location"] + "&login_hint=bob").headers["location"]
    path = back.removeprefix("http://testserver")
    # Login CSRF: an attacker makes a victim's browser land on the attacker's own code.
    victim = Console(oidc_browser.app)  # The same console, no cookies.
    try:
        assert victim.get(path).status_code == 401
    finally:
        victim.close()
    assert _denials(inst)[-1] == "flow-not-bound-to-browser"
    # The flow was consumed by that attempt: the real browser cannot use it either now.
    assert oidc_browser.get(path).status_code == 401
    assert _denials(inst)[-1] == "unknown-state"


def test_a_provider_error_is_refused_and_recorded(oidc_browser, inst) -> None:
    response = oidc_browser.get("/console/oidc/callback?error=access_denied&state=x")
    assert response.status_code == 401 and _denials(inst)[-1] == "provider-refused"


def test_without_oidc_configured_its_routes_do_not_exist(browser) -> None:
    assert 'href="/console/login/oidc"' not in browser.get("/console/login").text
    assert browser.get("/console/login/oidc").status_code == 404


def test_oidc_needs_the_public_url_for_its_redirect_uri(inst) -> None:
    settings = inst.services.settings.model_copy(update={
        "oidc_issuer": "https://idp.example", "console_oidc_client_id": CLIENT_ID})
    with pytest.raises(ConfigurationError):
        build_console_oidc(settings)
    assert build_console_oidc(inst.services.settings) is None
