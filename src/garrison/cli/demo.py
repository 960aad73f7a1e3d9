"""`garrison demo`: the whole flow on the embedded default, ending with a live gateway."""

from __future__ import annotations

import json
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
@click.option("--port", type=int, default=8080, show_default=True, help="Gateway port.")
@click.option("--serve/--no-serve", default=True, show_default=True,
              help="Start the gateway at the end (Ctrl-C stops it).")
@handle_errors
def demo_command(home: Path, port: int, serve: bool) -> None:
    """Run the whole flow on SQLite and local files, then serve the demo model.

    Initializes a home, creates one principal per role, registers a scikit-learn
    model (scanned, signed, encrypted), shows a four-eyes refusal and a privilege
    escalation refusal, approves and promotes the model with a second person,
    verifies the signed audit trail, and starts the gateway with a ready curl line.
    """
    from garrison.app import initialize
    from garrison.audit import AuditQuery
    from garrison.config import load_settings
    from garrison.demo import FEATURES, setup_demo
    from garrison.errors import Forbidden

    out = Console(highlight=False)
    home = home.resolve()
    _fresh_home(home)
    settings = load_settings(home=home, database_url=None, port=port)
    services, admin, admin_key = initialize(settings, "admin")
    out.rule("[bold]1. init")
    out.print(f"home {home} (mode 0700), SQLite database, signing key "
              f"{services.keyring.active_id} (Ed25519, 0600)")

    out.rule("[bold]2. people, a model, four eyes")
    demo = setup_demo(services, admin)
    people = demo.extra["people"]
    out.print("alice (data-scientist), bob (approver), carol (auditor), scoring-app (client)")
    out.print("alice registered credit-risk:1: scanned safe, signed (DSSE), sealed (AES-256-GCM)")
    try:
        services.accounts.create_principal(people["alice"], "mallory", roles=["admin"])
    except Forbidden:
        out.print("alice tried to create an admin: [red]denied[/] and audited")
    v = services.registry.get(demo.model, 1)
    out.print(f"bob approved and promoted {v.ref} (registrant {v.registrant}: four eyes); "
              f"stage {v.stage}")

    out.rule("[bold]3. audit trail")
    for r in services.audit.log(people["carol"], AuditQuery(limit=None))[-8:]:
        colour = {"ok": "green", "denied": "red", "failed": "yellow"}[r.outcome]
        out.print(f"{r.seq:>3} {r.actor:<8} {r.action:<24} {r.resource:<22} "
                  f"[{colour}]{r.outcome}[/]")
    report = services.audit.verify(people["carol"])
    out.print(f"carol verified the chain: [green]intact[/], {report.events} events")
    services.close()

    row = {n: round(float(demo.X[0, i]), 3) for i, n in enumerate(FEATURES)}
    body = json.dumps({"instances": [row]})
    out.rule("[bold]4. the gateway")
    out.print(f"admin API key (shown once):       [bold]{admin_key.secret}[/]")
    out.print(f"scoring-app API key (shown once): [bold]{demo.keys['scoring-app']}[/]")
    out.print(f"auditor carol's API key:          {demo.keys['carol']}")
    out.print("\npaste this once the gateway says it is running:\n")
    click.echo(f"curl -s -H 'Authorization: Bearer {demo.keys['scoring-app']}' "
               f"-H 'Content-Type: application/json' "
               f"'http://127.0.0.1:{port}/v1/models/credit-risk/predict?explain=true' "
               f"-d '{body}'\n")
    out.print(f"CLI: export GARRISON_HOME={home} GARRISON_API_KEY={admin_key.secret}")
    if serve:
        import os

        from garrison.app import serve_gateway

        os.environ["GARRISON_HOME"] = str(home)
        out.rule(f"[bold]serving on http://127.0.0.1:{port} (Ctrl-C to stop)")
        serve_gateway(settings, host="127.0.0.1", port=port, workers=1)
