"""The error tree drawn in ``garrison.errors`` is the tree of classes, in every family module."""

from __future__ import annotations

import pickle
import subprocess
import sys

import pytest

import garrison.errors as errors
from garrison.errors import GarrisonError, ModelNotFound, RateLimited, all_error_classes, drawn_tree


def test_the_drawing_is_the_class_tree() -> None:
    rows = drawn_tree()
    parents: list[str] = []
    for depth, name, code in rows:
        cls = getattr(errors, name)
        assert cls.code == code, name
        del parents[depth:]
        if parents:
            assert cls.__bases__ == (getattr(errors, parents[-1]),), name
        else:
            assert cls is GarrisonError
        parents.append(name)
    assert [name for _, name, _ in rows] == sorted(
        (cls.__name__ for cls in all_error_classes()), key=[n for _, n, _ in rows].index)
    assert {name for _, name, _ in rows} == {cls.__name__ for cls in all_error_classes()}


def test_every_class_is_exported_from_the_package() -> None:
    for cls in all_error_classes():
        assert cls.__name__ in errors.__all__
        assert getattr(errors, cls.__name__) is cls


def test_a_class_missing_from_the_drawing_is_caught() -> None:
    # In a child process, so the extra class never reaches the other tests' tree.
    code = ("import garrison.errors as e\n"
            "class Undrawn(e.NotFound):\n    code = 'undrawn'\n"
            "drawn = {name for _, name, _ in e.drawn_tree()}\n"
            "print(sorted({c.__name__ for c in e.all_error_classes()} - drawn))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60).stdout.strip()
    assert out == "['Undrawn']"


def test_order_is_level_by_level_in_drawing_order() -> None:
    names = [cls.__name__ for cls in all_error_classes()]
    assert names[:4] == ["GarrisonError", "ConfigurationError", "StorageError", "NotFound"]
    assert names.index("ModelUnavailable") < names.index("SchemaOutOfDate")


@pytest.mark.parametrize("error", [
    ModelNotFound("gone", name="credit"),
    RateLimited("slow", retry_after=1.5, caller="x"),
])
def test_errors_survive_pickling_across_processes(error: GarrisonError) -> None:
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error) and copy.detail == error.detail
    assert copy.code == error.code and str(copy) == str(error)


def test_order_does_not_depend_on_which_family_is_imported_first() -> None:
    code = ("import garrison.errors._state, garrison.errors._requests\n"
            "import garrison.errors as e\n"
            "print(','.join(c.__name__ for c in e.all_error_classes()))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60).stdout.strip()
    assert out.split(",") == [cls.__name__ for cls in all_error_classes()]
