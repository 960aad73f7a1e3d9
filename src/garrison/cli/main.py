"""The `garrison` command line.

Exit codes: 0 ok; 1 refused or a check failed; 2 usage or error. Commands that act
on the installation authenticate with the API key in ``GARRISON_API_KEY``.
"""

from __future__ import annotations

from pathlib import Path

import click

from garrison import __version__
from garrison.cli._common import CLIState, emit, handle_errors, json_option, pass_state
from garrison.cli.accounts import key_group, role_group, user_group
from garrison.cli.alerts import alerts_group
from garrison.cli.audit import audit_group
from garrison.cli.data import data_group
from garrison.cli.demo import demo_command
from garrison.cli.detect import detect_group, drift_group
from garrison.cli.he import he_group
from garrison.cli.lineage import lineage_group
from garrison.cli.models import model_group, signing_group
from garrison.cli.poison import poison_check_command
from garrison.cli.scan import scan_command
from garrison.cli.secrets import secrets_group
from garrison.cli.serve import deploy_group, serve_command
from garrison.cli.shadow import shadow_group
from garrison.cli.web import admin_serve_command

__all__ = ["cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--home", type=click.Path(file_okay=False), envvar="GARRISON_HOME",
              help="Garrison home directory [env GARRISON_HOME; default ~/.garrison].")
@click.option("--api-key", envvar="GARRISON_API_KEY", show_envvar=True,
              help="API key to act with. Prefer the environment variable: options are "
              "visible in the process list.")
@click.pass_context
def cli(ctx: click.Context, home: str | None, api_key: str | None) -> None:
    """Garrison: put ML models into production securely and keep them secure.

    \b
    Exit codes: 0 ok, 1 refused or check failed, 2 usage or error.
    """
    state = ctx.ensure_object(CLIState)
    state.api_key = api_key
    if home:
        state.overrides["home"] = home
    ctx.call_on_close(state.close)


@cli.command("init")
@click.option("--admin", default="admin", show_default=True, help="Name of the first admin.")
@click.option("--key-days", type=int, default=90, show_default=True,
              help="Lifetime of the admin's first API key.")
@click.option("--key-file", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
              default=None,
              help="Write the admin's API key to this new file (mode 0600) instead of "
              "printing it; `-` writes the key alone to standard output. Use it wherever "
              "output is logged (a pod, a Job, CI).")
@json_option
@pass_state
@handle_errors
def init_command(state: CLIState, admin: str, key_days: int, key_file: Path | None,
                 as_json: bool) -> None:
    """Create the home, the signing keys (Ed25519, mode 0600), the schema and the first admin.

    The admin's API key is shown once; Garrison keeps only its hash. With mounted keys
    (key_dir, signing_key_dir) the keys are used, never created.
    """
    from garrison.app import configure_logging, initialize

    out_fd = _open_key_file(key_file)  # Before anything is created: a bad path loses nothing.
    configure_logging(state.settings)
    try:
        services, principal, key = initialize(state.settings, admin, key_days=key_days)
    except BaseException:
        _discard_key_file(key_file, out_fd)
        raise
    services.close()
    if key_file is not None:
        _write_key(out_fd, key.secret)
        if str(key_file) == "-":
            return
    if as_json:
        out = {"home": str(state.settings.home), "admin": principal.to_dict(),
               "signing_key_id": services.keyring.active_id}
        out.update({"api_key_file": str(key_file)} if key_file else {"api_key": key.secret})
        emit(out)
        return
    click.echo(f"initialized {state.settings.home}")
    click.echo(f"signing key {services.keyring.active_id} (Ed25519, mode 0600)")
    if key_file is not None:
        click.echo(f"admin {principal.name}; API key written to {key_file} (mode 0600)")
        return
    click.echo(f"admin {principal.name}; API key (shown once, store it now):")
    click.echo(key.secret)
    click.echo(f"\nexport GARRISON_HOME={state.settings.home} GARRISON_API_KEY={key.secret}")


def _open_key_file(path: Path | None) -> int | None:
    """A new 0600 file for the admin's key (never an existing file or a link)."""
    import os

    from garrison.errors import AlreadyExists, InvalidInput

    if path is None or str(path) == "-":
        return None
    try:
        return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        raise AlreadyExists(f"{path} already exists; the key is never written over a file") \
            from None
    except OSError as exc:
        raise InvalidInput(f"cannot create {path}: {exc.strerror}") from None


def _discard_key_file(path: Path | None, fd: int | None) -> None:
    import os

    if fd is not None and path is not None:
        os.close(fd)
        path.unlink(missing_ok=True)


def _write_key(fd: int | None, secret: str) -> None:
    """The key alone: into the opened file, or to standard output for `-`."""
    import os

    if fd is None:
        click.echo(secret)
        return
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(secret + "\n")


@cli.group("db")
def db_group() -> None:
    """Database schema migrations."""


@db_group.command("upgrade")
@pass_state
@handle_errors
def db_upgrade(state: CLIState) -> None:
    """Apply Alembic migrations up to the newest revision (safe to repeat)."""
    from garrison.app import upgrade_database

    click.echo(f"database at revision {upgrade_database(state.settings)}")


@db_group.command("current")
@pass_state
@handle_errors
def db_current(state: CLIState) -> None:
    """Print the database's revision and the newest one this release knows."""
    from garrison.app import database_revisions

    current, newest = database_revisions(state.settings)
    click.echo(f"current {current}; newest {newest}")


@cli.command("version")
@json_option
def version_command(as_json: bool) -> None:
    """Print the Garrison version."""
    emit({"version": __version__}) if as_json else click.echo(f"garrison {__version__}")


cli.add_command(user_group)
cli.add_command(role_group)
cli.add_command(key_group)
cli.add_command(audit_group)
cli.add_command(demo_command)
cli.add_command(model_group)
cli.add_command(signing_group)
cli.add_command(scan_command)
cli.add_command(drift_group)
cli.add_command(detect_group)
cli.add_command(he_group)
cli.add_command(data_group)
cli.add_command(serve_command)
cli.add_command(deploy_group)
cli.add_command(admin_serve_command)
cli.add_command(alerts_group)
cli.add_command(lineage_group)
cli.add_command(shadow_group)
cli.add_command(secrets_group)
data_group.add_command(poison_check_command)


def main() -> None:
    cli(prog_name="garrison")
