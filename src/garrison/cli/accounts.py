"""`garrison user`, `garrison role` and `garrison key` commands."""

from __future__ import annotations

import click

from garrison.authz import ACTIONS, ROLES, role_table
from garrison.cli._common import CLIState, emit, handle_errors, json_option, pass_state, table

__all__ = ["key_group", "role_group", "user_group"]


@click.group("user")
def user_group() -> None:
    """Manage principals (people and service accounts)."""


@user_group.command("add")
@click.argument("name")
@click.option("--role", "roles", multiple=True, type=click.Choice(sorted(ROLES)),
              help="Role to grant (repeatable).")
@click.option("--service", is_flag=True, help="A service account rather than a person.")
@click.option("--with-key/--no-key", default=False, help="Also create an API key, shown once.")
@click.option("--key-days", type=int, default=90, show_default=True, help="Key lifetime in days.")
@json_option
@pass_state
@handle_errors
def user_add(state: CLIState, name: str, roles: tuple[str, ...], service: bool, with_key: bool,
             key_days: int, as_json: bool) -> None:
    """Create principal NAME with the given roles."""
    actor = state.principal()
    accounts = state.services.accounts
    principal = accounts.create_principal(
        actor, name, kind="service" if service else "human", roles=list(roles)
    )
    out = {"principal": principal.to_dict()}
    if with_key:
        key = accounts.create_key(actor, name, name="initial", days=key_days)
        out["api_key"] = key.secret
        out["key"] = key.record.to_dict()
    if as_json:
        emit(out)
        return
    click.echo(f"created {principal.kind} {principal.name} with roles: "
               f"{', '.join(sorted(principal.roles)) or '(none)'}")
    if with_key:
        click.echo("API key (shown once, store it now):")  # Alone on its line: no wrapping.
        click.echo(out["api_key"])


@user_group.command("list")
@json_option
@pass_state
@handle_errors
def user_list(state: CLIState, as_json: bool) -> None:
    """List principals, their roles and state."""
    people = state.services.accounts.list_principals(state.principal())
    if as_json:
        emit([p.to_dict() for p in people])
        return
    table("principals", ["name", "kind", "roles", "disabled", "created"],
          [[p.name, p.kind, ", ".join(sorted(p.roles)), p.disabled, p.created] for p in people])


def _set_disabled(state: CLIState, name: str, disabled: bool, as_json: bool) -> None:
    principal = state.services.accounts.set_disabled(state.principal(), name, disabled)
    if as_json:
        emit(principal.to_dict())
    else:
        click.echo(f"{'disabled' if disabled else 'enabled'} {principal.name}")


@user_group.command("disable")
@click.argument("name")
@json_option
@pass_state
@handle_errors
def user_disable(state: CLIState, name: str, as_json: bool) -> None:
    """Disable principal NAME: its keys stop working at once."""
    _set_disabled(state, name, True, as_json)


@user_group.command("enable")
@click.argument("name")
@json_option
@pass_state
@handle_errors
def user_enable(state: CLIState, name: str, as_json: bool) -> None:
    """Re-enable principal NAME."""
    _set_disabled(state, name, False, as_json)


@click.group("role")
def role_group() -> None:
    """Grant and revoke roles; show the role-action table."""


@role_group.command("grant")
@click.argument("name")
@click.argument("role", type=click.Choice(sorted(ROLES)))
@json_option
@pass_state
@handle_errors
def role_grant(state: CLIState, name: str, role: str, as_json: bool) -> None:
    """Give ROLE to principal NAME."""
    p = state.services.accounts.grant_role(state.principal(), name, role)
    emit(p.to_dict()) if as_json else click.echo(f"{name}: {', '.join(sorted(p.roles))}")


@role_group.command("revoke")
@click.argument("name")
@click.argument("role", type=click.Choice(sorted(ROLES)))
@json_option
@pass_state
@handle_errors
def role_revoke(state: CLIState, name: str, role: str, as_json: bool) -> None:
    """Take ROLE away from principal NAME."""
    p = state.services.accounts.revoke_role(state.principal(), name, role)
    emit(p.to_dict()) if as_json else click.echo(f"{name}: {', '.join(sorted(p.roles))}")


@role_group.command("list")
@json_option
def role_list(as_json: bool) -> None:
    """Show which role may perform which action (needs no credentials)."""
    rows = role_table()
    if as_json:
        emit({"roles": ROLES, "actions": {name: [r for r, ok in grants.items() if ok]
                                          for name, grants in rows}})
        return
    table("role -> action", ["action", *ROLES, "description"],
          [[name, *("yes" if grants[r] else "" for r in ROLES), ACTIONS[name].description]
           for name, grants in rows])


@click.group("key")
def key_group() -> None:
    """Create, list and revoke API keys."""


@key_group.command("create")
@click.option("--for", "owner", help="Principal to create the key for (default: yourself).")
@click.option("--name", default="default", show_default=True, help="A label for the key.")
@click.option("--days", type=int, default=90, show_default=True,
              help="Lifetime in days (1-3650).")
@click.option("--no-expiry", is_flag=True,
              help="A key that never expires: refused unless the installation allows it "
              "(GARRISON_ALLOW_NEVER_EXPIRING_KEYS), and then for admins only.")
@json_option
@pass_state
@handle_errors
def key_create(state: CLIState, owner: str | None, name: str, days: int, no_expiry: bool,
               as_json: bool) -> None:
    """Create an API key. The secret is printed once and never stored."""
    actor = state.principal()
    key = state.services.accounts.create_key(actor, owner or actor.name, name=name,
                                             days=None if no_expiry else days)
    if as_json:
        emit({"api_key": key.secret, "key": key.record.to_dict()})
        return
    click.echo(f"API key for {owner or actor.name} (shown once, store it now):")
    click.echo(key.secret)
    click.echo(f"prefix {key.record.prefix}, expires {key.record.expires or 'never'}")


@key_group.command("list")
@click.option("--for", "owner", help="Only this principal's keys (default: all, admins only).")
@json_option
@pass_state
@handle_errors
def key_list(state: CLIState, owner: str | None, as_json: bool) -> None:
    """List API keys (prefix, owner, expiry, revocation, last use; never secrets)."""
    keys = state.services.accounts.list_keys(state.principal(), owner)
    if as_json:
        emit([k.to_dict() for k in keys])
        return
    table("api keys", ["prefix", "name", "created", "expires", "revoked", "last used"],
          [[k.prefix, k.name, k.created, k.expires or "never", k.revoked or "", k.last_used or ""]
           for k in keys])


@key_group.command("revoke")
@click.argument("prefix")
@json_option
@pass_state
@handle_errors
def key_revoke(state: CLIState, prefix: str, as_json: bool) -> None:
    """Revoke the key with PREFIX (the 12 hex digits after `gk_`)."""
    key = state.services.accounts.revoke_key(state.principal(), prefix)
    emit(key.to_dict()) if as_json else click.echo(f"revoked {key.prefix} at {key.revoked}")
