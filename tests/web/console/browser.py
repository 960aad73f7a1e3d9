"""Driving Debian's Chromium with Playwright, and the screenshots of every page.

Chromium is the distribution's package (``/usr/bin/chromium``), never a browser that
Playwright downloads. Outside CI a machine without it skips the browser tests; in CI
(``CI=true``) a missing browser fails the run, as a missing database server does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import IN_CI

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
VIEWPORT = {"width": 1280, "height": 800}


def require_browser() -> None:
    problems = []
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        problems.append("the playwright package is not installed")
    if not CHROMIUM.exists():
        problems.append(f"{CHROMIUM} is missing (apt-get install chromium)")
    if problems:
        message = "; ".join(problems)
        if IN_CI:
            pytest.fail(f"{message}; in CI the browser tests must run (see .ci/run)")
        pytest.skip(message)


def launch(playwright: Any) -> Any:
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)


def sign_in(page: Any, base: str, key: str) -> None:
    page.goto(base + "/console/login")
    page.fill("#api_key", key)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_url(re.compile(r".*/console/(?!login).*"))


@dataclass(frozen=True)
class Shot:
    name: str
    who: str
    path: str
    #: A button to press on the page before the picture (for results, not navigation).
    press: str = ""


def pages(decision: str) -> list[Shot]:
    """One picture per page, each as the person who uses it."""
    return [
        Shot("login", "", "/console/login"),
        Shot("approvals", "bob", "/console/approvals"),
        Shot("models", "root", "/console/models"),
        Shot("model", "bob", "/console/models/fraud"),
        Shot("version", "bob", "/console/models/fraud/versions/2"),
        Shot("rollback", "bob", "/console/models/fraud/rollback"),
        Shot("audit", "dan", "/console/audit"),
        Shot("audit-verified", "dan", "/console/audit", press="Verify now"),
        Shot("decision", "dan", f"/console/decisions?request_id={decision}"),
        Shot("monitoring", "bob", "/console/monitoring"),
        Shot("lineage", "dan", "/console/lineage?model=fraud"),
        Shot("accounts", "root", "/console/accounts"),
    ]


def shoot(browser: Any, base: str, keys: dict[str, str], shots: list[Shot],
          out: Path) -> list[Path]:
    """Sign in as each person once and save a full-page PNG of each of their pages."""
    out.mkdir(parents=True, exist_ok=True)
    contexts: dict[str, Any] = {}
    written = []
    try:
        for shot in shots:
            context = contexts.get(shot.who)
            if context is None:
                context = contexts[shot.who] = browser.new_context(viewport=VIEWPORT)
                if shot.who:
                    sign_in(context.new_page(), base, keys[shot.who])
            page = context.new_page()
            page.goto(base + shot.path)
            if shot.press:
                page.get_by_role("button", name=shot.press).click()
                page.wait_for_load_state()
            target = out / f"console-{shot.name}.png"
            page.screenshot(path=str(target), full_page=True)
            page.close()
            written.append(target)
    finally:
        for context in contexts.values():
            context.close()
    return written
