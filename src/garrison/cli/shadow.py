"""`garrison shadow` commands: compare a shadow version with production."""

from __future__ import annotations

import click

from garrison.cli._common import (
    CLIState,
    emit,
    handle_errors,
    json_option,
    pass_state,
    table,
    utc_time,
)
from garrison.serving.shadow import ShadowReport

__all__ = ["shadow_group"]


@click.group("shadow")
def shadow_group() -> None:
    """Compare shadow deployments with production on mirrored traffic."""


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.2%}"


def _num(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _print(report: ShadowReport) -> None:
    versions = ", ".join(str(v) for v in report.shadow_versions) or "-"
    table(f"Shadow report: {report.model} (shadow version {versions})", ["measure", "value"], [
        ["mirrored requests", report.requests],
        ["compared requests", report.compared_requests],
        ["rows compared", report.rows_compared],
        ["agreement (rows)", _pct(report.agreement)],
        ["agreement (requests)", _pct(report.request_agreement)],
        [f"mean |diff| ({report.diff_basis or 'n/a'})", _num(report.mean_abs_diff, 6)],
        [f"max |diff| ({report.diff_basis or 'n/a'})", _num(report.max_abs_diff, 6)],
        ["shadow error rate", _pct(report.shadow_error_rate)],
        ["primary error rate", _pct(report.primary_error_rate)],
        ["first request", report.first or "-"],
        ["last request", report.last or "-"],
    ])
    p, s = report.primary_latency, report.shadow_latency
    table("Latency (ms)", ["version", "count", "p50", "p95", "p99"], [
        ["primary", p.count, _num(p.p50), _num(p.p95), _num(p.p99)],
        ["shadow", s.count, _num(s.p50), _num(s.p95), _num(s.p99)],
    ])
    if report.shadow_error_kinds:
        table("Shadow errors", ["error", "count"],
              [[k, v] for k, v in report.shadow_error_kinds.items()])
    if report.differences:
        table("Prediction differences (first per request)",
              ["request id", "row", "primary", "shadow", "shadow error"],
              [[d.request_id, d.row, d.primary, d.shadow, d.shadow_error]
               for d in report.differences])


@shadow_group.command("report")
@click.argument("name")
@click.option("--version", "version", type=click.IntRange(min=1),
              help="Shadow version to report on (default: the newest with observations).")
@click.option("--since", help="Only requests from this time (ISO-8601, UTC if no zone).")
@click.option("--limit", type=click.IntRange(1, 1_000_000), default=100_000, show_default=True,
              help="Use at most this many of the newest mirrored requests.")
@click.option("--tolerance", type=click.FloatRange(min=0.0), default=1e-6, show_default=True,
              help="Relative tolerance for numeric predictions to agree.")
@json_option
@pass_state
@handle_errors
def shadow_report(state: CLIState, name: str, version: int | None, since: str | None,
                  limit: int, tolerance: float, as_json: bool) -> None:
    """Agreement, prediction differences, latency percentiles and error rates of a
    shadow version against production on the same mirrored requests."""
    report = state.services.shadows.report(state.principal(), name, version=version,
                                           since=utc_time(since), limit=limit,
                                           tolerance=tolerance)
    if as_json:
        emit(report.to_dict())
    elif not report.requests:
        click.echo(f"no mirrored requests recorded for {name}"
                   + (f" version {version}" if version is not None else ""))
    else:
        _print(report)
