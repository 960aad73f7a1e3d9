"""The layering in pyproject.toml holds, and public names are exported."""

from __future__ import annotations

import importlib
import os
import pkgutil
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import garrison

ROOT = Path(__file__).parent.parent


@pytest.mark.slow
def test_import_contracts_hold() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


def _packages():
    for info in pkgutil.walk_packages(garrison.__path__, "garrison."):
        if info.ispkg:
            yield info.name


@pytest.mark.parametrize("name", sorted(_packages()))
def test_package_exports_are_real(name: str) -> None:
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    if exported is None:  # An adapter namespace (cli, gateway): documented, nothing exported.
        assert module.__doc__, f"{name} needs a docstring saying what it holds"
        return
    for symbol in exported:
        assert hasattr(module, symbol), f"{name}.__all__ names missing {symbol}"


@pytest.mark.slow
@pytest.mark.parametrize("module,line,contract", [
    ("cli/shadow.py", "import garrison.storage.shadow_repo", "Adapters go through the services"),
    ("web/routes/models.py", "from garrison.storage import Store", "Adapters go through"),
    ("gateway/app.py", "import garrison.storage", "Adapters go through the services"),
    ("client/_admin.py", "import garrison.storage", "Adapters go through the services"),
    ("cli/serve.py", "from garrison.gateway.app import create_gateway_app",
     "Only the composition root names a concrete adapter"),
    ("cli/web.py", "import garrison.web", "Only the composition root names a concrete adapter"),
])
def test_an_adapter_reaching_past_the_services_breaks_the_contracts(
        tmp_path: Path, module: str, line: str, contract: str) -> None:
    """The contracts are attacked: a copy of the package with one forbidden import added
    (inside a function, where a quick fix would put it) fails lint-imports, naming it."""
    src = tmp_path / "src"
    shutil.copytree(ROOT / "src" / "garrison", src / "garrison",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    target = src / "garrison" / module
    target.write_text(target.read_text(encoding="utf-8")
                      + f"\n\ndef _reach_past_the_services() -> None:\n    {line}  # noqa\n",
                      encoding="utf-8")
    lint = Path(sys.executable).with_name("lint-imports")
    env = {**os.environ, "PYTHONPATH": str(src)}
    result = subprocess.run([str(lint), "--no-cache"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode != 0, result.stdout
    summary = " ".join(result.stdout.split())  # Long contract names wrap.
    verdicts = re.findall(r"([A-Z][^-]*?) (KEPT|BROKEN)", summary.split("Contracts: ")[0])
    broken = {name.strip() for name, verdict in verdicts if verdict == "BROKEN"}
    assert any(name.startswith(contract) for name in broken), summary
