"""`garrison audit` commands: verify, decisions, log, export, checkpoint."""

from __future__ import annotations

import sys

import click

from garrison.audit import AuditQuery
from garrison.cli._common import CLIState, emit, handle_errors, json_option, pass_state, table
from garrison.errors import AuditChainBroken, InvalidInput
from garrison.types import parse_utc, utc_iso

__all__ = ["audit_group"]


@click.group("audit")
def audit_group() -> None:
    """Verify, read and export the tamper-evident audit trail."""


def _time(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return utc_iso(parse_utc(value))
    except ValueError as exc:
        raise InvalidInput(f"not an ISO-8601 time: {value!r}") from exc


def _filters(fn):  # type: ignore[no-untyped-def]
    for opt in reversed([
        click.option("--actor", help="Only events by this principal."),
        click.option("--action", help="Only this action (e.g. approve-model-version)."),
        click.option("--outcome", type=click.Choice(["ok", "denied", "failed"])),
        click.option("--resource", help="Only events on this resource."),
        click.option("--since", help="From this time (ISO-8601, UTC if no zone)."),
        click.option("--until", help="Up to this time (ISO-8601)."),
    ]):
        fn = opt(fn)
    return fn


def _query(actor, action, outcome, resource, since, until, limit) -> AuditQuery:  # type: ignore[no-untyped-def]
    return AuditQuery(actor=actor, action=action, outcome=outcome, resource=resource,
                      since=_time(since), until=_time(until), limit=limit)


@audit_group.command("verify")
@json_option
@pass_state
@handle_errors
def audit_verify(state: CLIState, as_json: bool) -> None:
    """Check every event's hash, the chain links and the signed head and checkpoints.

    Exit 0 when intact; exit 1 naming the first bad position and the reason
    (modified, deleted, inserted, reordered, truncated, rewritten, bad-checkpoint).
    """
    try:
        report = state.services.audit.verify(state.principal())
    except AuditChainBroken as exc:
        if as_json:
            emit({"ok": False, "position": exc.position, "reason": exc.reason,
                  "message": exc.message})
            sys.exit(1)
        raise
    if as_json:
        emit(report.to_dict())
    else:
        click.echo(f"audit trail intact: {report.events} events, head {report.head_seq} "
                   f"{report.head_hash[:16]}, {report.checkpoints_checked} signed checkpoint(s)")


@audit_group.command("decisions")
@click.option("--request-id", help="Check only the batch of this decision.")
@json_option
@pass_state
@handle_errors
def audit_decisions(state: CLIState, request_id: str | None, as_json: bool) -> None:
    """Check decision records against the audit events that anchor their batches.

    Each batch of decision records is anchored by one audit event carrying its size
    and a SHA-256 over the stored rows. Exit 0 when every record matches; exit 1
    listing each problem: batch-mismatch (a record was changed, deleted or added),
    not-an-anchor, unanchored (no anchor, e.g. written before anchoring existed).
    Run `garrison audit verify` too: it checks the events themselves.
    """
    report = state.services.decisions.verify(state.principal(), request_id)
    if request_id is not None and report.ok and not as_json:
        click.echo(f"decision {request_id} matches audit event {report.anchor_seq}")
    if as_json:
        emit(report.to_dict())
    elif request_id is None and report.ok:
        click.echo(f"decision records intact: {report.records} records in "
                   f"{report.batches} anchored batches")
    for problem in report.problems if not as_json else []:
        where = f"audit event {problem.anchor_seq}" if problem.anchor_seq is not None else ""
        click.echo(f"{problem.reason}: {problem.request_id or ''} {where}".rstrip(), err=True)
    if not report.ok:
        sys.exit(1)


@audit_group.command("log")
@_filters
@click.option("--limit", type=click.IntRange(1, 100_000), default=50, show_default=True)
@json_option
@pass_state
@handle_errors
def audit_log(state: CLIState, actor, action, outcome, resource, since, until, limit,  # type: ignore[no-untyped-def]
              as_json: bool) -> None:
    """Show audit events, oldest first, filtered by actor, action, outcome and time."""
    records = state.services.audit.log(
        state.principal(), _query(actor, action, outcome, resource, since, until, limit)
    )
    if as_json:
        emit([r.to_dict() for r in records])
        return
    table("audit events", ["seq", "time", "actor", "action", "resource", "outcome", "reason"],
          [[r.seq, r.created, r.actor, r.action, r.resource, r.outcome, r.reason]
           for r in records])


@audit_group.command("export")
@_filters
@click.option("--out", type=click.Path(dir_okay=False, writable=True), default="-",
              show_default=True, help="File to write (default: standard output).")
@pass_state
@handle_errors
def audit_export(state: CLIState, actor, action, outcome, resource, since, until,  # type: ignore[no-untyped-def]
                 out: str) -> None:
    """Write matching events as JSON lines (one event per line, with hashes)."""
    query = _query(actor, action, outcome, resource, since, until, None)
    with click.open_file(out, "w", encoding="utf-8", atomic=out != "-") as fh:
        count = state.services.audit.export(state.principal(), query, fh)
    if out != "-":
        click.echo(f"exported {count} events to {out}", err=True)


@audit_group.command("checkpoint")
@json_option
@pass_state
@handle_errors
def audit_checkpoint(state: CLIState, as_json: bool) -> None:
    """Sign the current head and keep it (also in the witness file)."""
    cp = state.services.audit.checkpoint(state.principal())
    emit(cp.to_dict()) if as_json else click.echo(f"checkpoint at {cp.seq}: {cp.hash}")
