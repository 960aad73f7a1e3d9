"""Every public name is exported, and the package imports no forbidden framework."""

from __future__ import annotations

import subprocess
import sys

import garrison.detection as detection


def test_all_names_resolve() -> None:
    for name in detection.__all__:
        assert hasattr(detection, name), name
    public = {n for n in dir(detection) if not n.startswith("_") and n[0].isupper()}
    assert public <= set(detection.__all__)


def test_leaf_imports_no_framework_or_poisoning() -> None:
    code = ("import sys, garrison.detection; bad = [m for m in sys.modules if m.split('.')[0] "
            "in ('click', 'starlette', 'sqlalchemy', 'pydantic', 'redis') or "
            "m.startswith('garrison.detection.poisoning')]; print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"
