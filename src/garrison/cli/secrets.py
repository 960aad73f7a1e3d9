"""`garrison secrets`: the key files a deployment mounts from a Kubernetes Secret."""

from __future__ import annotations

from pathlib import Path

import click

from garrison.cli._common import CLIState, emit, handle_errors, json_option, pass_state

__all__ = ["secrets_group"]


@click.group("secrets")
def secrets_group() -> None:
    """Create and check the key files replicas mount read-only (a Kubernetes Secret)."""


@secrets_group.command("create")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--secret-name", default="garrison-keys", show_default=True,
              help="Name of the Secret in the printed kubectl command.")
@json_option
@handle_errors
def secrets_create(directory: Path, secret_name: str, as_json: bool) -> None:
    """Write fresh keys into DIRECTORY (new or empty; files 0600) and print how to load them.

    DIRECTORY receives the Ed25519 signing keyring, the master key that wraps artifact
    keys and the pseudonymization keys in one flat layout (one Secret), and the OpenSSF
    model-signing keys in DIRECTORY/model-signing (a second Secret).
    Load it into a Secret, then delete the local copy or keep it offline: whoever holds
    these files can sign model manifests and decrypt every artifact. Nothing secret is
    printed.
    """
    from garrison.app import create_key_set
    from garrison.app.secrets import MODEL_SIGNING_DIR

    names = create_key_set(directory)
    commands = [f"kubectl create secret generic {secret_name} "
                f"--from-file={directory.resolve()}",
                f"kubectl create secret generic {secret_name}-model-signing "
                f"--from-file={(directory / MODEL_SIGNING_DIR).resolve()}"]
    if as_json:
        emit({"directory": str(directory), "files": names, "kubectl": commands})
        return
    click.echo(f"created {len(names)} key files in {directory} (mode 0600):")
    for name in names:
        click.echo(f"  {name}")
    click.echo("load them into two Secrets (then remove or lock away this directory):")
    for command in commands:
        click.echo(f"  {command}")


@secrets_group.command("check")
@json_option
@pass_state
@handle_errors
def secrets_check(state: CLIState, as_json: bool) -> None:
    """Load every key as a replica would (key_dir, signing_key_dir, model_signing_key_dir).

    Exit 0 when every key file is present, private enough and well formed; otherwise
    exit 2 naming the first faulty file. Prints key ids and sizes, never key bytes.
    """
    from garrison.app import check_key_set

    lines = check_key_set(state.settings)
    if as_json:
        emit({"ok": True, "keys": lines})
        return
    for line in lines:
        click.echo(line)
