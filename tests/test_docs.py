"""Docs are part of the feature: generated pages are current and everything is documented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from garrison.authz import ACTIONS, ROLES, role_table
from garrison.cli import docgen
from garrison.config import Settings
from garrison.errors import all_error_classes

DOCS = Path(__file__).parent.parent / "docs"


@pytest.mark.parametrize("name,make", [
    ("settings.md", docgen.settings_reference),
    ("errors.md", docgen.error_reference),
    ("cli.md", docgen.cli_reference),
    ("gateway-api.md", docgen.api_reference),
])
def test_generated_reference_is_current(name, make) -> None:
    # A fresh interpreter: click caches each command's help option on first use, so other
    # tests in this process could change how --help renders.
    import subprocess
    import sys

    code = ("import sys; from garrison.cli import docgen; "
            f"sys.stdout.write(docgen.{make.__name__}())")
    fresh = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True, timeout=120).stdout
    assert (DOCS / "reference" / name).read_text() == fresh, f"run `make docs` ({name})"


def test_every_setting_has_a_description() -> None:
    for name, field in Settings.model_fields.items():
        assert field.description and len(field.description) > 20, name


def test_every_error_has_a_unique_code_and_a_docstring() -> None:
    codes = [cls.code for cls in all_error_classes()]
    assert len(codes) == len(set(codes))
    for cls in all_error_classes():
        assert cls.__doc__ and re.fullmatch(r"[a-z][a-z-]+", cls.code), cls


def test_role_table_in_security_model_matches_code() -> None:
    text = (DOCS / "security-model.md").read_text()
    block = text.split("<!-- BEGIN ROLE TABLE -->")[1].split("<!-- END ROLE TABLE -->")[0]
    rows = [line for line in block.strip().splitlines() if line.startswith("| ")][1:]
    expected = [
        f"| {name} | {ACTIONS[name].description} | "
        + " | ".join("yes" if grants[r] else "" for r in ROLES) + " |"
        for name, grants in role_table()
    ]
    normalize = [re.sub(r"\s+", " ", r).replace("|  |", "| |") for r in rows]
    assert normalize == [re.sub(r"\s+", " ", r).replace("|  |", "| |") for r in expected]


def test_every_test_named_in_the_security_model_exists() -> None:
    """Each claim of security-model.md names the test that backs it: that test exists."""
    root = DOCS.parent
    text = (DOCS / "security-model.md").read_text()
    named = set(re.findall(r"(tests/[\w/]+\.py)::(\w+)", text))
    assert len(named) >= 20
    missing = [f"{path}::{name}" for path, name in sorted(named)
               if not (root / path).is_file()
               or not re.search(rf"^def {name}\(", (root / path).read_text(), re.M)]
    assert not missing, f"security-model.md names tests that do not exist: {missing}"
