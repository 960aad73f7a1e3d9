"""Offline drift and input checks: ``garrison drift compare`` and ``garrison detect inputs``.

Exit codes: 0 nothing found, 1 drift or anomalous rows found, 2 input error (a clear
message on stderr, never a traceback).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import pandas as pd

from garrison.detection import DriftConfig, InputMonitor, Profile, compare
from garrison.errors import GarrisonError

__all__ = ["detect_group", "drift_group"]

_TABLE_SUFFIXES = (".csv", ".parquet", ".pq")


class InputError(click.ClickException):
    """A bad file or argument: exit status 2."""

    exit_code = 2


def _read_table(path: str) -> pd.DataFrame:
    suffix = Path(path).suffix.lower()
    if suffix not in _TABLE_SUFFIXES:
        raise InputError(f"{path}: expected a .csv or .parquet file")
    try:
        frame = pd.read_csv(path) if suffix == ".csv" else pd.read_parquet(path)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except (OSError, ValueError, pd.errors.ParserError, ImportError) as exc:
        raise InputError(f"{path}: cannot read table ({type(exc).__name__})") from exc
    if frame.empty or frame.shape[1] == 0:
        raise InputError(f"{path}: the table is empty")
    return frame


def _read_reference_profile(path: str) -> Profile:
    if Path(path).suffix.lower() == ".json":
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InputError(f"{path}: no such file") from None
        except (OSError, ValueError) as exc:
            raise InputError(f"{path}: not valid JSON") from exc
        try:
            return Profile.from_dict(data)
        except GarrisonError as exc:
            raise InputError(f"{path}: {exc.message}") from exc
    return _profile(_read_table(path), path)


def _profile(frame: pd.DataFrame, path: str) -> Profile:
    try:
        return Profile.from_frame(frame)
    except GarrisonError as exc:
        raise InputError(f"{path}: {exc.message}") from exc


def _load_model(path: str) -> Any:
    if Path(path).suffix.lower() != ".skops":
        raise InputError(
            f"{path}: only .skops model files are accepted (pickle/joblib files can run code)"
        )
    try:
        import skops.io as sio
        from skops.io.exceptions import UntrustedTypesFoundException
    except ImportError as exc:  # pragma: no cover - skops is a core dependency
        raise InputError("reading .skops files needs the skops package") from exc
    try:
        # skops' default trust list only: any type it does not trust refuses the file.
        return sio.load(path)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except UntrustedTypesFoundException as exc:
        raise InputError(
            f"{path}: the model holds types skops does not trust by default; refused"
        ) from exc
    except Exception as exc:
        raise InputError(f"{path}: cannot load model ({type(exc).__name__})") from exc


def _coerce_numeric_text(frame: pd.DataFrame, monitor: InputMonitor) -> pd.DataFrame:
    """CSV cells are text; numbers written as text become numbers, the rest stay text
    so that the rules report them as the wrong type."""
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
def drift_compare(reference: str, current: str, as_json: bool, alpha: float,
                  correction: str) -> None:
    """Compare CURRENT with REFERENCE (CSV, Parquet, or a profile JSON)."""
    profile = _read_reference_profile(reference)
    frame = _read_table(current)
    try:
        report = compare(profile, frame, DriftConfig(alpha=alpha, correction=correction))
    except GarrisonError as exc:
        raise InputError(exc.message) from exc
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
@click.argument("inputs")
def detect_inputs(reference: str, model_file: str | None, fpr: float, seed: int,
                  as_json: bool, inputs: str) -> None:
    """Score every row of INPUTS (CSV or Parquet) against REFERENCE."""
    ref = _read_table(reference)
    rows = _read_table(inputs)
    model = _load_model(model_file) if model_file else None
    try:
        monitor = InputMonitor.fit(ref, model=model, fpr=fpr, rng=seed)
        verdicts = monitor.score_frame(_coerce_numeric_text(rows, monitor))
    except GarrisonError as exc:
        raise InputError(exc.message) from exc
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
