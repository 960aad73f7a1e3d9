"""`garrison gate` commands: the release gate of a model (policy, run, report, override)."""

from __future__ import annotations

import json
import sys
import tomllib
from pathlib import Path
from typing import Any

import click

from garrison.cli._common import CLIState, emit, handle_errors, json_option, pass_state, table
from garrison.errors import InvalidInput

__all__ = ["gate_group"]


@click.group("gate")
def gate_group() -> None:
    """Release gates: the tests a version must pass before approval and promotion."""


def _ref(ref: str) -> tuple[str, int]:
    from garrison.registry import parse_ref

    name, version = parse_ref(ref)
    if version is None:
        raise InvalidInput(f"say which version: {name}:N")
    return name, version


@gate_group.group("policy")
def policy_group() -> None:
    """Set and show a model's gate policy (changes need the approver role)."""


def _read_policy(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read the policy file {path.name!r}") from exc
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise InvalidInput(f"{path.name}: not valid {'JSON' if path.suffix == '.json' else 'TOML'}"
                           f" ({exc})") from exc
    if not isinstance(data, dict):
        raise InvalidInput(f"{path.name}: a gate policy is a table of keys and values")
    return data


@policy_group.command("set")
@click.argument("name")
@click.option("--file", "path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The policy as a TOML or JSON file (see docs/gates.md).")
@click.option("--holdout", help="The holdout set: NAME:VERSION of a registered dataset.")
@click.option("--task", type=click.Choice(["classification", "regression"]),
              help="What the model predicts (default: classification).")
@click.option("--label", help="The label column (default: the holdout dataset's target).")
@click.option("--metric", help="The primary metric (accuracy, roc_auc, f1, log_loss, rmse, "
              "mae, r2).")
@click.option("--sensitive", help="A sensitive column for the fairness check.")
@click.option("--positive-label", help="Binary labels: the class F1 and equal opportunity are "
              "about, matched by value or text (default: the second in sorted order).")
@click.option("--floor", type=float, help="The primary metric's floor (a ceiling for rmse, "
              "mae and log_loss).")
@json_option
@pass_state
@handle_errors
def policy_set(state: CLIState, name: str, path: Path | None, holdout: str | None,
               task: str | None, label: str | None, metric: str | None,
               sensitive: str | None, positive_label: str | None, floor: float | None,
               as_json: bool) -> None:
    """Set NAME's gate policy from a file and/or options (options win); naming only a
    holdout set gives the default gate. Signed and audited; the approver role."""
    data = _read_policy(path) if path is not None else {}
    for key, value in (("holdout_dataset", holdout), ("task", task), ("label", label),
                       ("primary_metric", metric), ("sensitive", sensitive),
                       ("positive_label", positive_label)):
        if value is not None:
            data[key] = value
    if floor is not None:
        data["performance"] = {**(data.get("performance") or {}), "floor": floor}
    if not data:
        raise InvalidInput("give the policy with --file or at least --holdout")
    record = state.services.gates.set_policy(state.principal(), name, data)
    if as_json:
        emit(record.to_dict())
        return
    click.echo(f"gate policy of {name} is now revision {record.revision} "
               f"(sha256 {record.digest[:16]}...), holdout {record.policy.holdout_dataset}")


@policy_group.command("show")
@click.argument("name")
@json_option
@pass_state
@handle_errors
def policy_show(state: CLIState, name: str, as_json: bool) -> None:
    """Show NAME's current gate policy, every threshold included (verified)."""
    record = state.services.gates.policy(state.principal(), name)
    if as_json:
        emit(record.to_dict() if record is not None else None)
        return
    if record is None:
        click.echo(f"{name} has no gate policy: approval and promotion are governed as "
                   "before (unless GARRISON_REQUIRE_GATES is set)")
        return
    click.echo(f"{name}: revision {record.revision}, set by {record.set_by} at "
               f"{record.created}, sha256 {record.digest}")
    click.echo(json.dumps(record.policy.to_mapping(), indent=2, sort_keys=True))


def print_report(report: Any) -> None:
    """The human form of a gate report (also used by `garrison model show`)."""
    p = report.predicate
    verdict = "PASSED" if report.passed else "FAILED"
    stale = "" if report.current else " (made under an earlier policy: run it again)"
    click.echo(f"{report.model}:{report.version} gate {verdict}{stale}")
    holdout = p.get("holdout") or {}
    production = p.get("production")
    click.echo(f"  run by {p.get('run_by')} at {p.get('created')} in {p.get('seconds')} s; "
               f"holdout {holdout.get('name')}:{holdout.get('version')} "
               f"({holdout.get('rows')} rows); compared with "
               + (f"version {production['version']}" if production else "no production "
                  "version"))
    click.echo(f"  report sha256 {report.sha256}; policy sha256 {report.policy_digest}")
    rows = []
    for check in p.get("checks") or []:
        shown = "skipped" if check.get("skipped") else ("pass" if check.get("passed")
                                                        else "FAIL")
        numbers = ", ".join(f"{k}={_num(v)}" for k, v in list(
            (check.get("metrics") or {}).items())[:4])
        rows.append([check.get("name"), shown, check.get("reason"), numbers])
    table("Checks", ["check", "verdict", "reason", "numbers"], rows)


def _num(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


@gate_group.command("run")
@click.argument("ref")
@json_option
@pass_state
@handle_errors
def gate_run(state: CLIState, ref: str, as_json: bool) -> None:
    """Run the release gate of NAME:VERSION in a sandboxed process and store the signed
    report; exits 1 when the gate failed."""
    name, version = _ref(ref)
    actor = state.principal()
    with click.progressbar(length=100, label=f"gate {name}:{version}", file=sys.stderr,
                           show_eta=False) as bar:
        done = [0]

        def progress(fraction: float, stage: str) -> None:
            step = int(fraction * 100) - done[0]
            bar.label = f"gate {name}:{version}: {stage}"
            if step > 0:
                bar.update(step)
                done[0] += step

        report = state.services.gates.run(actor, name, version, progress=progress)
    if as_json:
        emit(report.to_dict())
    else:
        print_report(report)
    if not report.passed:
        sys.exit(1)


@gate_group.command("report")
@click.argument("ref")
@click.option("--envelope", is_flag=True, help="With --json: add the signed DSSE envelope.")
@json_option
@pass_state
@handle_errors
def gate_report(state: CLIState, ref: str, envelope: bool, as_json: bool) -> None:
    """Show the newest signed gate report of NAME:VERSION (verified)."""
    name, version = _ref(ref)
    report = state.services.gates.report(state.principal(), name, version)
    if as_json:
        emit(report.to_dict(envelope=envelope) if report is not None else None)
    elif report is None:
        click.echo(f"{name}:{version} has no gate report: run `garrison gate run "
                   f"{name}:{version}`")
    else:
        print_report(report)


@gate_group.group("override")
def override_group() -> None:
    """Let a version through a failed gate: one admin asks, a second admin grants."""


@override_group.command("request")
@click.argument("ref")
@click.option("--reason", required=True, help="Why the gate may be set aside (written, kept "
              "in the signed override and the audit trail).")
@json_option
@pass_state
@handle_errors
def override_request(state: CLIState, ref: str, reason: str, as_json: bool) -> None:
    """Ask to let NAME:VERSION through its gate under the current policy (admin)."""
    name, version = _ref(ref)
    found = state.services.gate_overrides.request(state.principal(), name, version, reason)
    if as_json:
        emit(found.to_dict())
    else:
        click.echo(f"override {found.id} requested for {name}:{version}; a second admin "
                   f"grants it with `garrison gate override approve {found.id}`")


@override_group.command("approve")
@click.argument("override_id")
@json_option
@pass_state
@handle_errors
def override_approve(state: CLIState, override_id: str, as_json: bool) -> None:
    """Grant another admin's override request (never one's own)."""
    found = state.services.gate_overrides.approve(state.principal(), override_id)
    if as_json:
        emit(found.to_dict())
    else:
        click.echo(f"override {found.id} for {found.model}:{found.version} granted "
                   f"(asked by {found.requested_by}, granted by {found.approved_by})")


@override_group.command("list")
@click.argument("ref")
@json_option
@pass_state
@handle_errors
def override_list(state: CLIState, ref: str, as_json: bool) -> None:
    """List the overrides of NAME or NAME:VERSION, newest first."""
    from garrison.registry import parse_ref

    name, version = parse_ref(ref)
    found = state.services.gate_overrides.list(state.principal(), name, version)
    if as_json:
        emit([o.to_dict() for o in found])
        return
    table(f"Gate overrides of {ref}", ["id", "version", "status", "asked by", "granted by",
                                       "reason"],
          [[o.id, o.version, "approved" if o.approved else "pending", o.requested_by,
            o.approved_by or "", o.reason] for o in found])
