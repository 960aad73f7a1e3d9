"""`garrison alerts`: list detection alerts (the default) and acknowledge them."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

import click

from garrison.cli._common import CLIState, emit, handle_errors, json_option, pass_state, table
from garrison.errors import InvalidInput
from garrison.types import parse_utc, utc_iso

__all__ = ["alerts_group"]

_RELATIVE = re.compile(r"([0-9]{1,6})([smhd])\Z")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400}
#: The authorization action of both commands. Acknowledging is a (small, audited) change,
#: so a dedicated `acknowledge-alert` action would be better once authz registers one.
VIEW_ACTION = "view-alerts"


def _since(value: str | None, now: dt.datetime) -> str | None:
    """ISO-8601 (UTC when no zone) or a relative age such as ``30m``, ``12h``, ``7d``."""
    if value is None:
        return None
    relative = _RELATIVE.match(value.strip())
    if relative:
        seconds = int(relative.group(1)) * _UNITS[relative.group(2)]
        return utc_iso(now - dt.timedelta(seconds=seconds))
    try:
        return utc_iso(parse_utc(value))
    except ValueError as exc:
        raise InvalidInput(f"not an ISO-8601 time or an age like 12h: {value!r}") from exc


def _list_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    for opt in reversed([
        click.option("--kind", help="Only this kind (e.g. extraction-pattern, drift)."),
        click.option("--caller", help="Only alerts about this caller (or model:NAME:VERSION)."),
        click.option("--since", help="From this time (ISO-8601) or this age (30m, 12h, 7d)."),
        click.option("--open", "open_only", is_flag=True, help="Only unacknowledged alerts."),
        click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True),
        json_option,
    ]):
        fn = opt(fn)
    return fn


def _show(state: CLIState, kind: str | None, caller: str | None, since: str | None,
          open_only: bool, limit: int, as_json: bool) -> None:
    services = state.services
    services.guard.require(state.principal(), VIEW_ACTION)
    records = services.alerts.list(kind, caller, _since(since, services.clock.now()), limit,
                                   open_only=open_only)
    if as_json:
        emit([r.to_dict() for r in records])
        return
    table("alerts (newest first, UTC)",
          ["id", "time", "kind", "severity", "caller", "acknowledged by"],
          [[r.id, r.created[:19].replace("T", " "), r.kind, r.severity, r.caller,
            r.acknowledged_by] for r in records])


@click.group("alerts", invoke_without_command=True)
@_list_options
@click.pass_context
@handle_errors
def alerts_group(ctx: click.Context, kind: str | None, caller: str | None, since: str | None,
                 open_only: bool, limit: int, as_json: bool) -> None:
    """Detection alerts (extraction, quota, auth bursts, drift, ...), newest first.

    Without a subcommand, lists alerts like `garrison alerts list`.
    """
    if ctx.invoked_subcommand is None:
        _show(ctx.ensure_object(CLIState), kind, caller, since, open_only, limit, as_json)


@alerts_group.command("list")
@_list_options
@pass_state
@handle_errors
def alerts_list(state: CLIState, kind: str | None, caller: str | None, since: str | None,
                open_only: bool, limit: int, as_json: bool) -> None:
    """List stored alerts, newest first, filtered by kind, caller, time and state."""
    _show(state, kind, caller, since, open_only, limit, as_json)


@alerts_group.command("ack")
@click.argument("alert_id")
@json_option
@pass_state
@handle_errors
def alerts_ack(state: CLIState, alert_id: str, as_json: bool) -> None:
    """Mark an alert as handled (recorded in the audit trail under your name)."""
    principal = state.principal()
    state.services.guard.require(principal, "acknowledge-alert", f"alert:{alert_id}")
    record = state.services.alerts.acknowledge(alert_id, principal.name)
    if as_json:
        emit(record.to_dict())
    else:
        click.echo(f"acknowledged {record.kind} alert {record.id} ({record.caller})")
