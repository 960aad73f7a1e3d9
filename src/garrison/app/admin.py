"""The admin API, wired: ``garrison admin-serve`` -> one uvicorn process."""

from __future__ import annotations

from pathlib import Path

from garrison.app.services import Services
from garrison.gateway.protocol import GuardedHttpToolsProtocol, tls_files

__all__ = ["serve_admin", "tls_options"]


def tls_options(cert: Path | None, key: Path | None) -> dict[str, str]:
    """uvicorn's TLS arguments for a certificate pair (empty for plain HTTP).

    Raises ``ConfigurationError`` for half a pair, a missing file, or a private key
    that others can read.
    """
    return tls_files(cert, key)


def serve_admin(services: Services, *, host: str, port: int, tls: dict[str, str],
                max_upload_bytes: int) -> None:
    """Serve the admin API over ``services`` until interrupted (the caller closes them).

    The same slow-client guards as the gateway apply: a header deadline and a size limit.
    """
    import uvicorn

    from garrison.web import create_web_app

    settings = services.settings
    GuardedHttpToolsProtocol.configure(header_timeout=settings.header_timeout,
                                       max_header_bytes=settings.max_header_bytes)
    app = create_web_app(services, max_upload_bytes=max_upload_bytes)
    uvicorn.run(
        app, host=host, port=port, http=GuardedHttpToolsProtocol, loop="uvloop",
        access_log=False, server_header=False, proxy_headers=False, lifespan="off",
        timeout_keep_alive=5, log_level=settings.log_level, **tls,  # type: ignore[arg-type]
    )
