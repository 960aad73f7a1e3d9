"""``garrison data poison-check``: find suspicious training rows before a model learns them.

Exit codes: 0 nothing suspicious; 1 suspicious rows found, labels that could not be
judged (the model was too weak), or, with ``--compare``, an alert such as a significant
label shift; 2 unreadable input, unknown target column or any other error. The command
object is ``poison_check_command``; attach it to the ``data`` group with
``data_group.add_command(poison_check_command)``.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

import click

from garrison.cli._common import handle_errors
from garrison.cli._tables import columns_options, leave_out, warn
from garrison.errors import InvalidInput

if TYPE_CHECKING:  # scikit-learn, scipy and pandas: imported when the check runs.
    from garrison.detection.poisoning import ComparisonReport, PoisonReport

__all__ = ["poison_check_command"]

EXIT_CLEAN, EXIT_SUSPICIOUS, EXIT_ERROR = 0, 1, 2
MODELS = ("auto", "logistic", "hist_gradient_boosting", "ensemble")


def _thresholds(values: tuple[str, ...]) -> dict[str, float]:
    """``--threshold CHECK=VALUE`` pairs; a malformed one is a usage error."""
    out: dict[str, float] = {}
    for value in values:
        check, sep, number = value.partition("=")
        try:
            out[check.strip()] = float(number)
        except ValueError:
            sep = ""
        if not sep or not check.strip():
            raise InvalidInput(f"--threshold {value!r} is not CHECK=VALUE (e.g. outlier=0.8)")
    return out


def _print_warnings(report: PoisonReport) -> None:
    for text in report.warnings:
        warn(text)


def _print_report(report: PoisonReport, max_rows: int, new_rows: set[int] | None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False, soft_wrap=True)
    console.print(
        f"[bold]{report.rows}[/] rows, target [bold]{report.target}[/] "
        f"({len(report.classes)} classes), model: {report.model}"
        + (f" (skill {report.model_selection['skill']:.2f})" if report.model_selection else "")
    )
    if not report.labels_judged:
        console.print("[bold red]Labels not judged: the model is too weak (see the warning).[/]")
    checks = Table(title="Checks", title_justify="left")
    for column in ("check", "threshold", "rows flagged", "method"):
        checks.add_column(column)
    for summary in report.checks:
        checks.add_row(
            summary.check, f"{summary.threshold:g}", str(summary.rows_flagged), summary.method
        )
    console.print(checks)
    if not report.findings:
        console.print("[green]No suspicious rows found.[/]")
        return
    confirmed = len(report.confirmed_rows)
    rows = Table(
        title=f"Top {min(max_rows, len(report.findings))} of {len(report.findings)} "
        f"suspicious rows ({confirmed} confirmed by a trigger or a conflicting copy, "
        "listed first)",
        title_justify="left",
    )
    for column in ("row", "score", "confirmed", "label", "checks", "reason"):
        rows.add_column(column)
    for finding in report.findings[:max_rows]:
        marker = " (new)" if new_rows is not None and finding.row in new_rows else ""
        rows.add_row(
            f"{finding.row}{marker}",
            f"{finding.score:.2f}",
            "yes" if finding.confirmed else "",
            str(finding.label),
            ", ".join(finding.checks),
            finding.reasons[0].detail,
        )
    console.print(rows)


def _print_comparison(comparison: ComparisonReport) -> None:
    from rich.console import Console

    console = Console(highlight=False, soft_wrap=True)
    shift = comparison.label_shift
    console.print(
        f"Compared with the accepted set: {len(comparison.new_rows)} new row(s), "
        f"{len(comparison.removed_rows)} removed row(s); label shift chi-square "
        f"{shift.statistic:.2f} (dof {shift.dof}), p = {shift.p_value:.3g}"
    )
    for alert in comparison.alerts:
        console.print(f"[yellow]alert:[/] {alert}")


@click.command("poison-check")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--target", required=True, help="Name of the label column.")
@click.option(
    "--compare",
    "previous",
    type=click.Path(dir_okay=False),
    help="The last accepted training set (CSV or Parquet) to report changes against.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@click.option(
    "--max-rows",
    type=click.IntRange(min=1),
    default=20,
    show_default=True,
    help="How many of the most suspicious rows to print (or include in the JSON).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@click.option(
    "--model",
    type=click.Choice(MODELS),
    default="auto",
    show_default=True,
    help="Out-of-fold model of the label checks. auto: logistic regression, histogram "
    "gradient boosting or their average, whichever has the lowest out-of-fold Brier score.",
)
@click.option(
    "--check",
    "checks",
    multiple=True,
    metavar="CHECK",
    help="Run only this check (repeatable): label-issue, boundary-flip, boundary-hole, "
    "conflicting-duplicates, outlier, backdoor-trigger or a plug-in's id.",
)
@click.option(
    "--threshold",
    "thresholds",
    multiple=True,
    metavar="CHECK=VALUE",
    help="Override one check's threshold, a number in [0, 1] (repeatable), e.g. "
    "--threshold outlier=0.8.",
)
@click.option(
    "--min-model-skill",
    type=click.FloatRange(0.0, 1.0),
    default=0.5,
    show_default=True,
    help="Least out-of-fold skill (balanced accuracy rescaled: 0 chance, 1 perfect) the "
    "model needs before the label checks judge labels; below it they flag nothing, a "
    "warning says why and the exit code is 1. 0 turns the refusal off.",
)
@click.option(
    "--folds", type=click.IntRange(2, 20), default=5, show_default=True,
    help="Cross-validation folds of the out-of-fold model (at most 3 from 50,000 rows on).",
)
@columns_options
@handle_errors
def poison_check_command(
    file: str, target: str, previous: str | None, as_json: bool, max_rows: int, seed: int,
    model: str, checks: tuple[str, ...], thresholds: tuple[str, ...], min_model_skill: float,
    folds: int, drop: tuple[str, ...], keep: tuple[str, ...], encoding: str | None,
) -> None:
    """Find suspicious rows in the training table FILE (CSV or Parquet).

    Runs confident learning on out-of-fold predictions, two checks for targeted flips near
    the boundary (boundary-flip, boundary-hole), exact and near duplicates with
    conflicting labels, outliers and a backdoor-trigger search.
    Rows a mechanism (a trigger, a conflicting copy) explains are listed first as
    confirmed. Columns that look like row ids are left out with a warning (--keep to use
    them).

    \b
    Exit codes: 0 nothing suspicious, 1 suspicious rows, labels not judged (model too
    weak) or alerts, 2 error.
    """
    from garrison.detection.poisoning import (
        PoisonCheckConfig,
        compare_training_sets,
        poison_check,
        read_table,
    )

    current, ids = leave_out(read_table(file, encoding=encoding), drop, keep, what=file,
                             protect=[target])
    config = PoisonCheckConfig(
        checks=tuple(checks) or None,
        thresholds=_thresholds(thresholds),
        model=model,  # type: ignore[arg-type]  # click.Choice checked it
        min_model_skill=min_model_skill,
        folds=folds,
    )
    report = poison_check(current, target, config=config, random_state=seed)
    comparison = None
    if previous is not None:
        accepted, _ = leave_out(read_table(previous, encoding=encoding), drop, keep,
                                what=previous, protect=[target, *ids])
        accepted = accepted.drop(columns=[n for n in ids if n in accepted.columns])
        comparison = compare_training_sets(accepted, current, target)
    new_rows = set(comparison.new_rows) if comparison is not None else None
    if as_json:
        payload: dict[str, Any] = report.to_dict(max_findings=max_rows)
        if comparison is not None:
            for finding in payload["findings"]:
                finding["new_row"] = finding["row"] in (new_rows or set())
            payload["comparison"] = comparison.to_dict()
        click.echo(json.dumps(payload, indent=2, sort_keys=True, ensure_ascii=False))
    else:
        _print_report(report, max_rows, new_rows)
        if comparison is not None:
            _print_comparison(comparison)
    _print_warnings(report)
    suspicious = (
        report.suspicious
        or not report.labels_judged
        or (comparison is not None and bool(comparison.alerts))
    )
    sys.exit(EXIT_SUSPICIOUS if suspicious else EXIT_CLEAN)
