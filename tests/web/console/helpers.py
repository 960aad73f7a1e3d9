"""A scripted browser for the console over the in-process transport (no JavaScript is
needed: the console has none), and the payloads the XSS tests plant."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

import httpx

from tests.web.helpers import SyncASGITransport

#: Planted through every user-controlled string a page shows. Rendered inert means: the
#: page shows the text, and no element, attribute or script of it exists.
XSS = '<script>alert(1)</script>"><img src=x onerror=alert(2)><svg onload=alert(3)>\'"`'


_CSRF = re.compile(r'name="csrf" value="([^"]+)"')
_LOGIN = re.compile(r'name="login_token" value="([^"]+)"')


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, attrs))


def assert_inert(html: str) -> None:
    """The page shows the payload as text, and the parsed page holds no element, event
    handler or script that came from it."""
    parser = _Elements()
    parser.feed(html)
    for tag, attrs in parser.found:
        assert tag != "script", "a script element in the page"
        assert not any(name.startswith("on") for name, _ in attrs), (tag, attrs)
        assert not (tag == "img" and ("src", "x") in attrs), (tag, attrs)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html, "the payload is not shown at all"


class Console:
    """One browser: its own cookie jar, the last page's CSRF token."""

    def __init__(self, app: Any, base_url: str = "http://testserver") -> None:
        self.app = app
        self.transport = SyncASGITransport(app)
        self.http = httpx.Client(transport=self.transport, base_url=base_url,
                                 follow_redirects=False)
        self.csrf_token = ""

    def close(self) -> None:
        self.http.close()
        self.transport.close()

    def _remember(self, response: httpx.Response) -> httpx.Response:
        found = _CSRF.search(response.text) if response.headers.get(
            "content-type", "").startswith("text/html") else None
        if found:
            self.csrf_token = found.group(1)
        return response

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self._remember(self.http.get(path, **kwargs))

    def post(self, path: str, data: dict[str, Any] | None = None, *, csrf: bool = True,
             **kwargs: Any) -> httpx.Response:
        body = dict(data or {})
        if csrf:
            body.setdefault("csrf", self.csrf_token)
        return self._remember(self.http.post(path, data=body, **kwargs))

    def login(self, key: str) -> httpx.Response:
        page = self.http.get("/console/login")
        token = _LOGIN.search(page.text)
        assert token, page.text
        response = self.http.post("/console/login",
                                  data={"login_token": token.group(1), "api_key": key})
        if response.status_code == 303:
            home = self.http.get("/console/")
            if home.status_code == 303:
                self.get(home.headers["location"])
        return response

    @property
    def session_cookie(self) -> str | None:
        for cookie in self.http.cookies.jar:
            if cookie.name.endswith("garrison-session"):
                return cookie.value
        return None
