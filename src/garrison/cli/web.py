"""`garrison admin-serve`: run the admin JSON API with uvicorn."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import click

from garrison.cli._common import CLIState, handle_errors, pass_state

__all__ = ["admin_serve_command"]


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@click.command("admin-serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=8081, show_default=True)
@click.option("--ssl-certfile", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Serve HTTPS only with this certificate chain (PEM; TLS 1.2+, AEAD).")
@click.option("--ssl-keyfile", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Private key of --ssl-certfile (PEM, mode 0600).")
@click.option("--max-upload-mb", type=click.IntRange(1, 1024 * 64), default=2048,
              show_default=True, help="Largest artifact upload, in MiB.")
@pass_state
@handle_errors
def admin_serve_command(state: CLIState, host: str, port: int, ssl_certfile: Path | None,
                        ssl_keyfile: Path | None, max_upload_mb: int) -> None:
    """Serve the admin API (registry and audit trail over JSON) and the web console
    (/console/) until interrupted.

    Every endpoint except /admin/health and /admin/openapi.json needs
    `Authorization: Bearer <API key>`; the console signs people in with an API key (or
    OIDC) and keeps a session. Keys and session cookies cross the network: listen on
    anything but loopback only with --ssl-certfile/--ssl-keyfile or behind a TLS proxy
    (then set console_public_url to its https:// address).
    """
    from garrison.app import serve_admin, tls_options

    if bool(ssl_certfile) != bool(ssl_keyfile):
        raise click.UsageError("--ssl-certfile and --ssl-keyfile go together")
    tls = tls_options(ssl_certfile, ssl_keyfile)  # A key others can read is refused.
    if not _is_loopback(host) and not ssl_certfile:
        click.echo(f"warning: serving plain HTTP on {host}; API keys will cross the network "
                   "unencrypted unless a TLS proxy is in front", err=True)
    services = state.services
    scheme = "https" if ssl_certfile else "http"
    click.echo(f"garrison admin API on {scheme}://{host}:{port}/admin and the console on "
               f"{scheme}://{host}:{port}/console/ (Ctrl-C stops)", err=True)
    serve_admin(services, host=host, port=port, tls=tls,
                max_upload_bytes=max_upload_mb * 1024 * 1024)
