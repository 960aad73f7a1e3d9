"""The public surface of garrison.he is explicit and complete."""

from __future__ import annotations

import importlib
import inspect
import pathlib

import garrison.he

MODULES = ["client", "contexts", "model", "params", "server", "wire"]


def test_every_public_name_is_exported() -> None:
    for name in MODULES:
        module = importlib.import_module(f"garrison.he.{name}")
        for public in module.__all__:
            assert public in garrison.he.__all__, f"garrison.he.{name}.{public} is not exported"
    for public in garrison.he.__all__:
        assert hasattr(garrison.he, public)


def test_the_package_imports_only_what_its_layer_allows() -> None:
    allowed = {"garrison", "tenseal", "numpy", "sklearn", "__future__"}
    stdlib = {"base64", "binascii", "collections", "dataclasses", "functools", "hashlib", "json",
              "math", "os", "re", "struct", "tempfile", "threading", "typing"}
    package = pathlib.Path(inspect.getfile(garrison.he)).parent
    for source in package.glob("*.py"):
        for line in source.read_text().splitlines():
            words = line.split()
            if line.startswith(("import ", "from ")) and len(words) > 1:
                root = words[1].split(".")[0]
                assert root in allowed | stdlib, f"{source.name} imports {root}"
                if root == "garrison":
                    assert words[1].startswith(("garrison.he", "garrison.errors",
                                                "garrison.types")), f"{source.name}: {line}"
