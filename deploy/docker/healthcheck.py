"""Container health check: GET a health endpoint on loopback, exit 0 on 200, else 1.

Used by the image's HEALTHCHECK (Docker, Podman); Kubernetes ignores it and uses the
chart's probes. Standard library only, so it starts fast and imports no Garrison code.
The URL is ``GARRISON_HEALTHCHECK_URL``, else the gateway's liveness endpoint on
``GARRISON_PORT`` (HTTPS when the gateway terminates TLS itself).
"""

from __future__ import annotations

import os
import ssl
import sys
import urllib.request


def main() -> int:
    tls = bool(os.environ.get("GARRISON_TLS_CERT_FILE"))
    default = "{}://127.0.0.1:{}/v2/health/live".format(
        "https" if tls else "http", os.environ.get("GARRISON_PORT", "8080"))
    url = os.environ.get("GARRISON_HEALTHCHECK_URL", default)
    if not url.startswith(("http://127.0.0.1:", "https://127.0.0.1:")):
        print("healthcheck: only loopback URLs are checked", file=sys.stderr)
        return 1
    # Loopback only and no credential sent: the server's certificate names a public
    # host, not 127.0.0.1, so it is not verified here.
    context = ssl._create_unverified_context() if url.startswith("https") else None
    try:
        with urllib.request.urlopen(url, timeout=4, context=context) as response:
            return 0 if response.status == 200 else 1
    except OSError as exc:
        print(f"healthcheck: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
