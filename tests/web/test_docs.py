"""docs/admin-api.md documents every endpoint and the status of every error code."""

from __future__ import annotations

import re
from pathlib import Path

from garrison.errors import all_error_classes
from garrison.web import HTTP_ONLY_CODES, operations, status_for

DOC = (Path(__file__).parents[2] / "docs" / "admin-api.md").read_text()


def test_every_endpoint_is_documented() -> None:
    documented = set(re.findall(r"^\| `([A-Z]+ /admin[^`?]*)", DOC, re.MULTILINE))
    assert documented == {f"{op.method} {op.path}" for op in operations()}


def test_status_table_matches_the_code() -> None:
    block = DOC.split("<!-- BEGIN STATUS TABLE -->")[1].split("<!-- END STATUS TABLE -->")[0]
    rows = dict(re.findall(r"^\| `([a-z-]+)` \| (\d{3}) \|$", block, re.MULTILINE))
    expected = {cls.code: str(status_for(cls)) for cls in all_error_classes()}
    expected.update({code: str(status) for code, status in HTTP_ONLY_CODES.items()})
    assert rows == expected
