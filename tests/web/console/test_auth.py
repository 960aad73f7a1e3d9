"""Signing in and out of the console, attacked: cookies, login CSRF, replay, throttling."""

from __future__ import annotations

from http.cookies import SimpleCookie

import pytest

from garrison.audit import AuditQuery
from garrison.testing import fixed_clock, sqlite_url
from garrison.web import create_web_app
from tests.web.console.helpers import Console
from tests.web.helpers import make_installation


def _cookie(response, name: str):
    for header in response.headers.get_list("set-cookie"):
        jar = SimpleCookie()
        jar.load(header)
        if name in jar:
            return jar[name], header
    raise AssertionError(f"no {name} cookie in {response.headers.get_list('set-cookie')}")


def _events(inst, **filters):
    return inst.services.store.query(AuditQuery(limit=None, **filters))


def test_plain_http_sign_in_sets_an_httponly_strict_cookie(browser, inst) -> None:
    response = browser.login(inst.keys["bob"])
    assert response.status_code == 303 and response.headers["location"] == "/console/"
    morsel, header = _cookie(response, "garrison-session")
    assert morsel["httponly"] and morsel["samesite"] == "strict"
    assert morsel["path"] == "/console" and not morsel["secure"]
    assert "max-age" not in header.lower()  # A browser-session cookie.
    assert morsel.value.startswith("gs1_")
    # The key itself is never set as a cookie or echoed.
    assert inst.keys["bob"] not in " ".join(response.headers.get_list("set-cookie"))


def test_over_https_the_cookie_is_secure_and_host_locked(open_browser, inst) -> None:
    browser = open_browser("https://testserver")
    response = browser.login(inst.keys["bob"])
    morsel, _ = _cookie(response, "__Host-garrison-session")
    assert morsel["secure"] and morsel["httponly"] and morsel["samesite"] == "strict"
    assert morsel["path"] == "/" and not morsel["domain"]
    assert browser.get("/console/models").status_code == 200
    assert browser.get("/console/models").headers["strict-transport-security"]


def test_behind_a_tls_proxy_the_public_url_makes_cookies_secure(tmp_path) -> None:
    inst = make_installation(tmp_path / "home", sqlite_url(tmp_path), fixed_clock())
    services = inst.services
    services.settings = services.settings.model_copy(
        update={"console_public_url": "https://garrison.example"})
    browser = Console(create_web_app(services))
    try:
        page = browser.http.get("/console/login")  # Plain HTTP from the proxy to here.
        login_cookie, _ = _cookie(page, "garrison-login")
        assert login_cookie["secure"]
        token = page.text.split('name="login_token" value="')[1].split('"')[0]
        response = browser.http.post(
            "/console/login", data={"login_token": token, "api_key": inst.keys["bob"]},
            headers={"Cookie": f"garrison-login={login_cookie.value}"})
        morsel, _ = _cookie(response, "__Host-garrison-session")
        assert morsel["secure"] and morsel["path"] == "/"
    finally:
        browser.close()
        services.close()


def test_a_wrong_key_gets_one_message_and_the_reason_goes_to_the_audit_trail(
        browser, inst) -> None:
    response = browser.login(inst.keys["bob"][:-3] + "AAA")
    assert response.status_code == 401
    assert "Sign-in failed" in response.text and "wrong-secret" not in response.text
    assert browser.session_cookie is None
    [event] = _events(inst, action="authenticate", outcome="denied")
    assert event.reason == "wrong-secret" and '"via":"console"' in event.payload


def test_the_sign_in_form_needs_its_own_token_against_login_csrf(browser, inst) -> None:
    response = browser.http.post("/console/login", data={"api_key": inst.keys["bob"]})
    assert response.status_code == 400 and browser.session_cookie is None
    forged = browser.http.post("/console/login", data={
        "api_key": inst.keys["bob"], "login_token": "guessed"},
        headers={"Cookie": "garrison-login=other"})
    assert forged.status_code == 400
    assert _events(inst, action="open-console-session") == []


def test_a_cross_site_sign_in_post_is_refused(browser, inst) -> None:
    page = browser.http.get("/console/login")
    token = page.text.split('name="login_token" value="')[1].split('"')[0]
    response = browser.http.post("/console/login", data={
        "login_token": token, "api_key": inst.keys["bob"]},
        headers={"Sec-Fetch-Site": "cross-site"})
    assert response.status_code == 400 and browser.session_cookie is None


def test_failed_sign_ins_are_throttled(browser, inst) -> None:
    for _ in range(5):
        assert browser.login(inst.keys["bob"][:-3] + "AAA").status_code == 401
    blocked = browser.login(inst.keys["bob"])
    assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) > 0
    assert browser.session_cookie is None
    reasons = [e.reason for e in _events(inst, action="authenticate", outcome="denied")]
    assert reasons == ["wrong-secret"] * 5 + ["sign-in-throttled"]


def test_sign_out_revokes_the_session_and_a_replayed_cookie_is_refused(
        browser, open_browser, inst) -> None:
    browser.login(inst.keys["dan"])
    stolen = browser.session_cookie
    assert browser.get("/console/audit").status_code == 200
    out = browser.post("/console/logout")
    assert out.status_code == 303 and out.headers["location"] == "/console/login"
    attacker = open_browser()
    replay = attacker.http.get("/console/audit", headers={"Cookie": f"garrison-session={stolen}"})
    assert replay.status_code == 303 and replay.headers["location"] == "/console/login"
    [closed] = _events(inst, action="close-console-session")
    assert closed.actor == "dan"
    refused = [e for e in _events(inst, action="authenticate")
               if e.reason == "revoked-session"]
    assert len(refused) == 1 and '"principal":"dan"' in refused[0].payload


def test_signing_in_again_rotates_the_session(browser, open_browser, inst) -> None:
    browser.login(inst.keys["bob"])
    first = browser.session_cookie
    browser.login(inst.keys["bob"])
    second = browser.session_cookie
    assert first and second and first != second
    old = open_browser()
    replay = old.http.get("/console/models", headers={"Cookie": f"garrison-session={first}"})
    assert replay.status_code == 303


def test_a_client_cannot_sign_in_and_a_demoted_person_opens_no_page(
        browser, open_browser, inst) -> None:
    response = browser.login(inst.keys["eve"])
    assert response.status_code == 403 and "may not use the console" in response.text
    assert browser.session_cookie is None
    # Someone who signed in as staff and is then demoted to client opens nothing either.
    demoted = open_browser()
    demoted.login(inst.keys["dan"])
    services, root = inst.services, inst.people["root"]
    services.accounts.grant_role(root, "dan", "client")
    services.accounts.revoke_role(root, "dan", "auditor")
    from garrison.web.console import NAV

    for path, _, _ in NAV:
        page = demoted.get(path)
        assert page.status_code == 403, path
        assert "Not allowed" in page.text
    assert demoted.get("/console/").status_code == 403


def test_pages_without_a_session_send_the_browser_to_sign_in(browser) -> None:
    for path in ("/console/", "/console/approvals", "/console/audit", "/console/accounts"):
        response = browser.get(path)
        assert response.status_code == 303 and response.headers["location"] == "/console/login"


@pytest.mark.parametrize("idle", [True, False])
def test_an_idle_or_expired_session_sends_the_browser_to_sign_in(browser, inst, idle) -> None:
    browser.login(inst.keys["bob"])
    settings = inst.services.settings
    inst.services.clock.advance(settings.console_idle_minutes * 60 if idle
                                else settings.console_session_hours * 3600)
    assert browser.get("/console/models").status_code == 303
