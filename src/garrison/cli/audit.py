"""`garrison audit` commands: verify, decisions, log, export, checkpoint."""

from __future__ import annotations

import sys

import click

from garrison.audit import AuditQuery
from garrison.cli._common import (
    CLIState,
    emit,
    handle_errors,
    json_option,
    pass_state,
    table,
    utc_time,
)
from garrison.errors import AuditChainBroken

__all__ = ["audit_group"]


@click.group("audit")
def audit_group() -> None:
    """Verify, read and export the tamper-evident audit trail."""


def _filters(fn):
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


def _query(actor, action, outcome, resource, since, until, limit,
           newest_first=False) -> AuditQuery:
    return AuditQuery(actor=actor, action=action, outcome=outcome, resource=resource,
                      since=utc_time(since), until=utc_time(until), limit=limit,
                      newest_first=newest_first)


@audit_group.command("verify")
@json_option
@pass_state
@handle_errors
def audit_verify(state: CLIState, as_json: bool) -> None:
    """Check every event's hash, the chain links and the signed head and checkpoints.

    Exit 0 when intact; exit 1 naming the first bad position and the reason
    (modified, deleted, inserted, reordered, truncated, rewritten, bad-checkpoint,
    or quarantined: records forged past the signed head were moved aside and no admin
    has acknowledged the incident yet, see `garrison audit acknowledge`).
    """
    try:
        report = state.services.audit.verify(state.principal())
    except AuditChainBroken as exc:
        if as_json:
            emit({"ok": False, "position": exc.position, "reason": exc.reason,
                  "message": exc.message,
                  **({"incidents": exc.detail["incidents"]} if "incidents" in exc.detail
                     else {})})
        else:
            click.echo(f"error ({exc.code}): {exc.message}", err=True)
            click.echo(f"reason: {exc.reason}, position: {exc.position}", err=True)
        sys.exit(1)
    if as_json:
        emit(report.to_dict())
        return
    click.echo(f"audit trail intact: {report.events} events, head {report.head_seq} "
               f"{report.head_hash[:16]}, {report.checkpoints_checked} signed checkpoint(s)")
    for incident in report.incidents:
        click.echo(f"incident {incident.id}: {incident.describe()}; acknowledged by "
                   f"{incident.acknowledged_by} at event {incident.acknowledged_at}")


@audit_group.command("state")
@json_option
@pass_state
@handle_errors
def audit_state(state: CLIState, as_json: bool) -> None:
    """Reconcile governance state with the signed audit trail.

    Checks that every principal (roles, enabled), unrevoked API key, model version
    in a servable stage (its stage and artifact digest) and deployment policy is
    exactly as Garrison last recorded it: sealed with the signing key together with
    the audit event that made it, and not older than a later event. Exit 0 when all
    of it is backed; exit 1 listing each piece that is not (unsealed: written
    outside Garrison; bad-seal: changed outside Garrison; stale: an older state put
    back; no-approval: served without an approval of that artifact). Such state is
    refused wherever it would grant power. Admins and auditors.
    """
    report = state.services.state.reconcile(state.principal())
    if as_json:
        emit(report.to_dict())
    else:
        if report.ok:
            click.echo(f"governance state backed by the audit trail: "
                       f"{', '.join(report.checked)}")
        for f in report.findings:
            click.echo(f"{f.kind} {f.key}: {f.reason}: {f.message}", err=True)
    if not report.ok:
        sys.exit(1)


@audit_group.command("acknowledge")
@click.argument("incident")
@click.option("--reason", required=True, help="What was examined (kept in the audit trail).")
@json_option
@pass_state
@handle_errors
def audit_acknowledge(state: CLIState, incident: str, reason: str, as_json: bool) -> None:
    """Acknowledge INCIDENT (as `audit verify` names it, e.g. quarantine:57). Admin only.

    An incident is tampering Garrison found and recorded itself, such as records
    forged past the signed head and moved to quarantine. `audit verify` fails until
    every incident is acknowledged; the acknowledgment is an audit event.
    """
    found = state.services.audit.acknowledge(state.principal(), incident, reason)
    emit(found.to_dict()) if as_json else click.echo(f"acknowledged {found.id}")


@audit_group.command("decisions")
@click.option("--request-id", help="Check only the batch of this decision.")
@click.option("--since", help="Judge only decision logs opened from this time (ISO-8601).")
@json_option
@pass_state
@handle_errors
def audit_decisions(state: CLIState, request_id: str | None, since: str | None,
                    as_json: bool) -> None:
    """Check decision records against their anchors, and account for every answer.

    Each batch of decision records is anchored by one audit event carrying its size
    and a SHA-256 over the stored rows. Each gateway worker numbers its records and
    reserves numbers ahead of use, so a lost record leaves a gap. Exit 0 when every
    record matches and none is lost; exit 1 listing each problem: batch-mismatch (a
    record was changed, deleted or added), not-an-anchor, unanchored (no anchor, e.g.
    written before anchoring existed), dropped (records the gateway could not store),
    missing (numbers neither stored nor dropped), unclosed (a worker stopped without
    closing its log, e.g. kill -9: up to the given number of answered predictions have
    no record, at most its window). Run `garrison audit verify` too: it checks the
    events themselves.
    """
    report = state.services.decisions.verify(state.principal(), request_id,
                                             since=utc_time(since))
    summary = report.to_dict()
    if as_json:
        emit(summary)
    else:
        _print_decisions(summary, request_id)
    if not report.ok:
        sys.exit(1)


def _print_decisions(summary: dict, request_id: str | None) -> None:
    if request_id is not None and summary["ok"]:
        click.echo(f"decision {request_id} matches audit event {summary['anchor_seq']}")
    elif request_id is None:
        state = "intact" if summary["ok"] else "checked"
        click.echo(f"decision records {state}: {summary['records']} records in "
                   f"{summary['batches']} anchored batches")
    for w in summary.get("writers", []):
        line = (f"writer {w['writer']} {w['state']}: {w['written']} stored, "
                f"{w['dropped']} dropped, {w['missing']} missing")
        if w["state"] != "closed" and w["possibly_missing"]:
            line += (f"; up to {w['possibly_missing']} answered predictions have no record"
                     if w["state"] == "unclosed" else
                     f"; {w['possibly_missing']} numbers reserved ahead (running)")
        click.echo(line)
    for p in summary["problems"]:
        where = f"audit event {p['anchor_seq']}" if p.get("anchor_seq") is not None else ""
        if p.get("writer"):
            where = f"writer {p['writer']}: {p['count']} record(s)"
        click.echo(f"{p['reason']}: {p.get('request_id') or ''} {where}".replace("  ", " ")
                   .strip(), err=True)


@audit_group.command("log")
@_filters
@click.option("--limit", type=click.IntRange(1, 100_000), default=50, show_default=True,
              help="How many events: the newest ones (the oldest with --oldest-first).")
@click.option("--oldest-first", is_flag=True, help="Oldest events first (default: newest).")
@json_option
@pass_state
@handle_errors
def audit_log(state: CLIState, actor, action, outcome, resource, since, until, limit,
              oldest_first: bool, as_json: bool) -> None:
    """Show the newest audit events first, filtered by actor, action, outcome and time."""
    records = state.services.audit.log(
        state.principal(), _query(actor, action, outcome, resource, since, until, limit,
                                  newest_first=not oldest_first)
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
def audit_export(state: CLIState, actor, action, outcome, resource, since, until,
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
