"""The admin API, wired: ``garrison admin-serve`` -> one uvicorn process."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from garrison.app.services import Services
from garrison.config import Settings
from garrison.errors import ConfigurationError
from garrison.gateway.protocol import GuardedHttpToolsProtocol, tls_files

__all__ = ["build_console_oidc", "serve_admin", "tls_options"]


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
    app = create_web_app(services, max_upload_bytes=max_upload_bytes,
                         oidc=build_console_oidc(settings))
    uvicorn.run(
        app, host=host, port=port, http=GuardedHttpToolsProtocol, loop="uvloop",
        access_log=False, server_header=False, proxy_headers=False, lifespan="off",
        timeout_keep_alive=5, log_level=settings.log_level, **tls,  # type: ignore[arg-type]
    )


def build_console_oidc(settings: Settings) -> Any:
    """The console's OIDC client when ``oidc_issuer`` and ``console_oidc_client_id`` are
    set (``None`` otherwise): discovery and the code exchange go through it, and ID
    tokens are checked by the gateway's verifier with the client id as audience."""
    if not settings.oidc_issuer or not settings.console_oidc_client_id:
        return None
    if not settings.console_public_url:
        raise ConfigurationError("console OIDC sign-in needs console_public_url (the "
                                 "redirect URI is derived from it)")
    import functools
    import ssl

    import httpx

    from garrison.gateway.oidc import OIDCConfig, OIDCVerifier, httpx_fetcher
    from garrison.web.console.oidc import OIDCClient, OIDCSettings

    ca = settings.console_oidc_ca_file
    verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=str(ca)) if ca else True
    client_id = settings.console_oidc_client_id
    issuer = settings.oidc_issuer

    async def fetch(url: str) -> Any:
        return await httpx_fetcher(url, transport=httpx.AsyncHTTPTransport(verify=verify))

    def verifier_for(jwks_uri: str) -> OIDCVerifier:
        return OIDCVerifier(OIDCConfig(issuer=issuer, audience=client_id, jwks_url=jwks_uri,
                                       allowed_types=("jwt",)),
                            fetcher=functools.partial(fetch))

    secret = settings.console_oidc_client_secret
    return OIDCClient(OIDCSettings(
        issuer=issuer, client_id=client_id,
        redirect_uri=settings.console_public_url + "/console/oidc/callback",
        client_secret=secret.get_secret_value() if secret is not None else None,
        scopes=settings.console_oidc_scopes,
        principal_claim=settings.console_oidc_principal_claim,
    ), verifier_factory=verifier_for, verify=verify)
