"""The fast CLI: commands import only what they use.

Checked by what a fresh interpreter has imported (``sys.modules``), never by time:
light commands must not bring pandas, scipy or scikit-learn. ``bench/cli.py`` prints
the start-up times.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import click
import pytest

from garrison.cli.main import COMMANDS, cli

HEAVY = ("pandas", "scipy", "sklearn")

DRIVER = textwrap.dedent("""
    import json, sys
    from garrison.cli.main import cli
    try:
        cli.main(args=json.loads(sys.argv[1]), prog_name="garrison")
    except SystemExit as exc:
        code = exc.code
    else:
        code = 0
    heavy = sorted(m for m in {heavy!r} if m in sys.modules)
    sys.__stdout__.write("\\n@@" + json.dumps({{"code": code, "heavy": heavy}}))
""").format(heavy=HEAVY)


def _imports(args: list[str], env: dict[str, str]) -> dict[str, object]:
    done = subprocess.run([sys.executable, "-c", DRIVER, json.dumps(args)], env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert "@@" in done.stdout, done.stderr[-2000:]
    return json.loads(done.stdout.rsplit("@@", 1)[1])


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict[str, str]:
    """An initialized home and its admin key, in a subprocess environment."""
    import os

    home = tmp_path_factory.mktemp("lazy") / "home"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("GARRISON_") or k == "GARRISON_TEST_POSTGRES_URL"}
    env["GARRISON_HOME"] = str(home)
    done = subprocess.run([sys.executable, "-m", "garrison", "init", "--json"], env=env,
                          capture_output=True, text=True, timeout=120, check=True)
    env["GARRISON_API_KEY"] = json.loads(done.stdout)["api_key"]
    return env


LIGHT = [
    ["--help"], ["version"], ["version", "--json"], ["nosuch"],
    *[[name, "--help"] for name in sorted(COMMANDS)],
    ["data", "poison-check", "--help"], ["drift", "compare", "--help"],
    ["model", "register", "--help"],
    ["user", "list"], ["model", "list"], ["audit", "verify"], ["audit", "log"],
    ["key", "list"], ["role", "list"], ["model", "show", "nosuch:1"],
]


@pytest.mark.parametrize("args", LIGHT, ids=[" ".join(a) for a in LIGHT])
def test_light_commands_import_no_numeric_stack(installed, args) -> None:
    out = _imports(args, installed)
    assert out["heavy"] == [], f"garrison {' '.join(args)} imported {out['heavy']}"
    assert out["code"] in (0, 2)


def test_scan_imports_no_numeric_stack(installed, tmp_path) -> None:
    artifact = tmp_path / "m.pkl"
    artifact.write_bytes(b"\x80\x05N.")  # pickle.dumps(None)
    out = _imports(["scan", str(artifact)], installed)
    assert out == {"code": 0, "heavy": []}


def test_a_data_command_still_imports_what_it_uses(installed, tmp_path) -> None:
    """The check above can fail: drift compare does bring pandas and scipy."""
    for name in ("a.csv", "b.csv"):
        (tmp_path / name).write_text("x\n" + "".join(f"{i % 7}\n" for i in range(50)))
    out = _imports(["drift", "compare", str(tmp_path / "a.csv"), str(tmp_path / "b.csv")],
                   installed)
    assert out["code"] == 0 and {"pandas", "scipy"} <= set(out["heavy"])


def _listed(name: str, summary: str, limit: int) -> str:
    return click.Command(name, help=summary).get_short_help_str(limit)


@pytest.mark.parametrize("limit", [45, 60, 1000])
def test_help_summaries_are_the_commands_own(limit: int) -> None:
    ctx = click.Context(cli)
    for name, lazy in COMMANDS.items():
        command = lazy.load()
        assert command.name == name
        assert _listed(name, lazy.summary, limit) == command.get_short_help_str(limit), name
    data = cli.get_command(ctx, "data")
    assert isinstance(data, click.Group)
    for name, lazy in data.lazy.items():  # type: ignore[attr-defined]
        assert _listed(name, lazy.summary, limit) == lazy.load().get_short_help_str(limit)


def test_root_help_lists_every_command_without_loading_them() -> None:
    result = subprocess.run([sys.executable, "-c", textwrap.dedent("""
        import sys
        from click.testing import CliRunner
        from garrison.cli.main import cli
        out = CliRunner().invoke(cli, ["--help"]).output
        print(out)
        print(sorted(m for m in sys.modules if m.startswith("garrison.cli.")))
    """)], capture_output=True, text=True, timeout=60, check=True).stdout
    for name in COMMANDS:
        assert f"  {name} " in result
    loaded = result.strip().splitlines()[-1]
    assert loaded == "['garrison.cli._common', 'garrison.cli._lazy', 'garrison.cli.main']"


def test_data_defaults_written_out_equal_the_privacy_ones() -> None:
    from garrison.cli import data
    from garrison.privacy.anonymize import DEFAULT_MAX_SUPPRESSION
    from garrison.privacy.scan import DEFAULT_SAMPLE_SIZE, DEFAULT_TARGET_K

    assert (data.DEFAULT_SAMPLE_SIZE, data.DEFAULT_TARGET_K, data.DEFAULT_MAX_SUPPRESSION) == (
        DEFAULT_SAMPLE_SIZE, DEFAULT_TARGET_K, DEFAULT_MAX_SUPPRESSION)


def test_bench_script_exists() -> None:
    assert (Path(__file__).resolve().parents[2] / "bench" / "cli.py").is_file()
