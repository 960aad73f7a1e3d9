"""The console attacked: CSRF on every form, stored XSS through every user-controlled
string a page shows, headers on every page (CSP, clickjacking), and the role table."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from starlette.routing import Mount

from garrison.audit import AuditQuery
from garrison.authz import allowed
from garrison.errors import InvalidInput
from garrison.serving.alerts import AlertRecord
from garrison.serving.decisions import DecisionRecord
from garrison.web.console import CONSOLE_HEADERS, NAV
from tests.web.console.helpers import XSS, assert_inert
from tests.web.helpers import model_bytes

CONSOLE = Path(__file__).parents[3] / "src" / "garrison" / "web" / "console"
ALERT_ID = "00000000-0000-0000-0000-000000000001"


SCHEMA = {"features": [{"name": n, "type": "float"} for n in ("a", "b", "c")]}


def _register(inst, who: str = "alice", **metadata) -> int:
    """A version the registry can serve: a three-feature model and its input schema."""
    path = inst.services.settings.home / "upload.pkl"
    path.write_bytes(model_bytes())
    metadata.setdefault("input_schema", SCHEMA)
    v = inst.services.registry.register(inst.people[who], "fraud", path, metadata)
    return v.version


def _seed(inst) -> dict[str, str]:
    """A model in production, one waiting, an alert and a key: a target for every form."""
    services, bob = inst.services, inst.people["bob"]
    v1 = _register(inst)
    services.registry.approve(bob, "fraud", v1, "ok")
    services.registry.promote(bob, "fraud", v1, "production", "go")
    _register(inst)
    services.alerts.sink.add(AlertRecord(ALERT_ID, "extraction-pattern", "mallory", "high",
                                         {"queries": 900}, "2026-01-01T00:00:00.000000Z"))
    key = services.accounts.create_key(inst.people["root"], "bob")
    return {"prefix": key.record.prefix}


def _post_routes(app) -> set[str]:
    [console] = [r for r in app.routes if isinstance(r, Mount)]
    # Sign-in has no session yet: its own double-submit token is attacked in test_auth.
    return {"/console" + r.path for r in console.app.routes
            if "POST" in (r.methods or ())} - {"/console/login"}


FORMS = [
    ("/console/logout", {}),
    ("/console/models/fraud/versions/2/approve", {"reason": "r"}),
    ("/console/models/fraud/versions/2/reject", {"reason": "r"}),
    ("/console/models/fraud/versions/2/promote", {"reason": "r", "stage": "production"}),
    ("/console/models/fraud/versions/1/retire", {"reason": "r"}),
    ("/console/models/fraud/rollback", {"reason": "r", "confirm": "yes"}),
    ("/console/audit/verify", {}),
    ("/console/audit/export", {}),
    (f"/console/alerts/{ALERT_ID}/acknowledge", {}),
    ("/console/accounts/principals", {"name": "zed", "roles": "auditor"}),
    ("/console/accounts/principals/bob/roles", {"op": "grant", "role": "auditor"}),
    ("/console/accounts/principals/bob/disable", {}),
    ("/console/accounts/principals/dan/enable", {}),
    ("/console/accounts/principals/bob/sessions/close", {}),
    ("/console/accounts/keys", {"owner": "bob", "days": "3"}),
    ("/console/accounts/keys/{prefix}/revoke", {}),
]


def test_the_csrf_test_covers_every_form_of_the_console(app) -> None:
    patterns = {p: re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", p) + "$")
                for p in _post_routes(app)}
    covered = {p for p, rx in patterns.items()
               if any(rx.match(path.format(prefix="0" * 12)) for path, _ in FORMS)}
    assert covered == set(patterns)
    assert len(FORMS) == len(patterns)


@pytest.mark.parametrize("token", [None, "", "forged-token"], ids=["missing", "empty", "wrong"])
def test_no_form_works_without_the_sessions_csrf_token(browser, inst, token) -> None:
    names = _seed(inst)
    browser.login(inst.keys["root"])
    store = inst.services.store
    before = [e.seq for e in store.query(AuditQuery(outcome="ok", limit=None))]
    for path, data in FORMS:
        body = dict(data)
        if token is not None:
            body["csrf"] = token
        response = browser.post(path.format(**names), body, csrf=False)
        assert response.status_code == 403, path
        assert "did not come from this console" in response.text
    after = [e.seq for e in store.query(AuditQuery(outcome="ok", limit=None))]
    assert after == before  # Nothing changed, nothing was verified or exported.
    denied = store.query(AuditQuery(action="authenticate", outcome="denied", limit=None))
    assert sum(e.reason == "csrf-token-mismatch" for e in denied) == len(FORMS)
    assert browser.get("/console/models").status_code == 200  # Still signed in.


def test_a_cross_site_post_is_refused_even_with_the_token(browser, inst) -> None:
    _seed(inst)
    browser.login(inst.keys["bob"])
    browser.get("/console/approvals")
    response = browser.post("/console/models/fraud/versions/2/approve", {"reason": "x"},
                            headers={"Sec-Fetch-Site": "cross-site"})
    assert response.status_code == 403
    assert inst.services.registry.get("fraud", 2).stage == "registered"


def _pages() -> list[str]:
    return [path for path, _, _ in NAV] + [
        "/console/models/fraud", "/console/models/fraud/versions/1",
        "/console/models/fraud/rollback", "/console/decisions?request_id=nope",
        "/console/lineage?model=fraud", "/console/monitoring?range=7d",
        "/console/audit?outcome=denied", "/console/no-such-page"]


def _check_headers(response) -> None:
    headers = response.headers
    for name, value in CONSOLE_HEADERS.items():
        assert headers[name] == value, name
    csp = headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "default-src 'none'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp and "script-src" not in csp
    assert headers["x-frame-options"] == "DENY"
    assert headers["cache-control"] == "no-store" or response.url.path.endswith(".css")


def test_every_page_carries_the_csp_and_refuses_framing(browser, inst) -> None:
    _seed(inst)
    for path in ("/console/login", "/console/static/console.css"):
        _check_headers(browser.get(path))
    browser.login(inst.keys["root"])
    for path in _pages():
        response = browser.get(path)
        assert response.status_code in (200, 404), path
        _check_headers(response)
    _check_headers(browser.post("/console/models/fraud/versions/9/approve", {"reason": "r"}))


def test_no_template_marks_anything_safe_and_no_code_builds_markup() -> None:
    for template in (CONSOLE / "templates").glob("*.html"):
        text = template.read_text()
        assert "|safe" not in text.replace(" ", "") and "autoescape false" not in text, template
        assert "<script" not in text and "style=" not in text, template
    for module in CONSOLE.glob("*.py"):
        text = module.read_text()
        assert "Markup" not in text and "markupsafe" not in text, module


@pytest.mark.parametrize("who", ["root", "alice", "bob", "carol", "dan"])
def test_each_role_opens_exactly_the_pages_of_its_actions(open_browser, inst, who) -> None:
    _seed(inst)
    browser = open_browser()
    browser.login(inst.keys[who])
    principal = inst.people[who]
    for path, _, action in NAV:
        expected = 200 if allowed(principal, action) else 403
        assert browser.get(path).status_code == expected, (who, path)
    menu = browser.get("/console/models").text
    for path, label, action in NAV:
        assert (f'href="{path}"' in menu) == allowed(principal, action), (who, label)


def _plant(inst) -> str:
    """Hostile text through every user-controlled string the pages show; returns the id
    of a decision whose explanation names a hostile feature."""
    services, root, bob = inst.services, inst.people["root"], inst.people["bob"]
    schema = {"features": [{"name": XSS, "type": "float"}, {"name": "b", "type": "float"},
                           {"name": "c", "type": "float", "description": XSS}]}
    metadata = {"description": XSS, "tags": {"team": XSS}, "metrics": {XSS: 0.5},
                "input_schema": schema, "framework": XSS[:60]}
    v1 = _register(inst, **metadata)
    services.registry.approve(bob, "fraud", v1, XSS)
    services.registry.promote(bob, "fraud", v1, "production", XSS)
    _register(inst, **metadata)
    services.accounts.create_key(root, "bob", name=XSS)
    services.alerts.sink.add(AlertRecord(ALERT_ID, "extraction-pattern", XSS[:100], "high",
                                         {XSS: XSS}, "2026-01-01T00:00:00.000000Z"))
    services.monitoring.record_drift("fraud", v1, {"drifted": True, "rows_current": 10,
                                                   "features": [{"feature": XSS,
                                                                 "drifted": True,
                                                                 "checks": []}]})
    request_id = "0123456789abcdef0123456789abcdef"
    services.decisions.record_batch([DecisionRecord(
        request_id=request_id, created="2026-01-01T00:00:00.000000Z", caller=XSS[:100],
        model="fraud", version=v1, rows=1, outputs=[XSS], input_policy="full",
        inputs=[[XSS, 1.0, 2.0]], fallback=XSS[:60],
        flags=[{"row": 0, "score": 9.9, "reasons": [XSS]}],
        explanation=[{"method": XSS, "output_space": "probability", "baseline": XSS,
                      "target": XSS, "base_value": 0.1, "output_value": 0.7,
                      "contributions": {XSS: 0.5, "b": -0.2, "c": 0.3}}])])
    return request_id


def test_stored_xss_through_every_string_a_page_shows_is_rendered_inert(browser, inst) -> None:
    request_id = _plant(inst)
    browser.login(inst.keys["root"])
    for path in ("/console/approvals", "/console/models", "/console/models/fraud",
                 "/console/models/fraud/versions/1", "/console/models/fraud/versions/2",
                 "/console/audit", "/console/monitoring", "/console/accounts",
                 "/console/lineage?model=fraud", f"/console/decisions?request_id={request_id}"):
        response = browser.get(path)
        assert response.status_code == 200, path
        if path in ("/console/models", "/console/lineage?model=fraud"):
            continue  # These show no free text, only validated names (checked below).
        assert_inert(response.text)


def test_names_that_pages_show_unescaped_by_design_cannot_carry_markup(inst) -> None:
    """Principal, model and dataset names are validated where they are created, so the
    pages that show only names (the model list, the lineage graph) could not be reached
    by markup even if they failed to escape it (they do escape it)."""
    services, root = inst.services, inst.people["root"]
    with pytest.raises(InvalidInput):
        services.accounts.create_principal(root, XSS)
    path = services.settings.home / "m.pkl"
    path.write_bytes(model_bytes())
    with pytest.raises(InvalidInput):
        services.registry.register(inst.people["alice"], XSS, path, {})
    data = services.settings.home / "d.csv"
    data.write_text("a,b\n1,2\n")
    with pytest.raises(InvalidInput):
        services.datasets.register(inst.people["alice"], data, XSS)
    with pytest.raises(InvalidInput):
        services.registry.register(inst.people["alice"], "fraud", path, {
            "datasets": [{"name": XSS, "version": "1", "digest": "sha256:" + "0" * 64}]})
