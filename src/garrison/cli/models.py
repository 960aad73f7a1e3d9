"""`garrison model` commands: register, inspect, approve, promote, roll back, verify, download."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from garrison.cli._common import CLIState, emit, handle_errors, json_option, pass_state, table
from garrison.errors import InvalidInput
from garrison.signing import write_private_file

__all__ = ["model_group", "signing_group"]


def _ref(state: CLIState, ref: str, *, default_production: bool = False) -> tuple[str, int]:
    from garrison.registry import parse_ref

    name, version = parse_ref(ref)
    if version is None:
        if default_production:
            prod = state.services.registry.production(name)
            if prod is not None:
                return name, prod.version
        versions = [v.version for v in state.services.registry.in_stage(name, "registered")]
        raise InvalidInput(f"say which version: {name}:N" + (
            f" (registered: {versions})" if versions else ""))
    return name, version


@click.group("model")
def model_group() -> None:
    """Register, approve, promote, roll back and verify model versions."""


@model_group.command("register")
@click.argument("name")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--metadata", "metadata_file", type=click.Path(exists=True, dir_okay=False),
              help="JSON file: framework, description, input_schema, metrics, tags, datasets, "
              "code_commit.")
@click.option("--framework", default="", help="e.g. scikit-learn, onnx, xgboost.")
@click.option("--commit", "code_commit", default="", help="Git commit of the training code.")
@click.option("--reference", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Reference (training) data, CSV or Parquet: profile, input schema and a "
              "sealed sample for the gateway's detectors.")
@click.option("--target", metavar="COLUMN",
              help="The label column of the reference data: left out of the model's inputs.")
@click.option("--drop", "drop", multiple=True, metavar="COLUMN",
              help="A reference column that is not a model input (an id, a timestamp); "
              "repeatable or comma-separated.")
@click.option("--encoding", metavar="CODEC",
              help="Text encoding of a CSV reference file (default UTF-8), e.g. latin-1.")
@click.option("--signature", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="OpenSSF model-signing bundle (model.sig) by a trusted signer; checked "
              "before anything is stored.")
@json_option
@pass_state
@handle_errors
def model_register(state: CLIState, name: str, path: Path, metadata_file: str | None,
                   framework: str, code_commit: str, reference: Path | None,
                   target: str | None, drop: tuple[str, ...], encoding: str | None,
                   signature: Path | None, as_json: bool) -> None:
    """Scan, sign, encrypt and register PATH as the next version of model NAME.

    An artifact the scanner does not call safe is refused (exit 1; exit 2 when it could
    not be scanned) and nothing is stored. With reference data (or an input schema in
    the metadata) the model must also be servable: it must take exactly the reference's
    feature columns (name the label with --target, leave other columns out with --drop)
    and predict the reference rows, or registration is refused (model-not-servable,
    exit 1) with the reason.
    """
    meta = {}
    if metadata_file:
        try:
            meta = json.loads(Path(metadata_file).read_text(encoding="utf-8"))
        except ValueError as exc:
            raise InvalidInput("the metadata file is not valid JSON") from exc
    if framework:
        meta["framework"] = framework
    if code_commit:
        meta["code_commit"] = code_commit
    drops = [c.strip() for value in drop for c in value.split(",") if c.strip()]
    v = state.services.registry.register(state.principal(), name, path, meta,
                                         reference=reference, target=target, drop=drops,
                                         encoding=encoding, signature=signature)
    if as_json:
        emit(v.to_dict())
    else:
        click.echo(f"registered {v.ref} ({v.format}, {v.size} bytes, sha256 {v.digest[:16]}), "
                   f"stage {v.stage}; an approver other than {v.registrant} must approve it")
        gate, _ = _gate(state, state.principal(), name, v.version)
        if gate["status"] in ("passed", "failed"):  # The model has a policy: the gate ran.
            failed = [c["name"] for c in gate.get("checks", []) if not c.get("passed")]
            click.echo(f"release gate {gate['status']}" + (
                f" ({', '.join(failed)}): see `garrison gate report {v.ref}`" if failed else ""))
        elif gate["status"] == "not run":
            click.echo(f"release gate not run: see `garrison gate run {v.ref}`")


@model_group.command("list")
@click.argument("name", required=False)
@json_option
@pass_state
@handle_errors
def model_list(state: CLIState, name: str | None, as_json: bool) -> None:
    """List model versions (all models, or NAME's versions)."""
    versions = state.services.registry.list_versions(state.principal(), name)
    if as_json:
        emit([v.to_dict() for v in versions])
        return
    table("model versions", ["model", "version", "stage", "format", "registrant", "created"],
          [[v.name, v.version, v.stage, v.format, v.registrant, v.created] for v in versions])


@model_group.command("show")
@click.argument("ref")
@json_option
@pass_state
@handle_errors
def model_show(state: CLIState, ref: str, as_json: bool) -> None:
    """Show NAME:VERSION with its manifest, scan report and stage history."""
    name, version = _ref(state, ref, default_production=True)
    actor = state.principal()
    v = state.services.registry.show(actor, name, version)
    history = [t.to_dict() for t in state.services.registry.history(actor, name)
               if t.version == version]
    gate, report = _gate(state, actor, name, version)
    if as_json:
        emit({**v.to_dict(manifest=True), "history": history, "gate": gate})
        return
    click.echo(json.dumps({**v.to_dict(), "history": history}, indent=2))
    if report is not None:
        from garrison.cli.gate import print_report

        print_report(report)
    else:
        click.echo(f"gate: {gate.get('message') or gate.get('status')}")


def _gate(state: CLIState, actor: Any, name: str, version: int) -> tuple[dict[str, Any], Any]:
    """The version's release-gate report for `model show` (a record that fails its
    verification is shown as such, never hidden)."""
    from garrison.errors import IntegrityFailure

    try:
        policy = state.services.gates.policy(actor, name)
        report = state.services.gates.report(actor, name, version)
    except IntegrityFailure as exc:
        return {"status": "tampered", "code": exc.code, "message": exc.message}, None
    if report is None:
        status = "no policy" if policy is None else "not run"
        return {"status": status, "policy_digest": policy.digest if policy else None}, None
    return {"status": "passed" if report.passed else "failed",
            **report.to_dict()}, report


def _transition(state: CLIState, method: str, ref: str, reason: str, as_json: bool,
                **kwargs: str) -> None:
    name, version = _ref(state, ref)
    v = getattr(state.services.registry, method)(state.principal(), name, version,
                                                reason=reason, **kwargs)
    emit(v.to_dict()) if as_json else click.echo(f"{v.ref} is now {v.stage}")


@model_group.command("approve")
@click.argument("ref")
@click.option("--reason", default="", help="Why (kept in the audit trail).")
@json_option
@pass_state
@handle_errors
def model_approve(state: CLIState, ref: str, reason: str, as_json: bool) -> None:
    """Approve NAME:VERSION (approver role; never the registrant: four eyes)."""
    _transition(state, "approve", ref, reason, as_json)


@model_group.command("reject")
@click.argument("ref")
@click.option("--reason", default="", help="Why (kept in the audit trail).")
@json_option
@pass_state
@handle_errors
def model_reject(state: CLIState, ref: str, reason: str, as_json: bool) -> None:
    """Reject NAME:VERSION for good."""
    _transition(state, "reject", ref, reason, as_json)


@model_group.command("promote")
@click.argument("ref")
@click.option("--to", "stage", type=click.Choice(["production", "shadow"]),
              default="production", show_default=True)
@click.option("--reason", default="", help="Why (kept in the audit trail).")
@json_option
@pass_state
@handle_errors
def model_promote(state: CLIState, ref: str, stage: str, reason: str, as_json: bool) -> None:
    """Move an approved NAME:VERSION to production (or shadow)."""
    _transition(state, "promote", ref, reason, as_json, stage=stage)


@model_group.command("retire")
@click.argument("ref")
@click.option("--reason", default="", help="Why (kept in the audit trail).")
@json_option
@pass_state
@handle_errors
def model_retire(state: CLIState, ref: str, reason: str, as_json: bool) -> None:
    """Retire NAME:VERSION so it can never serve again."""
    _transition(state, "retire", ref, reason, as_json)


@model_group.command("rollback")
@click.argument("name")
@click.option("--reason", default="", help="Why (kept in the audit trail).")
@json_option
@pass_state
@handle_errors
def model_rollback(state: CLIState, name: str, reason: str, as_json: bool) -> None:
    """Restore NAME's previous production version at once."""
    v = state.services.registry.rollback(state.principal(), name, reason=reason)
    emit(v.to_dict()) if as_json else click.echo(f"{v.ref} is back in production")


@model_group.command("verify")
@click.argument("ref")
@json_option
@pass_state
@handle_errors
def model_verify(state: CLIState, ref: str, as_json: bool) -> None:
    """Check NAME[:VERSION]'s signed manifest, encrypted blob and digest (exit 1 if bad)."""
    name, version = _ref(state, ref, default_production=True)
    out = state.services.registry.verify(state.principal(), name, version)
    emit(out) if as_json else click.echo(f"{name}:{version} verified: sha256 {out['sha256']}, "
                                         f"signed by {', '.join(out['signed_by'])}")


@model_group.command("download")
@click.argument("ref")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
@pass_state
@handle_errors
def model_download(state: CLIState, ref: str, out: Path) -> None:
    """Write the verified, decrypted artifact to OUT (needs download-artifact; audited)."""
    name, version = _ref(state, ref, default_production=True)
    data = state.services.registry.download(state.principal(), name, version)
    # A new 0600 file replaces OUT atomically: an existing file's looser mode is not kept.
    write_private_file(out, data)
    click.echo(f"wrote {len(data)} bytes to {out} (mode 0600)")


@model_group.command("bom")
@click.argument("ref")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the BOM to this file instead of standard output.")
@pass_state
@handle_errors
def model_bom(state: CLIState, ref: str, out: Path | None) -> None:
    """Print NAME[:VERSION]'s CycloneDX ML-BOM (checked against its signed manifest)."""
    name, version = _ref(state, ref, default_production=True)
    data = state.services.registry.bom(state.principal(), name, version)
    if out is None:
        click.echo(json.dumps(json.loads(data), indent=2))
    else:
        out.write_bytes(data)
        click.echo(f"wrote the ML-BOM of {name}:{version} to {out}")


@model_group.command("signature")
@click.argument("ref")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Where to write the bundle (conventionally model.sig).")
@pass_state
@handle_errors
def model_signature(state: CLIState, ref: str, out: Path) -> None:
    """Write Garrison's OpenSSF model-signing bundle over NAME[:VERSION]'s artifact.

    Check a downloaded artifact anywhere with `model_signing verify key --signature OUT
    --public_key KEY ARTIFACT` (KEY from `garrison signing model-key`).
    """
    name, version = _ref(state, ref, default_production=True)
    out.write_bytes(state.services.registry.model_signature(state.principal(), name, version))
    click.echo(f"wrote the OpenSSF signature of {name}:{version} to {out}")


@click.group("signing")
def signing_group() -> None:
    """Manage the server's Ed25519 signing keys."""


@signing_group.command("rotate")
@json_option
@pass_state
@handle_errors
def signing_rotate(state: CLIState, as_json: bool) -> None:
    """Make a fresh key the signing key; older keys keep verifying what they signed."""
    services = state.services
    actor = state.principal()

    model_key = services.registry.provenance.key

    def change(tx):
        return services.keyring.rotate(), model_key.rotate()

    new_id, model_id = services.guard.run(
        actor, "rotate-signing-key", "signing", change,
        result_payload=lambda k: {"key_id": k[0], "model_signing_key_id": k[1]})
    if as_json:
        emit({"key_id": new_id, "keys": services.keyring.key_ids(),
              "model_signing_key_id": model_id})
    else:
        click.echo(f"new signing key {new_id}; verifying keys: "
                   f"{', '.join(services.keyring.key_ids())}; new OpenSSF model-signing key "
                   f"{model_id[:16]}")


@signing_group.command("model-key")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the PEM to this file instead of standard output.")
@pass_state
@handle_errors
def signing_model_key(state: CLIState, out: Path | None) -> None:
    """Print the public key (PEM) that verifies Garrison's OpenSSF model signatures."""
    services = state.services
    services.guard.require(state.principal(), "view-model", "signing")
    pem = services.registry.provenance.key.public_pem()
    if out is None:
        click.echo(pem.decode().rstrip())
    else:
        out.write_bytes(pem)
        click.echo(f"wrote the OpenSSF model-signing public key to {out}")
