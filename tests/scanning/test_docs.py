"""docs/scanning.md documents every rule, allow-list entry, family and built-in scanner."""

from __future__ import annotations

from pathlib import Path

import pytest

from garrison.scanning import RULES, registered_scanners
from garrison.scanning._allow_table import EXACT, FAMILIES

DOC = (Path(__file__).resolve().parents[2] / "docs" / "scanning.md").read_text()


@pytest.mark.parametrize("rule_id", sorted(RULES))
def test_rule_is_documented(rule_id: str) -> None:
    assert f"| `{rule_id}` | {RULES[rule_id].severity} | {RULES[rule_id].effect} |" in DOC


@pytest.mark.parametrize("entry", sorted(EXACT))
def test_allow_list_entry_is_documented(entry: str) -> None:
    assert f"`{entry}`" in DOC


def test_families_and_scanners_are_documented() -> None:
    for family in FAMILIES:
        assert f"| `{family.id}` |" in DOC
    for scanner in registered_scanners():
        assert f"| `{scanner.info.name}` | {scanner.info.priority} |" in DOC


def test_exit_codes_are_documented() -> None:
    for code, verdict in ((0, "safe"), (1, "refused"), (2, "unscannable")):
        assert f"| {code} | `{verdict}` |" in DOC
