"""Regenerate the console screenshots of ``docs/console.md``:

    .venv/bin/python -m tests.web.console.screenshots docs/console

It builds the same lived-in installation as the browser tests (``seed.py``), serves the
console on a free loopback port, signs in as each person and saves one full-page PNG per
page with Debian's Chromium. The browser tests save the same pictures as artifacts.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from garrison.testing import fixed_clock, sqlite_url
from garrison.web import create_web_app
from tests.web.console.browser import CHROMIUM, launch, pages, shoot
from tests.web.console.live import LiveServer
from tests.web.console.seed import seed
from tests.web.helpers import make_installation


def main(out: Path) -> list[Path]:
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        raise SystemExit(f"{CHROMIUM} is missing: apt-get install chromium")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        inst = make_installation(work / "home", sqlite_url(work), fixed_clock())
        seeded = seed(inst, work / "seed")
        server = LiveServer(create_web_app(inst.services))
        try:
            with sync_playwright() as playwright:
                browser = launch(playwright)
                try:
                    return shoot(browser, server.url, inst.keys, pages(seeded.decision), out)
                finally:
                    browser.close()
        finally:
            server.stop()
            inst.services.close()


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/console")
    for path in main(target):
        print(path)
