"""`garrison serve` and `garrison deploy`: run the gateway and set each model's serving policy."""

from __future__ import annotations

import json
from pathlib import Path

import click

from garrison.cli._common import CLIState, emit, handle_errors, json_option, pass_state
from garrison.errors import InvalidInput

__all__ = ["deploy_group", "serve_command"]


@click.command("serve")
@click.option("--host", default=None, help="Bind address [env GARRISON_HOST; 127.0.0.1].")
@click.option("--port", type=int, default=None, help="Port [env GARRISON_PORT; 8080].")
@click.option("--workers", type=click.IntRange(1, 64), default=None,
              help="Worker processes; metrics are summed across them [env GARRISON_WORKERS; "
              "1].")
@click.option("--tls-cert", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="PEM certificate chain; serve HTTPS only [env GARRISON_TLS_CERT_FILE].")
@click.option("--tls-key", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="PEM private key, mode 0600 [env GARRISON_TLS_KEY_FILE].")
@click.option("--grpc-port", type=click.IntRange(1, 65535), default=None,
              help="Also serve OIP v2 over gRPC (inference.GRPCInferenceService) on this port, "
              "with TLS when the certificate is set [env GARRISON_GRPC_PORT; off].")
@pass_state
@handle_errors
def serve_command(state: CLIState, host: str | None, port: int | None,
                  workers: int | None, tls_cert: Path | None, tls_key: Path | None,
                  grpc_port: int | None) -> None:
    """Run the hardened inference gateway (uvicorn with uvloop and httptools).

    Serves the production version of every model that has an input schema, after
    verifying each artifact's signature and digest. /v2/health/ready turns true once
    the models are loaded; a model that cannot serve is unavailable on its own (its
    own /v2/models/NAME/ready says so, and `garrison deploy show NAME` says why) and
    is retried with backoff. SIGTERM drains in-flight requests before exiting. With a
    certificate and key it serves HTTPS only (TLS 1.2 or newer); without, put it behind
    a proxy or ingress that terminates TLS. With --grpc-port, every worker also serves
    the Open Inference Protocol over gRPC, through the same guards.
    """
    import os

    from garrison.app import serve_gateway, tls_options

    settings = state.settings
    if tls_cert is not None or tls_key is not None:
        settings = settings.model_copy(update={
            "tls_cert_file": tls_cert or settings.tls_cert_file,
            "tls_key_file": tls_key or settings.tls_key_file})
    tls_options(settings.tls_cert_file, settings.tls_key_file)  # Refuse before workers start.
    # Workers read their settings from the environment: pass the CLI's choices down.
    os.environ["GARRISON_HOME"] = str(settings.home)
    if grpc_port is not None:
        if grpc_port == (port or settings.port):
            raise InvalidInput("the gRPC port must differ from the HTTP port")
        os.environ["GARRISON_GRPC_PORT"] = str(grpc_port)
    if host is not None:
        os.environ["GARRISON_HOST"] = host  # The workers bind the gRPC port there too.
    serve_gateway(settings, host=host or settings.host, port=port or settings.port,
                  workers=workers or settings.workers)


@click.group("deploy")
def deploy_group() -> None:
    """Show and change a model's serving policy (callers, limits, output, fallback)."""


@deploy_group.command("show")
@click.argument("name")
@pass_state
@handle_errors
def deploy_show(state: CLIState, name: str) -> None:
    """Print NAME's deployment configuration as JSON, and what the gateways last said
    about serving it ("serving": per role, the version, whether it serves and, if
    not, why; from the audit trail)."""
    actor = state.principal()
    deployments = state.services.deployments
    emit({**deployments.show(actor, name).to_dict(),
          "serving": deployments.serving(actor, name)})


@deploy_group.command("configure")
@click.argument("name")
@click.option("--callers", help="Comma-separated principals allowed to call ('*' for any "
              "principal with invoke-model). Default: nobody.")
