"""docs/reference/errors.md is the CLI's contract: every error, raised through the CLI,
prints ``error (<code>): <message>`` and exits with the code that page states."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from garrison.cli._common import handle_errors
from garrison.cli.main import GarrisonCLI, cli
from garrison.errors import AuditChainBroken, GarrisonError, all_error_classes

DOC = Path(__file__).resolve().parents[2] / "docs" / "reference" / "errors.md"
ROW = re.compile(r"^\| `([a-z-]+)` \| `(\w+)` \| (\d) \|", re.M)
CLI_ROW = re.compile(r"^\| `([a-z-]+)` \| (\d) \|", re.M)


def _documented() -> dict[str, tuple[str, int]]:
    return {cls: (code, int(exit_code)) for code, cls, exit_code in ROW.findall(DOC.read_text())}


def _error(cls: type[GarrisonError]) -> GarrisonError:
    if cls is AuditChainBroken:
        return cls("the chain is broken at 7", position=7, reason="modified")
    return cls(f"a {cls.__name__} happened")


def _root(raise_it: object, *, handled: bool) -> click.Group:
    root = GarrisonCLI(name="garrison", lazy={})

    def fail() -> None:
        if isinstance(raise_it, BaseException):
            raise raise_it
        raise AssertionError("nothing to raise")

    command = click.Command("fail", callback=handle_errors(fail) if handled else fail)
    root.add_command(command)
    return root


def test_every_error_class_is_documented() -> None:
    documented = _documented()
    assert set(documented) == {cls.__name__ for cls in all_error_classes()}


@pytest.mark.parametrize("handled", [True, False], ids=["handle_errors", "root"])
@pytest.mark.parametrize("cls", all_error_classes(), ids=lambda c: c.__name__)
def test_each_error_exits_as_documented(cls: type[GarrisonError], handled: bool) -> None:
    code, exit_code = _documented()[cls.__name__]
    error = _error(cls)
    result = CliRunner().invoke(_root(error, handled=handled), ["fail"])
    assert result.exit_code == exit_code
    assert result.stderr == f"error ({code}): {error.message}\n"
    assert "Traceback" not in result.output


def _cli_only() -> dict[str, int]:
    text = DOC.read_text().split("## Codes of the command line only", 1)[1]
    return {code: int(exit_code) for code, exit_code in CLI_ROW.findall(text)}


def test_usage_errors_use_the_same_style_and_the_documented_code() -> None:
    codes = _cli_only()
    for args in (["model", "register"], ["nosuch"], ["version", "--nosuch"],
                 ["audit", "log", "--limit", "0"]):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == codes["usage-error"], args
        first = result.stderr.splitlines()[0]
        assert first.startswith("error (usage-error): "), result.stderr
        assert "Error:" not in result.stderr and "Usage: " in result.stderr


def test_a_bug_is_an_internal_error_without_traceback_or_its_text() -> None:
    codes = _cli_only()
    result = CliRunner().invoke(_root(ValueError("postgresql://u:secret@db/x"), handled=True),
                                ["fail"])
    assert result.exit_code == codes["internal-error"]
    assert result.stderr.startswith("error (internal-error): unexpected ValueError")
    assert "secret" not in result.output and "Traceback" not in result.output


def test_debug_shows_the_traceback(monkeypatch) -> None:
    monkeypatch.setenv("GARRISON_DEBUG", "1")
    result = CliRunner().invoke(_root(ValueError("boom"), handled=False), ["fail"])
    assert isinstance(result.exception, ValueError)


def test_an_interrupt_is_reported_in_the_same_style() -> None:
    codes = _cli_only()
    result = CliRunner().invoke(_root(click.Abort(), handled=False), ["fail"])
    assert result.exit_code == codes["interrupted"]
    assert result.stderr.startswith("error (interrupted): ")


def test_findings_are_exit_1_without_an_error_line(tmp_path) -> None:
    for name in ("a.csv", "b.csv"):
        shift = 0 if name == "a.csv" else 50
        (tmp_path / name).write_text("x\n" + "".join(f"{i % 40 + shift}\n" for i in range(200)))
    result = CliRunner().invoke(cli, ["drift", "compare", str(tmp_path / "a.csv"),
                                      str(tmp_path / "b.csv")])
    assert result.exit_code == 1 and "error (" not in result.stderr
    assert result.stdout.startswith("DRIFT")
