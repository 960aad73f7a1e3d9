"""The `garrison` command line.

Exit codes: 0 ok; 1 refused or a check failed; 2 usage or error. Commands that act
on the installation authenticate with the API key in ``GARRISON_API_KEY``.

Each command's module is imported only when that command runs (``COMMANDS`` lists
them with their summaries), so ``garrison --help`` and ``garrison version`` import
click and nothing else, and every error, click's usage errors included, is printed
the same way: ``error (<code>): <message>``.
"""

from __future__ import annotations

import errno
import os
import sys
from pathlib import Path
from typing import Any

import click

from garrison import __version__
from garrison.cli._common import (
    CLI_ONLY_CODES,
    CLIState,
    emit,
    exit_code_for,
    handle_errors,
    json_option,
    pass_state,
    report_error,
)
from garrison.cli._lazy import LazyCommand, LazyGroup
from garrison.errors import GarrisonError

__all__ = ["COMMANDS", "cli", "main"]


def _at(module: str, attribute: str, summary: str) -> LazyCommand:
    return LazyCommand(f"garrison.cli.{module}", attribute, summary)


#: Every top-level command that lives in its own module: where it is and its summary
#: (the first paragraph of its docstring; ``tests/cli/test_lazy.py`` keeps them equal).
COMMANDS: dict[str, LazyCommand] = {
    "admin-serve": _at("web", "admin_serve_command",
                       "Serve the admin API (registry and audit trail over JSON) and the "
                       "web console (/console/) until interrupted."),
    "alerts": _at("alerts", "alerts_group",
                  "Detection alerts (extraction, quota, auth bursts, drift, ...), newest first."),
    "audit": _at("audit", "audit_group", "Verify, read and export the tamper-evident audit "
                 "trail."),
    "data": _at("data", "data_group",
                "Data privacy: find PII, measure re-identification risk, anonymize."),
    "demo": _at("demo", "demo_command",
                "Run the whole flow on SQLite and local files, then serve the demo model."),
    "deploy": _at("serve", "deploy_group",
                  "Show and change a model's serving policy (callers, limits, output, "
                  "fallback)."),
    "detect": _at("detect", "detect_group", "Check inputs for anomalies and adversarial "
                  "examples."),
    "drift": _at("detect", "drift_group", "Compare data sets for drift."),
    "gate": _at("gate", "gate_group",
                "Release gates: the tests a version must pass before approval and promotion."),
    "he": _at("he", "he_group",
              "Encrypted inference (CKKS): the server scores data it cannot read."),
    "key": _at("accounts", "key_group", "Create, list and revoke API keys."),
    "lineage": _at("lineage", "lineage_group", "Where a model version came from and where it "
                   "runs."),
    "model": _at("models", "model_group",
                 "Register, approve, promote, roll back and verify model versions."),
    "role": _at("accounts", "role_group", "Grant and revoke roles; show the role-action table."),
    "scan": _at("scan", "scan_command", "Scan a model artifact without loading it."),
    "secrets": _at("secrets", "secrets_group",
                   "Create and check the key files replicas mount read-only (a Kubernetes "
                   "Secret)."),
    "serve": _at("serve", "serve_command",
                 "Run the hardened inference gateway (uvicorn with uvloop and httptools)."),
    "shadow": _at("shadow", "shadow_group",
                  "Compare shadow deployments with production on mirrored traffic."),
    "signing": _at("models", "signing_group", "Manage the server's Ed25519 signing keys."),
    "user": _at("accounts", "user_group", "Manage principals (people and service accounts)."),
}


def _debug() -> bool:
    return os.environ.get("GARRISON_DEBUG", "").lower() in ("1", "true", "yes")


def _usage_error(exc: click.UsageError) -> None:
    report_error("usage-error", exc.format_message())
    if exc.ctx is not None:
        command = exc.ctx.command_path
        click.echo(f"{exc.ctx.get_usage()}\nTry '{command} --help' for help.", err=True)


class GarrisonCLI(LazyGroup):
    """The root group: lazy subcommands, and one place that prints every failure.

    click prints its own errors as ``Error: ...``; here they, any Garrison error a
    command did not handle, and an unexpected exception (a bug, shown without its
    traceback unless ``GARRISON_DEBUG=1``) all become ``error (<code>): <message>``
    with the exit code documented in ``docs/reference/errors.md``.
    """

    def main(self, args: Any = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True,
             **extra: Any) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            result = super().main(args, prog_name, complete_var, standalone_mode=False,
                                  **extra)
        except click.exceptions.NoArgsIsHelpError as exc:
            click.echo(exc.format_message(), err=True)  # The help text itself.
            sys.exit(exc.exit_code)
        except click.UsageError as exc:
            _usage_error(exc)
            sys.exit(CLI_ONLY_CODES["usage-error"][0])
        except click.ClickException as exc:
            report_error("usage-error", exc.format_message())
            sys.exit(CLI_ONLY_CODES["usage-error"][0])
        except click.Abort:
            report_error("interrupted", "interrupted before it finished")
            sys.exit(CLI_ONLY_CODES["interrupted"][0])
        except GarrisonError as exc:
            if _debug():
                raise
            report_error(exc.code, exc.message)
            sys.exit(exit_code_for(exc))
        except OSError as exc:
            if exc.errno == errno.EPIPE:  # The reader went away (`garrison ... | head`).
                sys.stderr.close()
                sys.exit(1)
            if _debug():
                raise
            report_error("internal-error", f"unexpected {type(exc).__name__}; "
                         "GARRISON_DEBUG=1 shows the traceback")
            sys.exit(CLI_ONLY_CODES["internal-error"][0])
        except Exception as exc:
            if _debug():
                raise
            # The exception's text is not printed: foreign errors can carry URLs or values.
            report_error("internal-error", f"unexpected {type(exc).__name__}; "
                         "GARRISON_DEBUG=1 shows the traceback")
            sys.exit(CLI_ONLY_CODES["internal-error"][0])
        sys.exit(result if isinstance(result, int) else 0)


