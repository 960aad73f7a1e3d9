"""``garrison data``: PII discovery, re-identification risk and anonymization of datasets.

The group is exported as ``data_group`` so further commands (``pseudonymize``,
``register``, ``poison-check``) can be attached with ``data_group.add_command``.
Exit codes follow the CLI table: 0 ok, 2 for an unreadable or malformed file or
bad arguments.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import click

from garrison.cli._common import emit, handle_errors, json_option, table
from garrison.errors import InvalidInput
from garrison.privacy import ScanReport, anonymize_file, scan_file
from garrison.privacy.anonymize import DEFAULT_MAX_SUPPRESSION
from garrison.privacy.scan import DEFAULT_SAMPLE_SIZE, DEFAULT_TARGET_K
from garrison.schema import InputSchema

__all__ = ["data_group"]


@click.group("data")
def data_group() -> None:
    """Data privacy: find PII, measure re-identification risk, anonymize."""


def _names(values: Sequence[str]) -> list[str]:
    """Accept ``--quasi a,b --quasi c`` as well as repeated options."""
    return [n.strip() for value in values for n in value.split(",") if n.strip()]


def _load_schema(path: str | None) -> InputSchema | None:
    if path is None:
        return None
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInput(f"cannot read the input schema {Path(path).name}") from exc
    return InputSchema.from_dict(data)


@data_group.command("scan")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "--sample-size",
    type=click.IntRange(min=1),
    default=DEFAULT_SAMPLE_SIZE,
    show_default=True,
    help="Values sampled per column (reservoir sample).",
)
@click.option(
    "--quasi",
    multiple=True,
    help="Quasi-identifiers to use instead of those found (repeat or comma-separate).",
)
@click.option("--sensitive", help="Sensitive column for l-diversity (default: the first found).")
@click.option(
    "--target-k",
    type=click.IntRange(min=1),
    default=DEFAULT_TARGET_K,
    show_default=True,
    help="k the anonymization suggestion aims for.",
)
@click.option(
    "--max-suppression",
    type=click.FloatRange(0.0, 1.0, max_open=True),
    default=DEFAULT_MAX_SUPPRESSION,
    show_default=True,
    help="Largest share of rows the suggestion may suppress.",
)
@click.option(
    "--schema",
    "schema_path",
    type=click.Path(dir_okay=False),
    help="Model input schema (JSON): report columns the model does not need.",
)
@click.option(
    "--keep",
    multiple=True,
    help="Columns needed although not model inputs (the label); used with --schema.",
)
@click.option("--no-risk", is_flag=True, help="Skip the re-identification risk analysis.")
@click.option("--seed", type=int, default=0, show_default=True, help="Sampling seed.")
@json_option
@handle_errors
def scan_command(
    file: str,
    sample_size: int,
    quasi: tuple[str, ...],
    sensitive: str | None,
    target_k: int,
    max_suppression: float,
    schema_path: str | None,
    keep: tuple[str, ...],
    no_risk: bool,
    seed: int,
    as_json: bool,
) -> None:
    """Find PII, quasi-identifiers and sensitive columns in a CSV or Parquet FILE.

    Columns are judged from their values (the header is a weak hint). The risk
    section gives exact k-anonymity, unique rows, l-diversity and the column
    combinations that single people out, plus a plan that reaches --target-k.
    """
    report = scan_file(
        file,
        sample_size=sample_size,
        quasi=_names(quasi) or None,
        sensitive=sensitive,
        target_k=target_k,
        max_suppression=max_suppression,
        schema=_load_schema(schema_path),
        keep=_names(keep),
        risk=not no_risk,
        seed=seed,
    )
    if as_json:
        emit(report.to_dict())
        return
    _print_scan(report)


def _print_scan(report: ScanReport) -> None:
    rows = []
    for column in report.columns:
        if column.free_text:
            kinds = ", ".join(f"{t} {s:.0%}" for t, s in sorted(column.text_contains.items()))
            kinds = f"free text: {kinds or 'nothing found'}"
        else:
            kinds = ", ".join(f"{t.pii_type} ({t.share:.0%})" for t in column.pii_types)
        rows.append([column.name, column.role, f"{column.confidence:.2f}", kinds])
    table(f"{report.source}: {report.rows} rows", ["column", "role", "confidence", "found"], rows)
    risk = report.risk
    if risk is not None:
        click.echo(f"quasi-identifiers: {', '.join(risk.quasi_identifiers)}")
        click.echo(
            f"k-anonymity: {risk.k_anonymity}; unique rows: {risk.unique_rows} "
            f"({risk.unique_share:.1%}); classes: {risk.classes}"
        )
        if risk.sensitive is not None:
            click.echo(f"l-diversity of {risk.sensitive}: {risk.l_diversity}")
        for combo in risk.risky_combinations:
            click.echo(
                f"  {' + '.join(combo.columns)} makes {combo.unique_share:.1%} of rows unique"
            )
        suggestion = risk.suggestion or {}
        if "generalizations" in suggestion:
            click.echo(
                f"to reach k={suggestion['target_k']} (suppressing "
                f"{suggestion['rows_suppressed']} rows):"
            )
            for step in suggestion["generalizations"]:  # type: ignore[attr-defined]
                click.echo(f"  {step['column']}: {step['description']}")
    if report.minimization is not None:
        mini = report.minimization
        click.echo(f"not needed by the model: {', '.join(mini.unneeded) or 'none'}")
        if mini.unneeded_pii:
            click.echo(f"  of which PII (drop or pseudonymize): {', '.join(mini.unneeded_pii)}")
        if mini.missing_features:
            click.echo(f"model features missing from the data: {', '.join(mini.missing_features)}")


@data_group.command("anonymize")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "--quasi",
    multiple=True,
    required=True,
    help="Quasi-identifiers to generalize (repeat or comma-separate).",
)
@click.option("--k", "k", type=click.IntRange(min=1), required=True, help="Target k.")
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False),
    required=True,
    help="Output file (.csv or .parquet).",
)
@click.option(
    "--max-suppression",
    type=click.FloatRange(0.0, 1.0, max_open=True),
    default=DEFAULT_MAX_SUPPRESSION,
    show_default=True,
    help="Largest share of rows that may be suppressed.",
)
@click.option("--drop", multiple=True, help="Columns to leave out (direct identifiers).")
@json_option
@handle_errors
def anonymize_command(
    file: str,
    quasi: tuple[str, ...],
    k: int,
    out: str,
    max_suppression: float,
    drop: tuple[str, ...],
    as_json: bool,
) -> None:
    """Generalize quasi-identifiers of FILE and suppress rare rows until it is k-anonymous.

    The k reported is recomputed from the written file.
    """
    result = anonymize_file(
        file, out, _names(quasi), k, max_suppression=max_suppression, drop=_names(drop)
    )
    if as_json:
        emit(result.to_dict())
        return
    click.echo(f"wrote {result.rows_written} rows to {out}; suppressed {result.rows_suppressed}")
    click.echo(f"k-anonymity reached: {result.k_verified} (target {k})")
    for hierarchy, level in zip(result.plan.hierarchies, result.plan.levels, strict=True):
        click.echo(f"  {hierarchy.column}: {hierarchy.describe(level)}")
