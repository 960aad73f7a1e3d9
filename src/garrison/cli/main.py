"""The `garrison` command line.

Exit codes: 0 ok; 1 refused or a check failed; 2 usage or error. Commands that act
on the installation authenticate with the API key in ``GARRISON_API_KEY``.
"""

from __future__ import annotations

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
@json_option
@pass_state
@handle_errors
def init_command(state: CLIState, admin: str, key_days: int, as_json: bool) -> None:
    """Create the home, the signing keys (Ed25519, mode 0600), the schema and the first admin.

    The admin's API key is printed once; Garrison keeps only its hash.
    """
    from garrison.app import configure_logging, initialize

    configure_logging(state.settings)
    services, principal, key = initialize(state.settings, admin, key_days=key_days)
    services.close()
    if as_json:
        emit({"home": str(state.settings.home), "admin": principal.to_dict(),
              "api_key": key.secret, "signing_key_id": services.keyring.active_id})
        return
    click.echo(f"initialized {state.settings.home}")
    click.echo(f"signing key {services.keyring.active_id} (Ed25519, mode 0600)")
    click.echo(f"admin {principal.name}; API key (shown once, store it now):")
    click.echo(key.secret)
    click.echo(f"\nexport GARRISON_HOME={state.settings.home} GARRISON_API_KEY={key.secret}")


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
data_group.add_command(poison_check_command)


def main() -> None:
    cli(prog_name="garrison")
