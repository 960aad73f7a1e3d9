"""``garrison data``: PII discovery, risk, anonymization, pseudonymization, dataset registry.

The group is exported as ``data_group``; ``poison-check`` lives in its own module and
is imported only when it runs.
Exit codes follow the CLI table: 0 ok, 2 for an unreadable or malformed file or
bad arguments.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from garrison.cli._common import CLIState, emit, handle_errors, json_option, pass_state, table
from garrison.cli._lazy import LazyCommand, LazyGroup
from garrison.errors import InvalidInput
from garrison.schema import InputSchema

if TYPE_CHECKING:  # pandas and pyarrow come with these: imported by the commands only.
    from garrison.datasets import PseudonymizationResult
    from garrison.privacy import ScanReport

__all__ = ["data_group"]

#: The defaults of garrison.privacy (DEFAULT_SAMPLE_SIZE, DEFAULT_TARGET_K,
#: DEFAULT_MAX_SUPPRESSION), written out so that `--help` does not import pandas;
#: tests/cli/test_lazy.py keeps them equal.
DEFAULT_SAMPLE_SIZE = 10_000
DEFAULT_TARGET_K = 5
DEFAULT_MAX_SUPPRESSION = 0.05


@click.group("data", cls=LazyGroup, lazy={
    "poison-check": LazyCommand("garrison.cli.poison", "poison_check_command",
                                "Find suspicious rows in the training table FILE (CSV or "
                                "Parquet)."),
})
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
    from garrison.privacy import scan_file

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
    from garrison.privacy import anonymize_file

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


# --- dataset registry and pseudonymization (need credentials: GARRISON_API_KEY) -------


@data_group.command("register")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--name", "name", required=True, help="Dataset name (letters, digits, _ . -).")
@click.option("--target", help="Label column: also run the poisoning check.")
@click.option("--quasi", multiple=True, help="Quasi-identifiers for the risk analysis.")
@json_option
@pass_state
@handle_errors
def register_command(
    state: CLIState, file: str, name: str, target: str | None, quasi: tuple[str, ...],
    as_json: bool,
) -> None:
    """Record FILE as the next version of dataset NAME.

    Records the SHA-256 of the bytes, the schema, the row count and the privacy scan
    (and with --target the poisoning check). The same bytes registered again under the
    same name return the existing version. A model version refers to it through the
    ``datasets`` entry of its metadata (printed as ``model_reference``).
    """
    v = state.services.datasets.register(
        state.principal(), file, name, target=target, quasi=_names(quasi) or None)
    if as_json:
        emit(v.to_dict(reports=True))
        return
    click.echo(f"dataset {v.ref}: {v.rows} rows, {len(v.columns)} columns, {v.format}, "
               f"sha256 {v.digest}")
    click.echo(f"direct identifiers: {', '.join(v.pii_columns) or 'none found'}")
    if v.suspicious_rows is not None:
        click.echo(f"poisoning check on {v.target}: {v.suspicious_rows} suspicious rows")
        for text in (v.poison_report or {}).get("warnings", []):
            click.echo(f"{click.style('warning', fg='yellow', bold=True)}: poisoning check: "
                       f"{text}", err=True)
    click.echo("model metadata entry: " + json.dumps(v.model_reference()))


@data_group.command("list")
@click.argument("name", required=False)
@json_option
@pass_state
@handle_errors
def list_command(state: CLIState, name: str | None, as_json: bool) -> None:
    """List registered dataset versions (all datasets, or NAME's versions)."""
    versions = state.services.datasets.list(state.principal(), name)
    if as_json:
        emit([v.to_dict() for v in versions])
        return
    table("datasets", ["dataset", "rows", "columns", "sha256", "PII", "suspicious", "registered"],
          [[v.ref, v.rows, len(v.columns), v.digest[:16], ", ".join(v.pii_columns),
            "-" if v.suspicious_rows is None else v.suspicious_rows, v.created]
           for v in versions])


@data_group.command("show")
@click.argument("ref", metavar="NAME[:VERSION]")
@pass_state
@handle_errors
def show_command(state: CLIState, ref: str) -> None:
    """Print one dataset version (the newest by default) with its full reports, as JSON."""
    from garrison.datasets import parse_dataset_ref

    name, version = parse_dataset_ref(ref)
    emit(state.services.datasets.get(state.principal(), name, version).to_dict(reports=True))


_columns_option = click.option(
    "--columns", "columns", multiple=True, required=True,
    help="Columns to transform (comma-separate or repeat).")
_out_option = click.option(
    "--out", "out", type=click.Path(dir_okay=False), required=True,
    help="Output file (.csv or .parquet).")
_context_option = click.option(
    "--context", default="", help="Namespace bound into the tokens (keep equal to join).")


def _print_pseudonymized(result: PseudonymizationResult, as_json: bool) -> None:
    data = result.to_dict()
    if as_json:
        emit(data)
        return
    verb = "re-identified" if data["action"] == "reidentify-data" else "pseudonymized"
    click.echo(f"{verb} {', '.join(data['columns'])} in {data['rows']} rows -> {data['output']} "
               f"({data['mode']}, key {data['key_id']}"
               + (", key created" if data["key_created"] else "") + ")")


@data_group.command("pseudonymize")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@_columns_option
@_out_option
@click.option("--reversible", is_flag=True,
              help="AES-SIV tokens that `garrison data reidentify` can decrypt.")
@_context_option
@json_option
@pass_state
@handle_errors
def pseudonymize_command(
    state: CLIState, file: str, columns: tuple[str, ...], out: str, reversible: bool,
    context: str, as_json: bool,
) -> None:
    """Replace COLUMNS of FILE by keyed tokens, written to OUT.

    Default: HMAC-SHA256 tokens, the same for the same value under the installation's
    key (files still join on them) and not reversible. With --reversible, AES-SIV
    tokens an auditor can decrypt. The keys live in HOME/keys (0600); every use is
    audited with the file digests and columns, never the key.
    """
    result = state.services.pseudonyms.pseudonymize(
        state.principal(), file, out, _names(columns), reversible=reversible, context=context)
    _print_pseudonymized(result, as_json)


@data_group.command("reidentify")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@_columns_option
@_out_option
@_context_option
@json_option
@pass_state
@handle_errors
def reidentify_command(
    state: CLIState, file: str, columns: tuple[str, ...], out: str, context: str,
    as_json: bool,
) -> None:
    """Decrypt the reversible (AES-SIV) tokens in COLUMNS of FILE, written to OUT (0600).

    Needs the reidentify-data permission (auditors); every attempt is audited. A token
    that does not open leaves no output behind (exit 1).
    """
    result = state.services.pseudonyms.reidentify(
        state.principal(), file, out, _names(columns), context=context)
    _print_pseudonymized(result, as_json)