@click.option("--output", type=click.Choice(["full", "rounded", "top_k", "label"]))
@click.option("--decimals", type=click.IntRange(0, 10))
@click.option("--top-k", "top_k", type=click.IntRange(1, 1000))
@click.option("--fallback-version", type=int,
              help="Approved version that answers on failure (smoke-tested first).")
@click.option("--fallback-constant", help="Constant label that answers on failure.")
@click.option("--no-fallback", is_flag=True, help="Fail with 503 instead of falling back.")
@click.option("--rate", type=float, help="Rows per second per caller (each row of a request "
              "costs one token; a request costs at least one).")
@click.option("--burst", type=int, help="Bucket size per caller, in rows: the most rows sent "
              "at once, so also the largest request admitted.")
@click.option("--quota", type=int, help="Rows per caller per UTC day.")
@click.option("--timeout", type=float, help="Deadline in seconds for one model call.")
@click.option("--record-inputs", type=click.Choice(["none", "pseudonymized", "full"]))
@click.option("--explain/--no-explain", default=None, help="Allow ?explain=true.")
@click.option("--shadow-fraction", type=click.FloatRange(0, 1),
              help="Share of traffic mirrored to the shadow version.")
@click.option("--shadow-min-agreement", type=click.FloatRange(0, 1),
              help="Minimum shadow agreement for shadow -> production (a release gate).")
@click.option("--shadow-min-requests", type=click.IntRange(min=0),
              help="Compared mirrored requests that agreement needs at least.")
@click.option("--breaker-failures", type=click.IntRange(1, 1000))
@click.option("--breaker-cooldown", type=float)
@json_option
@pass_state
@handle_errors
def deploy_configure(state: CLIState, name: str, callers: str | None, output: str | None,
                     decimals: int | None, top_k: int | None, fallback_version: int | None,
                     fallback_constant: str | None, no_fallback: bool, rate: float | None,
                     burst: int | None, quota: int | None, timeout: float | None,
                     record_inputs: str | None, explain: bool | None,
                     shadow_fraction: float | None, shadow_min_agreement: float | None,
                     shadow_min_requests: int | None, breaker_failures: int | None,
                     breaker_cooldown: float | None, as_json: bool) -> None:
    """Change NAME's serving policy; unspecified settings keep their values. Audited."""
    actor = state.principal()
    changes: dict[str, object] = {}
    if callers is not None:
        changes["callers"] = [c.strip() for c in callers.split(",") if c.strip()]
    if output or decimals is not None or top_k is not None:
        changes["output"] = {k: v for k, v in (("mode", output), ("decimals", decimals),
                                               ("k", top_k)) if v is not None}
    if sum(x is not None and x is not False for x in
           (fallback_version, fallback_constant, no_fallback or None)) > 1:
        raise InvalidInput("choose one of --fallback-version, --fallback-constant, --no-fallback")
    if fallback_version is not None:
        changes["fallback"] = {"kind": "version", "version": fallback_version}
    if fallback_constant is not None:
        changes["fallback"] = {"kind": "constant", "constant": fallback_constant}
    if no_fallback:
        changes["fallback"] = {"kind": "none"}
    for key, value in (("rate_limit", rate), ("rate_burst", burst), ("daily_quota", quota),
                       ("timeout", timeout), ("record_inputs", record_inputs),
                       ("explain", explain), ("shadow_fraction", shadow_fraction),
                       ("shadow_min_agreement", shadow_min_agreement),
                       ("shadow_min_requests", shadow_min_requests),
                       ("breaker_failures", breaker_failures),
                       ("breaker_cooldown", breaker_cooldown)):
        if value is not None:
            changes[key] = value
    config = state.services.deployments.configure(actor, name, changes)
    if as_json:
        emit(config.to_dict())
    else:  # The output policy as stored: unnamed parts kept their values.
        shown = {**changes, **({"output": config.to_dict()["output"]} if "output" in changes
                               else {})}
        click.echo(f"{name}: {json.dumps(shown)}")
