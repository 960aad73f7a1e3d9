"""The console in a real browser (Debian's Chromium, driven by Playwright), one persona
at a time, plus the attacks a browser is needed for. Screenshots of each step and of
every page are saved as PNG files (``--screenshots DIR``, else under pytest's tmp)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import HTMLResponse
from starlette.routing import Route

from garrison.app import build_console_oidc
from garrison.audit import AuditQuery
from garrison.web import create_web_app
from tests.web.console.browser import VIEWPORT, launch, pages, require_browser, shoot, sign_in
from tests.web.console.fake_oidc import CLIENT_ID, FakeProvider
from tests.web.console.helpers import XSS
from tests.web.console.live import LiveServer, make_tls
from tests.web.console.seed import DECISION_ID, seed

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def chromium() -> Iterator[object]:
    require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch(playwright)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def shots(request: pytest.FixtureRequest, tmp_path_factory) -> Path:
    chosen = request.config.getoption("--screenshots")
    out = Path(chosen) if chosen else tmp_path_factory.mktemp("console-screenshots")
    out.mkdir(parents=True, exist_ok=True)
    return out


def _serve(inst) -> LiveServer:
    return LiveServer(create_web_app(inst.services))


@pytest.fixture
def live(inst, tmp_path) -> Iterator[str]:
    seed(inst, tmp_path / "seed")
    server = _serve(inst)
    yield server.url
    server.stop()


@pytest.fixture
def page(chromium) -> Iterator[object]:
    context = chromium.new_context(viewport=VIEWPORT)
    yield context.new_page()
    context.close()


def _events(inst, **filters):
    return inst.services.store.query(AuditQuery(limit=None, **filters))


def test_the_approver_approves_from_the_queue_and_the_model_reaches_production(
        page, live, inst, shots) -> None:
    sign_in(page, live, inst.keys["bob"])
    assert page.url.endswith("/console/approvals")
    card = page.locator("section.card").filter(has_text="fraud version 2")
    assert card.get_by_text("differs from production").count() == 1  # The schema changed.
    approve = card.locator("form[aria-label='Approve fraud:2']")
    approve.locator("textarea").fill("Holdout AUC up 1.5 points; schema change reviewed")
    page.screenshot(path=str(shots / "persona-approver-queue.png"), full_page=True)
    approve.get_by_role("button", name="Approve fraud:2").click()
    page.get_by_text("Version approved").wait_for()
    promote = page.locator("form[aria-label='Promote fraud:2']")
    promote.get_by_label("Promote to").select_option("production")
    promote.locator("textarea").fill("Release 2026.2")
    promote.get_by_role("button", name="Promote fraud:2").click()
    page.get_by_text("Version promoted").wait_for()
    page.get_by_role("link", name="Models", exact=True).click()
    row = page.locator("tr").filter(has=page.get_by_role("link", name="fraud", exact=True))
    assert "version 2" in row.inner_text()
    page.screenshot(path=str(shots / "persona-approver-production.png"), full_page=True)
    assert inst.services.registry.production("fraud").version == 2
    approved = _events(inst, action="approve-model-version", outcome="ok")
    assert approved[-1].actor == "bob"
    ref = _events(inst, action="open-console-session")[-1]
    assert approved[-1].request_id.split(".")[0] in ref.payload  # Tied to the sign-in.


def test_the_registrant_cannot_approve_their_own_version(chromium, inst, tmp_path,
                                                         shots) -> None:
    seed(inst, tmp_path / "seed", pending_by="carol")  # Carol registers and approves.
    server = _serve(inst)
    context = chromium.new_context(viewport=VIEWPORT)
    try:
        page = context.new_page()
        sign_in(page, server.url, inst.keys["carol"])
        card = page.locator("section.card").filter(has_text="fraud version 2")
        assert "You cannot approve this version" in card.inner_text()
        assert "Four eyes" in card.inner_text()
        assert card.get_by_role("button", name="Approve fraud:2").count() == 0
        page.screenshot(path=str(shots / "persona-registrant-blocked.png"), full_page=True)
        # Forging the form (with a valid CSRF token) is refused by the registry itself.
        csrf = page.locator("input[name=csrf]").first.input_value()
        forged = page.request.post(server.url + "/console/models/fraud/versions/2/approve",
                                   form={"csrf": csrf, "reason": "looks fine to me"})
        assert forged.status == 403 and "registrant cannot approve" in forged.text()
    finally:
        context.close()
        server.stop()
    assert inst.services.registry.get("fraud", 2).stage == "registered"
    [refused] = _events(inst, action="approve-model-version", actor="carol")
    assert (refused.outcome, refused.reason) == ("denied", "four-eyes-violation")


def test_the_auditor_finds_a_decision_by_request_id_and_sees_its_explanation(
        page, live, inst, shots) -> None:
    sign_in(page, live, inst.keys["dan"])
    page.get_by_role("link", name="Decisions").click()
    page.get_by_label("Request id").fill(DECISION_ID)
    page.get_by_role("button", name="Find").click()
    page.get_by_role("heading", name=f"Decision {DECISION_ID}").wait_for()
    chart = page.get_by_role("img", name=re.compile("Feature contributions"))
    assert chart.count() == 1
    assert chart.locator("rect").count() == 3  # One bar per feature.
    for feature in ("amount", "account_age_days", "transactions_24h"):
        assert chart.get_by_text(feature, exact=True).count() == 1
    assert "intact" in page.locator("dl.facts").inner_text()
    assert "checkout-service" in page.locator("dl.facts").inner_text()
    page.screenshot(path=str(shots / "persona-auditor-decision.png"), full_page=True)


def test_the_auditor_verifies_the_chain_and_sees_a_tampered_event_at_its_position(
        page, live, inst, shots) -> None:
    store = inst.services.store
    target = _events(inst, action="approve-model-version", outcome="ok")[0].seq
    with store.engine.begin() as conn:  # Someone with database access edits history.
        conn.exec_driver_sql("UPDATE audit_events SET reason = 'nothing to see' "
                             f"WHERE seq = {target}")
    sign_in(page, live, inst.keys["dan"])
    page.get_by_role("link", name="Audit trail").click()
    page.get_by_role("button", name="Verify now").click()
    alert = page.get_by_role("alert")
    alert.wait_for()
    assert f"broken at position {target}" in alert.inner_text()
    assert "modified" in alert.inner_text()
    page.screenshot(path=str(shots / "persona-auditor-tampered.png"), full_page=True)
    [failed] = _events(inst, action="verify-audit-log", outcome="failed")
    assert failed.actor == "dan" and failed.reason == "modified"


def test_an_admin_creates_a_key_that_works_and_revokes_it(page, live, inst, shots) -> None:
    sign_in(page, live, inst.keys["root"])
    page.get_by_role("link", name="Accounts and keys").click()
    form = page.locator("form[aria-label='Create a key']")
    form.get_by_label("Owner").select_option("bob")
    form.get_by_label("Name").fill("ci-runner")
    form.get_by_label("Valid for (days)").fill("7")
    form.get_by_role("button", name="Create key").click()
    secret = page.locator("#new-key-secret").inner_text().strip()
    assert secret.startswith("gk_")
    page.screenshot(path=str(shots / "persona-admin-key-created.png"), full_page=True)
    api = httpx.get(live + "/admin/models", headers={"Authorization": f"Bearer {secret}"})
    assert api.status_code == 200
    prefix = secret.split("_")[1]
    page.get_by_role("button", name=f"Revoke {prefix}").click()
    page.get_by_text("Key revoked").wait_for()
    page.reload()
    assert page.locator("#new-key-secret").count() == 0  # Shown once, never again.
    after = httpx.get(live + "/admin/models", headers={"Authorization": f"Bearer {secret}"})
    assert after.status_code == 401
    created = _events(inst, action="create-api-key", outcome="ok")[-1]
    revoked = _events(inst, action="revoke-api-key", outcome="ok")[-1]
    assert created.actor == revoked.actor == "root" and secret not in created.payload


def test_stored_xss_stays_inert_in_the_browser(page, inst, tmp_path) -> None:
    from tests.web.console.test_security import _plant

    request_id = _plant(inst)
    server = _serve(inst)
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    try:
        sign_in(page, server.url, inst.keys["root"])
        for path in ("/console/approvals", "/console/models/fraud",
                     "/console/models/fraud/versions/2", "/console/audit",
                     "/console/monitoring", "/console/accounts", "/console/lineage",
                     f"/console/decisions?request_id={request_id}"):
            page.goto(server.url + path)
            assert page.locator("img[src=x]").count() == 0, path
            assert page.locator("main script").count() == 0, path
            if path != "/console/lineage":
                assert page.get_by_text("<script>alert(1)</script>", exact=False).count() > 0
    finally:
        server.stop()
    assert dialogs == []
    assert XSS  # The same payload as the in-process test.


def test_a_page_framed_by_another_site_does_not_render(page, live) -> None:
    attacker = LiveServer(Starlette(routes=[Route("/", lambda request: HTMLResponse(
        f'<h1>Win a prize</h1><iframe id="victim" src="{live}/console/login" '
        'width="800" height="600"></iframe>'))]))
    try:
        page.goto(attacker.url + "/")
        page.wait_for_timeout(500)
        frame = page.frame_locator("#victim")
        assert frame.locator("#api_key").count() == 0
        assert all("/console/login" not in f.url or f.url.startswith("chrome-error")
                   for f in page.frames[1:])
    finally:
        attacker.stop()


def test_the_console_works_from_the_keyboard_alone(page, live, inst) -> None:
    page.goto(live + "/console/login")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    for _ in range(10):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "api_key":
            break
    page.keyboard.type(inst.keys["dan"])
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*/console/models"))
    links = []
    page.keyboard.press("Tab")  # The skip link, then the menu in order.
    for _ in range(12):
        page.keyboard.press("Tab")
        links.append(page.evaluate("document.activeElement.textContent"))
    assert links[:6] == ["Garrison console", "Models", "Audit trail", "Decisions",
                         "Alerts and monitoring", "Lineage"]


def test_oidc_sign_in_in_the_browser(chromium, inst, tmp_path) -> None:
    tls = make_tls(tmp_path / "tls")

    class Late:
        app = None

        async def __call__(self, scope, receive, send):
            await self.app(scope, receive, send)

    late = Late()
    console = LiveServer(late)
    fake = FakeProvider(console.url + "/console/oidc/callback")
    idp = LiveServer(fake.app, tls=tls)
    fake.issuer = idp.url
    settings = inst.services.settings.model_copy(update={
        "oidc_issuer": idp.url, "console_oidc_client_id": CLIENT_ID,
        "console_public_url": console.url, "console_oidc_ca_file": tls.ca})
    inst.services.settings = settings
    late.app = create_web_app(inst.services, oidc=build_console_oidc(settings))
    context = chromium.new_context(viewport=VIEWPORT, ignore_https_errors=True)
    try:
        page = context.new_page()
        page.goto(console.url + "/console/login")
        page.get_by_role("link", name="Sign in with your identity provider").click()
        page.get_by_label("Username").fill("bob")
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(re.compile(r".*/console/approvals"))
        assert "Signed in as bob" in page.locator("header").inner_text()
    finally:
        context.close()
        idp.stop()
        console.stop()


def test_a_screenshot_of_every_page(chromium, live, inst, shots) -> None:
    written = shoot(chromium, live, inst.keys, pages(DECISION_ID), shots)
    assert len(written) == len(pages(DECISION_ID))
    for path in written:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000
