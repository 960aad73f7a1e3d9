"""The image, checked statically (no container engine here): stages, user, health check."""

from __future__ import annotations

import http.server
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.deploy.conftest import ROOT

DOCKERFILE = (ROOT / "Dockerfile").read_text()


def _stages() -> list[str]:
    return re.split(r"(?m)^FROM ", DOCKERFILE)[1:]


def test_two_stages_and_the_final_one_has_no_toolchain_or_cache() -> None:
    build, final = _stages()
    assert build.startswith("python:3.11-slim-bookworm AS build")
    assert "pip wheel" in build and "--only-binary=:all:" in build
    assert final.startswith("python:3.11-slim-bookworm AS runtime")
    assert "--mount=type=bind,from=build,source=/wheels,target=/wheels" in final
    assert "--no-index --find-links=/wheels" in final
    for forbidden in ("apt-get", "gcc", "build-essential", "COPY --from=build /wheels",
                      "ADD "):
        assert forbidden not in final, forbidden
    assert "PIP_NO_CACHE_DIR=1" in final and "pip uninstall --yes pip" in final
    assert 'ARG EXTRAS=postgres,redis,s3' in build and '"garrison[${EXTRAS}]"' in final


def test_non_root_numeric_user_health_check_and_labels() -> None:
    final = _stages()[-1]
    users = re.findall(r"(?m)^USER (.+)$", final)
    assert users == ["10001:10001"]
    assert re.search(r"(?m)^HEALTHCHECK .*\n\s+CMD \[\"python\", \"/opt/garrison/"
                     r"healthcheck.py\"\]", final)
    labels = set(re.findall(r"org\.opencontainers\.image\.([a-z.]+)=", final))
    assert {"title", "description", "version", "revision", "created", "licenses",
            "source", "base.name"} <= labels
    assert re.search(r'(?m)^ENTRYPOINT \["garrison"\]$', final)
    assert "GARRISON_HOME=/var/lib/garrison" in final


def test_dockerignore_admits_only_what_the_build_reads() -> None:
    lines = [line for line in (ROOT / ".dockerignore").read_text().splitlines()
             if line and not line.startswith("#")]
    assert lines[0] == "*"
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    assert allowed == {"pyproject.toml", "README.md", "src", "deploy/docker/healthcheck.py"}
    copied = set(re.findall(r"(?m)^COPY (?:--\S+ )*(\S+)", DOCKERFILE))
    for source in copied:
        assert source.rstrip("/") in allowed or source.startswith("deploy/docker"), source


class _Handler(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(type(self).status if self.path == "/v2/health/live" else 404)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def server() -> Iterator[tuple[int, type[_Handler]]]:
    handler = type("Handler", (_Handler,), {"status": 200})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_address[1], handler
    httpd.shutdown()
    httpd.server_close()


def _healthcheck(env: dict[str, str]) -> int:
    script = ROOT / "deploy" / "docker" / "healthcheck.py"
    return subprocess.run([sys.executable, "-I", str(script)], env=env, timeout=30,
                          capture_output=True).returncode


def test_the_health_check_follows_the_gateway(server) -> None:
    port, handler = server
    assert _healthcheck({"GARRISON_PORT": str(port)}) == 0
    handler.status = 503
    assert _healthcheck({"GARRISON_PORT": str(port)}) == 1
    url = f"http://127.0.0.1:{port}/v2/health/live"
    handler.status = 200
    assert _healthcheck({"GARRISON_HEALTHCHECK_URL": url}) == 0
    assert _healthcheck({"GARRISON_HEALTHCHECK_URL": url.replace("/live", "/nope")}) == 1
    assert _healthcheck({"GARRISON_HEALTHCHECK_URL": "http://example.com/"}) == 1


def test_the_health_check_fails_when_nothing_listens() -> None:
    from garrison.testing import free_port

    assert _healthcheck({"GARRISON_PORT": str(free_port())}) == 1


def test_every_dependency_of_the_image_extras_is_declared() -> None:
    text = (ROOT / "pyproject.toml").read_text()
    for extra in ("postgres", "redis", "s3"):
        assert re.search(rf"(?m)^{extra} = \[", text), extra
    assert Path(ROOT / "deploy" / "docker" / "healthcheck.py").read_text().count(
        "import garrison") == 0  # Standard library only: it must start fast.
