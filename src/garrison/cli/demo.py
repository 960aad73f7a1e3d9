"""`garrison demo`: the governance flow end to end on the embedded default."""

from __future__ import annotations

import shutil
from pathlib import Path

import click
from rich.console import Console

from garrison.cli._common import handle_errors

__all__ = ["demo_command"]

_MARKER = ".garrison-demo"


def _fresh_home(home: Path) -> None:
    if home.exists():
        if not (home / _MARKER).exists():
            raise click.UsageError(f"{home} exists and is not a demo home; choose another --home")
        shutil.rmtree(home)
    home.mkdir(parents=True, mode=0o700)
    (home / _MARKER).write_text("created by `garrison demo`; safe to delete\n")


@click.command("demo")
@click.option("--home", type=click.Path(file_okay=False, path_type=Path),
              default=Path(".garrison/demo"), show_default=True,
              help="Demo home (recreated on every run).")
@handle_errors
def demo_command(home: Path) -> None:
    """Run the governance flow on SQLite and local files, printing each step.

    Initializes a home, creates one principal per role with API keys, shows allowed
    and denied actions, revokes a key, and verifies the signed audit trail.
    """
    from garrison.app import initialize
    from garrison.audit import AuditQuery
    from garrison.config import load_settings
    from garrison.errors import AuthenticationFailed, Forbidden

    out = Console(highlight=False)
    home = home.resolve()
    _fresh_home(home)
    settings = load_settings(home=home, database_url=None)
    services, admin, admin_key = initialize(settings, "admin")
    acc = services.accounts
    out.rule("[bold]1. init")
    out.print(f"home {home} (mode 0700); database {settings.database.split('///')[-1]}")
    out.print(f"signing key {services.keyring.active_id}: Ed25519, file mode 0600")
    out.print(f"admin API key (shown once): [bold]{admin_key.secret}[/]")

    out.rule("[bold]2. principals and roles")
    keys = {}
    for name, role in [("alice", "data-scientist"), ("bob", "approver"),
                       ("carol", "auditor"), ("scoring-app", "client")]:
        kind = "service" if role == "client" else "human"
        acc.create_principal(admin, name, kind=kind, roles=[role])
        keys[name] = acc.create_key(admin, name, name="demo", days=30)
        out.print(f"created {kind} [bold]{name}[/] as {role}; key prefix "
                  f"{keys[name].record.prefix}")

    out.rule("[bold]3. deny by default")
    alice = acc.authenticate(keys["alice"].secret)
    try:
        acc.create_principal(alice, "mallory", roles=["admin"])
    except Forbidden:
        out.print("alice (data-scientist) tried to create an admin: [red]denied[/] and audited")
    try:
        acc.revoke_role(admin, "admin", "admin")
    except Exception as exc:  # noqa: BLE001 - the demo shows whatever refused it.
        out.print(f"admin tried to remove the last admin: [red]refused[/] ({exc})")

    out.rule("[bold]4. key revocation")
    acc.revoke_key(admin, keys["scoring-app"].record.prefix)
    try:
        acc.authenticate(keys["scoring-app"].secret)
    except AuthenticationFailed:
        out.print("scoring-app's revoked key: [red]authentication failed[/] (reason audited)")

    out.rule("[bold]5. audit trail")
    carol = acc.authenticate(keys["carol"].secret)
    for r in services.audit.log(carol, AuditQuery(limit=None)):
        colour = {"ok": "green", "denied": "red", "failed": "yellow"}[r.outcome]
        out.print(f"{r.seq:>3} {r.actor:<12} {r.action:<20} {r.resource:<24} "
                  f"[{colour}]{r.outcome}[/] {r.reason}")
    report = services.audit.verify(carol)
    out.print(f"carol (auditor) verified the chain: [green]intact[/], {report.events} events, "
              f"head signed by {services.keyring.active_id}")
    services.close()
    out.rule("[bold]try it")
    out.print(f"export GARRISON_HOME={home} GARRISON_API_KEY={admin_key.secret}")
    out.print("garrison user list; garrison audit log; garrison audit verify")
