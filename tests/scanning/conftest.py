"""Fixtures: the generated corpus (built lazily, once per session, into a temp dir)."""

from __future__ import annotations

import importlib.util
import json
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "scanning"
EXPECTATIONS: dict[str, dict[str, Any]] = json.loads((VECTORS / "expectations.json").read_text())


def load_generator() -> ModuleType:
    if str(VECTORS) not in sys.path:
        sys.path.insert(0, str(VECTORS))
    module = sys.modules.get("garrison_scan_corpus")
    if module is None:
        spec = importlib.util.spec_from_file_location("garrison_scan_corpus",
                                                      VECTORS / "generate.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["garrison_scan_corpus"] = module
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def corpus() -> ModuleType:
    return load_generator()


@pytest.fixture(scope="session")
def corpus_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("scan-corpus")


@pytest.fixture(scope="session")
def built(corpus: ModuleType, corpus_dir: Path) -> Callable[[str], Any]:
    cache: dict[str, Any] = {}

    def get(name: str) -> Any:
        if name not in cache:
            # Test-data production (sklearn fits, skl2onnx) may warn; the scanner may not.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                cache[name] = corpus.build(name, corpus_dir)
        return cache[name]

    return get
