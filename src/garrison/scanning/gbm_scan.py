"""Gradient-boosting models saved as data: XGBoost JSON / UBJSON and LightGBM text.

These formats hold no code; the check is that a file claiming to be one really parses as
one (so a loader routed by this verdict reads trees, not something else).
"""

from __future__ import annotations

import json
import re
from typing import Any

from garrison.scanning._ubjson import UBJSONError
from garrison.scanning._ubjson import loads as ubjson_loads
from garrison.scanning.context import Buffer, ScanContext
from garrison.scanning.registry import ScannerInfo

__all__ = ["LightGBMScanner", "XGBoostScanner"]

_SNIFF = 1 << 16
_BOOSTERS = frozenset({"gbtree", "gblinear", "dart"})
_KEY_VALUE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_PARAM = re.compile(r"^\[[A-Za-z0-9_]+: .*\]$")
_IMPORTANCE = re.compile(r"^\S+=\d+$")


def _xgboost_problem(model: Any) -> str | None:
    if type(model) is not dict or type(model.get("learner")) is not dict:
        return "no 'learner' object"
    version = model.get("version")
    if type(version) is not list or len(version) != 3 or not all(type(v) is int for v in version):
        return "'version' is not three integers"
    learner = model["learner"]
    booster, objective = learner.get("gradient_booster"), learner.get("objective")
    if type(booster) is not dict or booster.get("name") not in _BOOSTERS:
        return "learner.gradient_booster is not gbtree, gblinear or dart"
    if type(objective) is not dict or type(objective.get("name")) is not str:
        return "learner.objective has no name"
    if type(learner.get("learner_model_param")) is not dict:
        return "learner.learner_model_param is missing"
    return None


class XGBoostScanner:
    """XGBoost ``save_model`` JSON and UBJSON files."""

    info = ScannerInfo(
        name="xgboost",
        description="Parses XGBoost JSON/UBJSON models and checks the learner structure.",
        recognises="'{' then a JSON or UBJSON object with a \"learner\" key near the start",
        priority=70,
        extensions=(".json", ".ubj"),
    )

    def sniff(self, data: Buffer, name: str) -> bool:
        return data[0] == 0x7B and b"learner" in bytes(data[:_SNIFF])

    def scan(self, data: Buffer, name: str, ctx: ScanContext) -> str:
        ctx.count_scanned(len(data))
        second = data[1] if len(data) > 1 else 0
        binary = second in b"iUIlL$#"
        try:
            model = ubjson_loads(data) if binary else json.loads(bytes(data).decode("utf-8"))
        except (UBJSONError, ValueError, RecursionError, UnicodeDecodeError) as exc:
            ctx.add("xgboost-invalid-model", f"does not parse ({type(exc).__name__})")
            return "xgboost"
        fmt = "xgboost-ubjson" if binary else "xgboost-json"
        if type(model) is dict and set(model) == {"Config", "Model"}:
            # A Booster snapshot (XGBoosterSerializeToBuffer: what pickling a Booster and
            # skops' XGBoost support store): the training configuration beside the model.
            fmt += "-snapshot"
            config = model["Config"]
            if type(config) is not dict or type(config.get("learner")) is not dict:
                ctx.add("xgboost-invalid-model", "the snapshot's Config has no learner object")
                return fmt
            model = model["Model"]
        problem = _xgboost_problem(model)
        if problem is not None:
            ctx.add("xgboost-invalid-model", problem)
        return fmt


def _numbers(value: str) -> bool:
    try:
        for token in value.split():
            float(token)
    except ValueError:
        return False
    return True


def lightgbm_problem(text: str) -> str | None:
    """Why ``text`` is not a LightGBM model file, or ``None``."""
    if not text.endswith("\n"):
        return "the text does not end with a newline (truncated)"
    lines = text.splitlines()
    if not lines or lines[0] != "tree":
        return "first line is not 'tree'"
    try:
        end_trees = lines.index("end of trees")
    except ValueError:
        return "no 'end of trees' line"
    section = "header"
    seen_version = False
    for number, line in enumerate(lines[1:end_trees], start=2):
        if not line:
            continue
        if line.startswith("Tree="):
            if not line[5:].isdigit():
                return f"line {number}: bad tree header"
            section = "tree"
            continue
        if not _KEY_VALUE.match(line):
            return f"line {number}: not key=value"
        key, _, value = line.partition("=")
        if section == "header":
            seen_version = seen_version or (key == "version" and value.startswith("v"))
        elif not _numbers(value):
            return f"line {number}: tree field {key} is not numeric"
    if not seen_version:
        return "no version= line in the header"
    for number, line in enumerate(lines[end_trees + 1 :], start=end_trees + 2):
        if line.startswith("pandas_categorical:"):
            try:
                json.loads(line[len("pandas_categorical:"):])
            except (ValueError, RecursionError):
                return f"line {number}: pandas_categorical is not JSON"
        elif line and line not in ("feature_importances:", "parameters:",
                                   "end of parameters") and not (
            _PARAM.match(line) or _IMPORTANCE.match(line)
        ):
            return f"line {number}: unexpected content after the trees"
    return None


class LightGBMScanner:
    """LightGBM ``save_model`` text files."""

    info = ScannerInfo(
        name="lightgbm",
        description="Parses LightGBM text models: header, numeric tree blocks, trailing "
        "sections, pandas_categorical JSON.",
        recognises="starts with 'tree' and a newline",
        priority=80,
        extensions=(".txt", ".lgb"),
    )

    def sniff(self, data: Buffer, name: str) -> bool:
        head = bytes(data[:6])
        return head.startswith((b"tree\n", b"tree\r\n"))

    def scan(self, data: Buffer, name: str, ctx: ScanContext) -> str:
        ctx.count_scanned(len(data))
        try:
            text = bytes(data).decode("utf-8")
        except UnicodeDecodeError:
            ctx.add("lightgbm-invalid-model", "not UTF-8 text")
            return "lightgbm"
        problem = lightgbm_problem(text)
        if problem is not None:
            ctx.add("lightgbm-invalid-model", problem)
        return "lightgbm"
