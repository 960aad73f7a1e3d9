"""`garrison scan PATH`: decide whether a model artifact is safe to load.

Exit codes: 0 safe to load, 1 refused, 2 could not be scanned (which refuses too).
"""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from garrison.cli._common import handle_errors
from garrison.errors import InvalidInput
from garrison.scanning import DEFAULT_POLICY, ScanReport, scan_path

__all__ = ["render_report", "scan_command"]

_STYLE = {"safe": "bold green", "refused": "bold red", "unscannable": "bold yellow"}


def render_report(report: ScanReport, console: Console) -> None:
    """Print a human summary and a table of findings."""
    console.print(
        Text.assemble(
            (report.verdict.upper(), _STYLE[report.verdict]),
            f"  {report.name}  format={report.format}  size={report.size}  "
            f"scanned={report.bytes_scanned}",
        )
    )
    console.print(Text(f"sha256 {report.sha256}"))
    if not report.findings:
        return
    table = Table(show_lines=False)
    table.add_column("severity", no_wrap=True)
    table.add_column("rule", no_wrap=True)
    for column in ("location", "name", "message"):
        table.add_column(column, overflow="fold")
    for finding in report.findings:
        location = finding.member or ""
        if finding.offset is not None:
            location = f"{location}@{finding.offset}" if location else f"@{finding.offset}"
        table.add_row(
            Text(finding.severity),
            Text(finding.rule_id),
            Text(location),
            Text(finding.name or ""),
            Text(finding.message),
        )
    console.print(table)
    if report.findings_truncated:
        console.print(Text("(more findings were dropped; the verdict counts them all)"))


@click.command("scan")
@click.argument("path", type=click.Path(path_type=Path, dir_okay=True))
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option(
    "--allow",
    "allow",
    multiple=True,
    metavar="MODULE.NAME",
    help="Also allow this global (or MODULE.*) for this run; repeatable.",
)
@handle_errors
def scan_command(path: Path, as_json: bool, allow: tuple[str, ...]) -> None:
    """Scan a model artifact without loading it.

    \b
    Exit codes: 0 safe to load, 1 refused, 2 could not be scanned (or no such file).
    """
    if not path.exists():
        raise InvalidInput(f"{path}: no such file or directory")
    try:
        policy = DEFAULT_POLICY.with_allowed(*allow)
    except InvalidInput as exc:
        raise click.BadParameter(str(exc), param_hint="--allow") from exc
    report = scan_path(path, policy)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2, sort_keys=True))
    else:
        render_report(report, Console(highlight=False, soft_wrap=True))
    raise SystemExit(report.exit_code)
