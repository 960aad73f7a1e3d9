"""Shared CLI plumbing: settings and services, credentials, output, and the error table.

Exit codes: 0 ok; 1 refused or a check failed (forbidden, authentication, integrity,
artifact refused, limits); 2 usage or any other error. Every error is printed the same
way, one line on stderr: ``error (<code>): <message>``.

This module is imported by every command, ``garrison --help`` included: it imports
click and the error tree, and nothing heavier (rich is imported when a table prints).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import wraps
from typing import Any, TypeVar

import click

from garrison.errors import (
    ArtifactRefused,
    ArtifactUnscannable,
    AuthenticationFailed,
    Forbidden,
    GarrisonError,
    IntegrityFailure,
    InvalidInput,
    LimitExceeded,
)
from garrison.types import parse_utc, utc_iso

__all__ = [
    "CLI_ONLY_CODES",
    "EXIT_CODES",
    "CLIState",
    "emit",
    "exit_code_for",
    "handle_errors",
    "json_option",
    "pass_state",
    "report_error",
    "table",
    "utc_time",
]

EXIT_OK, EXIT_REFUSED, EXIT_ERROR = 0, 1, 2

#: Error classes whose exit code is 1 ("refused or a check failed"); all others exit 2.
EXIT_CODES: dict[type[GarrisonError], int] = {
    Forbidden: EXIT_REFUSED,
    AuthenticationFailed: EXIT_REFUSED,
    IntegrityFailure: EXIT_REFUSED,
    ArtifactRefused: EXIT_REFUSED,
    ArtifactUnscannable: EXIT_ERROR,  # as `garrison scan`: could not be scanned (still refused)
    LimitExceeded: EXIT_REFUSED,
}

#: Codes the CLI prints for failures that are not Garrison errors, with their exit codes:
#: bad options or arguments (click's usage errors), an interrupt, and a bug.
CLI_ONLY_CODES: dict[str, tuple[int, str]] = {
    "usage-error": (EXIT_ERROR, "An option or argument is missing, unknown or invalid."),
    "interrupted": (EXIT_ERROR, "The command was interrupted (Ctrl-C) before it finished."),
    "internal-error": (EXIT_ERROR, "An unexpected failure (a bug); GARRISON_DEBUG=1 shows "
                       "the traceback."),
}

F = TypeVar("F", bound=Callable[..., Any])


def exit_code_for(exc: GarrisonError) -> int:
    """The documented exit code of an error: its nearest ancestor's entry in the table."""
    for cls in type(exc).__mro__:
        if cls in EXIT_CODES:
            return EXIT_CODES[cls]
    return EXIT_ERROR


@dataclass
class CLIState:
    """Lazily built settings and services, shared by every command of one invocation."""

    api_key: str | None = None
    _settings: Any = None
    _services: Any = None
    _principal: Any = None
    overrides: dict[str, Any] = field(default_factory=dict)

    @property
    def settings(self) -> Any:
        if self._settings is None:
            from garrison.config import load_settings

            self._settings = load_settings(**self.overrides)
        return self._settings

    @property
    def services(self) -> Any:
        if self._services is None:
            from garrison.app import build_services, configure_logging

            configure_logging(self.settings)
            self._services = build_services(self.settings)
        return self._services

    def principal(self) -> Any:
        """The principal behind ``GARRISON_API_KEY`` (or ``--api-key``)."""
        if self._principal is None:
            key = self.api_key or os.environ.get("GARRISON_API_KEY")
            if not key:
                raise AuthenticationFailed(
                    "this command needs credentials: set GARRISON_API_KEY to your API key"
                )
            try:
                self._principal = self.services.accounts.authenticate(key.strip())
            except AuthenticationFailed as exc:
                # Only a caller who presented the key's secret reaches the expiry check, so
                # telling them it expired reveals nothing to anyone else (the gateway's 401
                # stays opaque). Every other failure keeps the one opaque message.
                if exc.detail.get("why") == "expired-key":
                    raise AuthenticationFailed(
                        f"your API key {exc.detail.get('key_prefix', '')} has expired; ask an "
                        "admin for a new one (garrison key create)", why="expired-key",
                    ) from None
                if exc.detail.get("why") == "unverified-state":  # Also past the secret.
                    raise AuthenticationFailed(
                        "your account or API key is not as the audit trail records it "
                        f"({exc.detail.get('state', '')}): it was changed outside Garrison, "
                        "or predates state seals (run `garrison db upgrade` with the signing "
                        "keys); see docs/audit-trail.md#governance-state",
                        why="unverified-state") from None
                raise
        return self._principal

    def close(self) -> None:
        if self._services is not None:
            self._services.close()


pass_state = click.make_pass_decorator(CLIState, ensure=True)


def json_option(fn: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")(fn)


def emit(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False, default=str))


def utc_time(value: str | None) -> str | None:
    """An ISO-8601 option value (UTC when it names no zone) as canonical UTC text."""
    if value is None:
        return None
    try:
        return utc_iso(parse_utc(value))
    except ValueError as exc:
        raise InvalidInput(f"not an ISO-8601 time: {value!r}") from exc


def table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=title, title_justify="left")
    for col in columns:
        t.add_column(col)
    for row in rows:
        t.add_row(*["" if v is None else str(v) for v in row])
    Console(highlight=False, soft_wrap=True).print(t)


def report_error(code: str, message: str) -> None:
    """Print the one error line: ``error (<code>): <message>`` on stderr (red on a terminal)."""
    click.echo(f"{click.style('error', fg='red', bold=True)} ({code}): {message}", err=True)


def _debug() -> bool:
    return os.environ.get("GARRISON_DEBUG", "").lower() in ("1", "true", "yes")


@contextmanager
def _errors() -> Iterator[None]:
    try:
        yield
    except GarrisonError as exc:
        if _debug():
            raise
        report_error(exc.code, exc.message)
        sys.exit(exit_code_for(exc))


def handle_errors(fn: F) -> F:
    """Turn Garrison errors into a one-line message and the documented exit code."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with _errors():
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
