"""Offline drift and input checks: ``garrison drift compare`` and ``garrison detect inputs``.

Exit codes: 0 nothing found, 1 drift or anomalous rows found, 2 input error (a clear
message on stderr, never a traceback).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from garrison.cli._common import CLIState, handle_errors, pass_state
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


_MODEL_FILES = (".skops", ".pkl", ".pickle", ".joblib", ".onnx", ".json", ".ubj", ".txt")


def _is_model_file(value: str) -> bool:
    return Path(value).suffix.lower() in _MODEL_FILES or Path(value).exists()


def _registered_model(state: CLIState, ref: str) -> tuple[Any, Any]:
    """(model, signed reference frame or None) of the registered version ``ref``.

    The registry's loader does what the gateway does: signed manifest, sealed blob,
    digest, a fresh scan, then the format's restricted loader. The model ends up in
    this process, so the caller needs the same permission as for a download, and the
    load is audited under the caller's name.
    """
    from garrison.registry import parse_ref

    name, version = parse_ref(ref)
    if version is None:
        raise InvalidInput(f"say which version: {name}:N")
    principal = state.principal()
    services = state.services
    services.guard.require(principal, "download-artifact", f"model:{name}:{version}")
    loaded = services.loader.load(name, version, actor=principal.name)
    return loaded.model, services.registry.reference_frame(loaded.version)


def _load_model(path: str) -> Any:
    if Path(path).suffix.lower() != ".skops":
        raise InvalidInput(
            f"{path}: only .skops model files are read directly (pickle/joblib files can run "
            "code); register the model (garrison model register) and pass NAME:VERSION, "
            "which loads it through the registry's scan and restricted loader"
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
@click.option("--model", "model_ref", default=None, metavar="NAME:VERSION",
              help="A registered model version, loaded through the registry (signature, "
              "digest, scan, restricted loader; needs download-artifact, audited). A .skops "
              "file path is also read, with skops' default trust list only.")
@click.option("--reference", default=None,
              help="Reference data (CSV or Parquet): rows the model was not trained on. "
              "Defaults to the registered version's signed reference sample.")
@click.option("--detectors", default=None, metavar="ID,ID",
              help="Detector ids to use (garrison.detection.available_detectors); default "
              "magnitude,mahalanobis and, with a model, perturbation-instability,"
              "neighbour-disagreement.")
@click.option("--fpr", default=0.01, show_default=True, type=click.FloatRange(0.0001, 0.5),
              help="Target false-positive rate on data like the reference.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--json", "as_json", is_flag=True, help="Print the verdicts as JSON.")
@columns_options
@click.argument("inputs")
@pass_state
@handle_errors
def detect_inputs(state: CLIState, model_ref: str | None, reference: str | None,
                  detectors: str | None, fpr: float, seed: int, as_json: bool,
                  drop: tuple[str, ...], keep: tuple[str, ...], encoding: str | None,
                  inputs: str) -> None:
    """Score every row of INPUTS (CSV or Parquet) against the reference.

    Columns that look like row ids are left out with a warning (--keep to score them).
    Model-based detectors work through the model's own pipeline, category inputs
    included.
    """
    from garrison.detection import InputMonitor

    model: Any = None
    signed_reference = None
    if model_ref and _is_model_file(model_ref):
        model = _load_model(model_ref)
    elif model_ref:
        model, signed_reference = _registered_model(state, model_ref)
    if reference is not None:
        ref_table = read_table(reference, encoding=encoding)
        ref_name = reference
    elif signed_reference is not None:
        ref_table, ref_name = signed_reference, f"{model_ref} reference sample"
    else:
        raise InvalidInput("give --reference, or --model NAME:VERSION of a version registered "
                           "with a reference sample")
    if model is not None and not callable(getattr(model, "predict_proba", None)):
        raise InvalidInput(f"{model_ref}: the model has no predict_proba, which the "
                           "model-based detectors need")
    chosen = [d.strip() for d in detectors.split(",") if d.strip()] if detectors else None
    ref, ref_ids = leave_out(ref_table, drop, keep, what=ref_name)
    rows, ids = leave_out(read_table(inputs, encoding=encoding), drop, keep, what=inputs)
    ref = ref.drop(columns=[n for n in ids if n in ref.columns])
    rows = rows.drop(columns=[n for n in ref_ids if n in rows.columns])
    try:
        monitor = InputMonitor.fit(ref, model=model, fpr=fpr, rng=seed, detectors=chosen)
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
