"""``garrison he``: encrypted inference from the command line (client and offline server).

Files (all JSON; several documents in one file are JSON Lines):

* ``compile`` -> ``deploy.json`` (server side: weights + parameters) and ``params.json``
  (public: what clients need).
* ``keygen`` -> ``DIR/secret.json`` (mode 0600: the secret key), ``DIR/public.json``
  (a ``garrison-he-context`` document) and ``DIR/params.json``.
* ``encrypt`` -> requests; ``score`` -> responses; ``decrypt`` prints the results.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from garrison.cli._common import emit, handle_errors, json_option, table
from garrison.errors import InvalidInput, UnsupportedModel
from garrison.signing import write_private_file

if TYPE_CHECKING:  # garrison.he brings numpy and TenSEAL: imported by the commands only.
    import numpy as np

    from garrison.he import HEClient, HEParams, LinearHEModel

__all__ = ["he_group"]

_DEPLOY_FORMAT = "garrison-he-deployment"
_MAX_DOC = 256 * 1024 * 1024


def _read_json(path: str | Path, what: str) -> dict[str, Any]:
    try:
        doc = json.loads(Path(path).read_bytes())
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"cannot read {what} from {path}") from exc
    if not isinstance(doc, dict):
        raise InvalidInput(f"{path} is not a {what}")
    return doc


def _load_deployment(path: str) -> tuple[LinearHEModel, HEParams]:
    from garrison.he import HEParams, LinearHEModel

    doc = _read_json(path, "HE deployment")
    if doc.get("format") != _DEPLOY_FORMAT or doc.get("version") != 1:
        raise InvalidInput(f"{path} is not a {_DEPLOY_FORMAT} document")
    return LinearHEModel.from_dict(doc.get("model")), HEParams.from_dict(doc.get("params"))


def _load_client(keys: str) -> HEClient:
    from garrison.he import ContextRegistration, HEClient

    directory = Path(keys)
    public = directory / "public.json"
    registration = ContextRegistration.from_json(public.read_bytes(), max_bytes=_MAX_DOC)
    return HEClient.from_secret_bytes((directory / "secret.json").read_bytes(),
                                      public_context=registration.context)


def _read_csv(path: str, n_features: int) -> np.ndarray:
    import numpy as np

    rows: list[list[float]] = []
    with open(path, newline="") as fh:
        for i, row in enumerate(csv.reader(fh)):
            if not row:
                continue
            try:
                values = [float(v) for v in row]
            except ValueError as exc:
                if i == 0:
                    continue  # A header line.
                raise InvalidInput(f"{path}:{i + 1}: not a number") from exc
            if len(values) != n_features:
                raise InvalidInput(f"{path}:{i + 1}: expected {n_features} values")
            rows.append(values)
    if not rows:
        raise InvalidInput(f"{path} holds no rows")
    return np.asarray(rows)


def _read_lines(path: str) -> list[bytes]:
    return [line for line in Path(path).read_bytes().splitlines() if line.strip()]


@click.group("he")
def he_group() -> None:
    """Encrypted inference (CKKS): the server scores data it cannot read."""


@he_group.command("compile")
@click.option("--model", "model_path", required=True, type=click.Path(exists=True, dir_okay=False),
              help="A fitted scikit-learn linear model or pipeline saved with skops (.skops).")
@click.option("--out", required=True, type=click.Path(dir_okay=False),
              help="Deployment file (weights and parameters; keep it on the server).")
@click.option("--params-out", required=True, type=click.Path(dir_okay=False),
              help="Public parameters file to give to clients.")
@click.option("--sigmoid-bound", type=float, default=None,
              help="Enable the server-side degree-3 sigmoid on [-B, B] (binary logistic only).")
@json_option
@handle_errors
def compile_command(model_path: str, out: str, params_out: str, sigmoid_bound: float | None,
                    as_json: bool) -> None:
    """Compile a linear model into weights and choose encryption parameters."""
    import skops.io as sio

    from garrison.he import HEParams, SigmoidApprox, compile_model

    untrusted = sio.get_untrusted_types(file=model_path)
    if untrusted:
        raise UnsupportedModel(f"the model file holds untrusted types: {', '.join(untrusted)}")
    model = compile_model(sio.load(model_path, trusted=[]))
    sigmoid = None if sigmoid_bound is None else SigmoidApprox.fit(sigmoid_bound)
    params = HEParams.for_model(model, sigmoid=sigmoid)
    deployment = {"format": _DEPLOY_FORMAT, "version": 1, "model": model.to_dict(),
                  "params": params.to_dict()}
    Path(out).write_text(json.dumps(deployment))
    Path(params_out).write_text(json.dumps(params.to_dict(), indent=2))
    summary = {"source": model.source, "kind": model.kind, "n_features": model.n_features,
               "n_outputs": model.n_outputs, "params_fingerprint": params.fingerprint()}
    if as_json:
        emit(summary)
    else:
        click.echo(f"compiled {model.source}: {model.kind}, {model.n_features} features, "
                   f"{model.n_outputs} output(s); parameters {params.fingerprint()}")


@he_group.command("keygen")
@click.option("--params", "params_path", required=True,
              type=click.Path(exists=True, dir_okay=False),
              help="The deployment's public parameters (params.json).")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Key directory.")
@click.option("--batch", is_flag=True, help="Batch mode only: no Galois keys (smaller context).")
@click.option("--force", is_flag=True, help="Overwrite existing keys.")
@json_option
@handle_errors
def keygen_command(params_path: str, out: str, batch: bool, force: bool, as_json: bool) -> None:
    """Generate a key pair; the secret key never leaves DIR/secret.json (mode 0600)."""
    from garrison.he import HEClient, HEParams

    params = HEParams.from_dict(_read_json(params_path, "HE parameters"))
    directory = Path(out)
    if (directory / "secret.json").exists() and not force:
        raise InvalidInput(f"{directory / 'secret.json'} exists; use --force to replace it")
    client = HEClient.generate(params, mode="batch" if batch else "single")
    registration = client.registration()
    write_private_file(directory / "secret.json", client.secret_bytes())
    (directory / "public.json").write_bytes(registration.to_json())
    (directory / "params.json").write_text(json.dumps(params.to_dict(), indent=2))
    summary = {"context_id": registration.context_id, "mode": client.mode,
               "public_context_bytes": len(registration.context)}
    if as_json:
        emit(summary)
    else:
        click.echo(f"keys in {directory}: context {registration.context_id} ({client.mode} mode, "
                   f"public context {len(registration.context)} bytes)")


@he_group.command("encrypt")
@click.option("--keys", required=True, type=click.Path(exists=True, file_okay=False))
@click.option("--in", "in_path", required=True, type=click.Path(exists=True, dir_okay=False),
              help="CSV of feature rows (an optional header line is skipped).")
@click.option("--out", required=True, type=click.Path(dir_okay=False),
              help="Requests, one JSON document per line.")
@click.option("--batch", is_flag=True, help="Pack the rows feature-major (up to N/2 per request).")
@click.option("--probability", is_flag=True, help="Ask for the server-side sigmoid.")
@handle_errors
def encrypt_command(keys: str, in_path: str, out: str, batch: bool, probability: bool) -> None:
    """Encrypt rows into requests (one per row, or one per batch with --batch)."""
    client = _load_client(keys)
    X = _read_csv(in_path, client.params.n_features)
    output = "probability" if probability else "score"
    if batch:
        step = client.params.slots
        requests = [client.request_batch(X[i : i + step], output=output)
                    for i in range(0, len(X), step)]
    else:
        requests = [client.request_single(row, output=output) for row in X]
    Path(out).write_bytes(b"\n".join(r.to_json() for r in requests) + b"\n")
    click.echo(f"{len(requests)} request(s), {len(X)} row(s) -> {out}", err=True)


@he_group.command("score")
@click.option("--model", "deploy_path", required=True, type=click.Path(exists=True, dir_okay=False),
              help="The deployment file written by `garrison he compile`.")
@click.option("--context", "context_path", required=True,
              type=click.Path(exists=True, dir_okay=False), help="The client's public.json.")
@click.option("--in", "in_path", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--out", required=True, type=click.Path(dir_okay=False))
@handle_errors
def score_command(deploy_path: str, context_path: str, in_path: str, out: str) -> None:
    """Run the server side offline: score encrypted requests without any secret key."""
    from garrison.he import EncryptedScorer

    model, params = _load_deployment(deploy_path)
    scorer = EncryptedScorer(model, params)
    scorer.register_json(Path(context_path).read_bytes())
    responses = [scorer.handle_json(line) for line in _read_lines(in_path)]
    Path(out).write_bytes(b"\n".join(responses) + b"\n")
    click.echo(f"{len(responses)} response(s) -> {out}", err=True)


@he_group.command("decrypt")
@click.option("--keys", required=True, type=click.Path(exists=True, file_okay=False))
@click.option("--in", "in_path", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--sigmoid", is_flag=True,
              help="Add exact probabilities (sigmoid, or softmax over classes) to the scores.")
@json_option
@handle_errors
def decrypt_command(keys: str, in_path: str, sigmoid: bool, as_json: bool) -> None:
    """Decrypt responses and print scores, predictions and (optionally) probabilities."""
    from garrison.he import EncryptedResponse

    client = _load_client(keys)
    params = client.params
    rows: list[dict[str, Any]] = []
    for line in _read_lines(in_path):
        response = EncryptedResponse.from_json(line, max_bytes=_MAX_DOC)
        values = client.decrypt_response(response)
        if response.output == "probability":
            rows += [{"probability": float(v[0]), "approximate": True} for v in values]
            continue
        predictions = params.predict(values)
        probabilities = params.probabilities(values) if sigmoid else None
        for i, scores in enumerate(values):
            row: dict[str, Any] = {"scores": [float(s) for s in scores],
                                   "prediction": predictions[i]}
            if probabilities is not None:
                row["probabilities"] = [float(p) for p in probabilities[i]]
            rows.append(row)
    if as_json:
        emit({"context_id": client.context_id, "rows": rows})
        return
    columns = sorted({key for row in rows for key in row})
    table("decrypted", ["row", *columns],
          [[i, *[row.get(c) for c in columns]] for i, row in enumerate(rows)])
