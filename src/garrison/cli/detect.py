"""Offline drift and input checks: ``garrison drift compare`` and ``garrison detect inputs``.

Exit codes: 0 nothing found, 1 drift or anomalous rows found, 2 input error (a clear
message on stderr, never a traceback).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from garrison.cli._common import handle_errors
from garrison.cli._tables import columns_options, leave_out, names, read_table
from garrison.errors import GarrisonError, InvalidInput

__all__ = ["detect_group", "drift_group"]


def _read_reference_profile(path: str, encoding: str | None) -> tuple[Any, Any]:
    """(profile, frame or None): a profile JSON as it is, a table with its frame."""
    from garrison.detection import Profile

    if Path(path).suffix.lower() == ".json":
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InvalidInput(f"{path}: no such file") from None
        except (OSError, ValueError) as exc:
            raise InvalidInput(f"{path}: not valid JSON") from exc
        try:
            return Profile.from_dict(data), None
        except GarrisonError as exc:
            raise InvalidInput(f"{path}: {exc.message}") from exc
    return None, read_table(path, encoding=encoding)


def _profile(frame: Any, path: str) -> Any:
    from garrison.detection import Profile

    try:
        return Profile.from_frame(frame)
    except GarrisonError as exc:
        raise InvalidInput(f"{path}: {exc.message}") from exc


def _load_model(path: str) -> Any:
    if Path(path).suffix.lower() != ".skops":
        raise InvalidInput(
            f"{path}: only .skops model files are accepted (pickle/joblib files can run code)"
        )
    try:
        import skops.io as sio
        from skops.io.exceptions import UntrustedTypesFoundException
    except ImportError as exc:  # pragma: no cover - skops is a core dependency
        raise InvalidInput("reading .skops files needs the skops package") from exc
    try:
        # skops' default trust list only: any type it does not trust refuses the file.
        return sio.load(path)
    except FileNotFoundError:
        raise InvalidInput(f"{path}: no such file") from None
    except UntrustedTypesFoundException as exc:
        raise InvalidInput(
            f"{path}: the model holds types skops does not trust by default; refused"
        ) from exc
    except Exception as exc:
        raise InvalidInput(f"{path}: cannot load model ({type(exc).__name__})") from exc


def _coerce_numeric_text(frame: Any, monitor: Any) -> Any:
    """CSV cells are text; numbers written as text become numbers, the rest stay text
    so that the rules report them as the wrong type."""
    import pandas as pd

    out = frame.copy()
    for name in monitor.numeric_names:
        if name in out.columns and not pd.api.types.is_numeric_dtype(out[name].dtype) \
                and not pd.api.types.is_bool_dtype(out[name].dtype):
            out[name] = pd.Series([_maybe_number(v) for v in out[name]], index=out.index,
                                  dtype=object)
    return out


def _maybe_number(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


@click.group("drift")
def drift_group() -> None:
    """Compare data sets for drift."""


@drift_group.command("compare")
@click.argument("reference")
@click.argument("current")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--alpha", default=0.05, show_default=True, type=click.FloatRange(0, 1),
              help="Significance level after multiple-testing correction.")
@click.option("--correction", default="bh", show_default=True,
              type=click.Choice(["bh", "holm", "none"]))
@columns_options
@handle_errors
def drift_compare(reference: str, current: str, as_json: bool, alpha: float,
                  correction: str, drop: tuple[str, ...], keep: tuple[str, ...],
                  encoding: str | None) -> None:
    """Compare CURRENT with REFERENCE (CSV, Parquet, or a profile JSON).

    Columns that look like row ids are left out with a warning (--keep to compare them);
    --drop leaves a column out of whichever table has it (the label of a training set).
    """
    from garrison.detection import DriftConfig, compare

    profile, ref_frame = _read_reference_profile(reference, encoding)
    current_frame = read_table(current, encoding=encoding)
    known = {*map(str, current_frame.columns), *(
        map(str, ref_frame.columns) if ref_frame is not None
        else (f.name for f in profile.features))}
    unknown = [n for n in names(drop) if n not in known]
    if unknown:
        raise InvalidInput(f"neither table has a column {unknown[0]!r} to leave out")
    frame, ids = leave_out(current_frame, drop, keep, what=current, strict=False,
                           protect=[n for n in names(keep) if n not in current_frame.columns])
    if ref_frame is not None:
        ref_frame, ref_ids = leave_out(ref_frame, drop, keep, what=reference, strict=False,
                                       protect=[n for n in names(keep)
                                                if n not in ref_frame.columns])
        ref_frame = ref_frame.drop(columns=[n for n in ids if n in ref_frame.columns])
        frame = frame.drop(columns=[n for n in ref_ids if n in frame.columns])
        profile = _profile(ref_frame, reference)
    else:
        gone = {*names(drop), *ids} & {f.name for f in profile.features}
        profile = profile.without(gone) if gone else profile
    try:
        report = compare(profile, frame, DriftConfig(alpha=alpha, correction=correction))
    except GarrisonError as exc:
        raise InvalidInput(exc.message) from exc
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2, allow_nan=False))
    else:
        verdict = "DRIFT" if report.drifted else "no drift"
        click.echo(f"{verdict}: {len(report.drifted_features)} of {len(report.features)} "
                   f"features drifted; {len(report.correlation_drift)} correlation pairs "
                   f"changed ({report.rows_current} rows vs {report.rows_reference})")
        for feat in report.features:
            for c in feat.checks:
                mark = "DRIFT" if c.drifted else "ok"
                click.echo(f"  {feat.feature:<24} {c.check:<13} {c.method:<22} "
                           f"p_adj={c.p_adjusted:.3g} {c.effect_method}={c.effect_size:.3g}"
                           f" (>= {c.threshold:g}) {mark}")
        for c in report.correlation_drift:
            click.echo(f"  {c.feature:<24} correlation   delta={c.effect_size:.3g} DRIFT")
    click.get_current_context().exit(1 if report.drifted else 0)


@click.group("detect")
def detect_group() -> None:
    """Check inputs for anomalies and adversarial examples."""


@detect_group.command("inputs")
@click.option("--reference", required=True, help="Reference data (CSV or Parquet).")
@click.option("--model", "model_file", default=None,
              help="A .skops model file (skops' default trust list only).")
@click.option("--fpr", default=0.01, show_default=True, type=click.FloatRange(0.0001, 0.5),
              help="Target false-positive rate on data like the reference.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--json", "as_json", is_flag=True, help="Print the verdicts as JSON.")
@columns_options
@click.argument("inputs")
@handle_errors
def detect_inputs(reference: str, model_file: str | None, fpr: float, seed: int,
                  as_json: bool, drop: tuple[str, ...], keep: tuple[str, ...],
                  encoding: str | None, inputs: str) -> None:
    """Score every row of INPUTS (CSV or Parquet) against REFERENCE.

    Columns that look like row ids are left out with a warning (--keep to score them).
    """
    from garrison.detection import InputMonitor

    ref, ref_ids = leave_out(read_table(reference, encoding=encoding), drop, keep,
                             what=reference)
    rows, ids = leave_out(read_table(inputs, encoding=encoding), drop, keep, what=inputs)
    ref = ref.drop(columns=[n for n in ids if n in ref.columns])
    rows = rows.drop(columns=[n for n in ref_ids if n in rows.columns])
    model = _load_model(model_file) if model_file else None
    try:
        monitor = InputMonitor.fit(ref, model=model, fpr=fpr, rng=seed)
        verdicts = monitor.score_frame(_coerce_numeric_text(rows, monitor))
    except GarrisonError as exc:
        raise InvalidInput(exc.message) from exc
    flagged = sum(v.anomalous for v in verdicts)
    if as_json:
        body = {
            "rows": len(verdicts),
            "anomalous": flagged,
            "fpr": fpr,
            "detectors": [
                {"id": name, "threshold": t} for name, t in monitor.thresholds.items()
            ],
            "results": [
                {"row": i, "anomalous": v.anomalous, "score": v.to_dict()["score"],
                 "reasons": list(v.reasons)}
                for i, v in enumerate(verdicts)
            ],
        }
        click.echo(json.dumps(body, indent=2, allow_nan=False))
    else:
        click.echo(f"{flagged} of {len(verdicts)} rows anomalous (target FPR {fpr:g}; "
                   f"detectors: {', '.join(monitor.thresholds) or 'rules only'})")
        for i, v in enumerate(verdicts):
            if v.anomalous:
                click.echo(f"  row {i}: score {v.score:.3g}: {'; '.join(v.reasons)}")
    click.get_current_context().exit(1 if flagged else 0)