@click.group(cls=GarrisonCLI, lazy=COMMANDS,
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--home", type=click.Path(file_okay=False), envvar="GARRISON_HOME",
              help="Garrison home directory [env GARRISON_HOME; default ~/.garrison].")
@click.option("--api-key", envvar="GARRISON_API_KEY", show_envvar=True,
              help="API key to act with. Prefer the environment variable: options are "
              "visible in the process list.")
@click.pass_context
def cli(ctx: click.Context, home: str | None, api_key: str | None) -> None:
    """Garrison: put ML models into production securely and keep them secure.

    \b
    Exit codes: 0 ok, 1 refused or check failed, 2 usage or error.
    """
    state = ctx.ensure_object(CLIState)
    state.api_key = api_key
    if home:
        state.overrides["home"] = home
    ctx.call_on_close(state.close)


@cli.command("init")
@click.option("--admin", default="admin", show_default=True, help="Name of the first admin.")
@click.option("--key-days", type=int, default=90, show_default=True,
              help="Lifetime of the admin's first API key.")
@click.option("--key-file", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
              default=None,
              help="Write the admin's API key to this new file (mode 0600) instead of "
              "printing it; `-` writes the key alone to standard output. Use it wherever "
              "output is logged (a pod, a Job, CI).")
@json_option
@pass_state
@handle_errors
def init_command(state: CLIState, admin: str, key_days: int, key_file: Path | None,
                 as_json: bool) -> None:
    """Create the home, the signing keys (Ed25519, mode 0600), the schema and the first admin.

    The admin's API key is shown once; Garrison keeps only its hash. With mounted keys
    (key_dir, signing_key_dir) the keys are used, never created.
    """
    from garrison.app import configure_logging, initialize

    out_fd = _open_key_file(key_file)  # Before anything is created: a bad path loses nothing.
    configure_logging(state.settings)
    try:
        services, principal, key = initialize(state.settings, admin, key_days=key_days)
    except BaseException:
        _discard_key_file(key_file, out_fd)
        raise
    services.close()
    if key_file is not None:
        _write_key(out_fd, key.secret)
        if str(key_file) == "-":
            return
    if as_json:
        out = {"home": str(state.settings.home), "admin": principal.to_dict(),
               "signing_key_id": services.keyring.active_id}
        out.update({"api_key_file": str(key_file)} if key_file else {"api_key": key.secret})
        emit(out)
        return
    click.echo(f"initialized {state.settings.home}")
    click.echo(f"signing key {services.keyring.active_id} (Ed25519, mode 0600)")
    if key_file is not None:
        click.echo(f"admin {principal.name}; API key written to {key_file} (mode 0600)")
        return
    click.echo(f"admin {principal.name}; API key (shown once, store it now):")
    click.echo(key.secret)
    click.echo("\nto act as this admin in a shell, paste:")
    for line in _export_lines(state.settings.home, key.secret):
        click.echo(line)


def _open_key_file(path: Path | None) -> int | None:
    """A new 0600 file for the admin's key (never an existing file or a link)."""
    from garrison.errors import AlreadyExists, InvalidInput

    if path is None or str(path) == "-":
        return None
    try:
        return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        raise AlreadyExists(f"{path} already exists; the key is never written over a file") \
            from None
    except OSError as exc:
        raise InvalidInput(f"cannot create {path}: {exc.strerror}") from None


def _discard_key_file(path: Path | None, fd: int | None) -> None:
    if fd is not None and path is not None:
        os.close(fd)
        path.unlink(missing_ok=True)


def _write_key(fd: int | None, secret: str) -> None:
    """The key alone: into the opened file, or to standard output for `-`."""
    if fd is None:
        click.echo(secret)
        return
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(secret + "\n")


def _export_lines(home: object, secret: str) -> list[str]:
    """Shell lines that set the home and the key, none longer than 80 columns (a key is 59
    characters, so the key's line is continued: the shell joins ``\\`` + newline)."""
    import shlex

    return [f"export GARRISON_HOME={shlex.quote(str(home))}",
            "export GARRISON_API_KEY=\\", secret]


@cli.group("db")
def db_group() -> None:
    """Database schema migrations."""


@db_group.command("upgrade")
@pass_state
@handle_errors
def db_upgrade(state: CLIState) -> None:
    """Apply Alembic migrations up to the newest revision (safe to repeat)."""
    from garrison.app import upgrade_database

    click.echo(f"database at revision {upgrade_database(state.settings)}")


@db_group.command("current")
@pass_state
@handle_errors
def db_current(state: CLIState) -> None:
    """Print the database's revision and the newest one this release knows."""
    from garrison.app import database_revisions

    current, newest = database_revisions(state.settings)
    click.echo(f"current {current}; newest {newest}")


@cli.command("version")
@json_option
def version_command(as_json: bool) -> None:
    """Print the Garrison version."""
    emit({"version": __version__}) if as_json else click.echo(f"garrison {__version__}")


def main() -> None:
    cli(prog_name="garrison")
