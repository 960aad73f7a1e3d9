"""Lineage vocabulary: the four node kinds, the three edge kinds and their JSON forms.

Every node has a stable ``key`` of the form ``<kind>:<identity>``:

=================  =========================================  ==============================
kind               key                                        immutable content
=================  =========================================  ==============================
``dataset``        ``dataset:<name>@<version>``               digest, rows, schema digest
``run``            ``run:<run_id>``                           commit, times, parameters
``model-version``  ``model-version:<name>@<version>``         artifact digest
``deployment``     ``deployment:<model>@<version>/<stage>/<since>``  (all fields are identity)
=================  =========================================  ==============================

A key may be recorded again only with identical content, so a dataset version or a model
version can never silently change its digest.

Edges point the way data flows and are named for what the run did (W3C PROV style):
``used`` (dataset or model version -> run), ``produced`` (run -> dataset or model version)
and ``deployed_as`` (model version -> deployment).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from garrison.errors import InvalidInput
from garrison.types import parse_utc, utc_iso

__all__ = [
    "EDGE_KINDS",
    "DatasetNode",
    "DeploymentNode",
    "Edge",
    "ModelVersionNode",
    "Node",
    "RunNode",
    "node_from_dict",
]

ParamValue = str | int | float | bool

# Edge kind -> (allowed source kinds, allowed target kinds).
EDGE_KINDS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "used": (frozenset({"dataset", "model-version"}), frozenset({"run"})),
    "produced": (frozenset({"run"}), frozenset({"dataset", "model-version"})),
    "deployed_as": (frozenset({"model-version"}), frozenset({"deployment"})),
}


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{what} must be a non-empty string")
    if any(ch in value for ch in "\n\r\t"):
        raise InvalidInput(f"{what} must not contain control characters")
    return value


def _aware(value: Any, what: str) -> _dt.datetime:
    if not isinstance(value, _dt.datetime) or value.tzinfo is None:
        raise InvalidInput(f"{what} must be a timezone-aware datetime")
    return value.astimezone(_dt.UTC)


@dataclass(frozen=True)
class DatasetNode:
    """One registered dataset version. ``columns`` are optional ``(name, type)`` pairs."""

    name: str
    version: str
    digest: str
    rows: int | None = None
    schema_digest: str | None = None
    columns: tuple[tuple[str, str], ...] = ()
    kind: ClassVar[str] = "dataset"

    def __post_init__(self) -> None:
        _text(self.name, "dataset name")
        _text(self.version, "dataset version")
        _text(self.digest, "dataset digest")
        if self.rows is not None and (not isinstance(self.rows, int) or self.rows < 0):
            raise InvalidInput("dataset rows must be a non-negative integer")
        object.__setattr__(self, "columns", tuple((str(n), str(t)) for n, t in self.columns))

    @property
    def key(self) -> str:
        return f"dataset:{self.name}@{self.version}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "key": self.key,
            "name": self.name,
            "version": self.version,
            "digest": self.digest,
            "rows": self.rows,
            "schema_digest": self.schema_digest,
            "columns": [list(column) for column in self.columns],
        }


@dataclass(frozen=True)
class RunNode:
    """One training (or data preparation) run. ``job`` defaults to one derived from outputs."""

    run_id: str
    code_commit: str | None
    started: _dt.datetime
    ended: _dt.datetime | None = None
    parameters: Mapping[str, ParamValue] = field(default_factory=dict)
    job: str | None = None
    kind: ClassVar[str] = "run"

    def __post_init__(self) -> None:
        _text(self.run_id, "run id")
        if self.code_commit is not None:
            _text(self.code_commit, "code commit")
        object.__setattr__(self, "started", _aware(self.started, "run start"))
        if self.ended is not None:
            object.__setattr__(self, "ended", _aware(self.ended, "run end"))
            if self.ended < self.started:
                raise InvalidInput("a run cannot end before it starts")
        params = dict(self.parameters)
        for name, value in params.items():
            if not isinstance(name, str) or not isinstance(value, ParamValue):
                raise InvalidInput("run parameters must map names to str/int/float/bool")
        object.__setattr__(self, "parameters", params)

    @property
    def key(self) -> str:
        return f"run:{self.run_id}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "key": self.key,
            "run_id": self.run_id,
            "code_commit": self.code_commit,
            "started": utc_iso(self.started),
            "ended": None if self.ended is None else utc_iso(self.ended),
            "parameters": dict(sorted(self.parameters.items())),
            "job": self.job,
        }


@dataclass(frozen=True)
class ModelVersionNode:
    """One registered model version and the digest of its artifact."""

    name: str
    version: str
    artifact_digest: str
    kind: ClassVar[str] = "model-version"

    def __post_init__(self) -> None:
        _text(self.name, "model name")
        _text(self.version, "model version")
        _text(self.artifact_digest, "artifact digest")

    @property
    def key(self) -> str:
        return f"model-version:{self.name}@{self.version}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "key": self.key,
            "name": self.name,
            "version": self.version,
            "artifact_digest": self.artifact_digest,
        }


@dataclass(frozen=True)
class DeploymentNode:
    """A model version entering a stage (``production``, ``staging``, ...) at ``since``."""

    model: str
    version: str
    stage: str
    since: _dt.datetime
    kind: ClassVar[str] = "deployment"

    def __post_init__(self) -> None:
        _text(self.model, "deployed model")
        _text(self.version, "deployed version")
        _text(self.stage, "stage")
        object.__setattr__(self, "since", _aware(self.since, "deployment time"))

    @property
    def model_key(self) -> str:
        return f"model-version:{self.model}@{self.version}"

    @property
    def key(self) -> str:
        return f"deployment:{self.model}@{self.version}/{self.stage}/{utc_iso(self.since)}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "key": self.key,
            "model": self.model,
            "version": self.version,
            "stage": self.stage,
            "since": utc_iso(self.since),
        }


Node = DatasetNode | RunNode | ModelVersionNode | DeploymentNode


@dataclass(frozen=True)
class Edge:
    """A directed lineage edge, pointing the way data flows."""

    source: str
    target: str
    kind: str

    def to_dict(self) -> dict[str, str]:
        return {"source": self.source, "target": self.target, "kind": self.kind}


def node_from_dict(data: Mapping[str, Any]) -> Node:
    """Rebuild a node from its ``to_dict`` form; raises InvalidInput when malformed."""
    try:
        kind = data["kind"]
        node: Node
        if kind == "dataset":
            node = DatasetNode(
                data["name"],
                data["version"],
                data["digest"],
                data.get("rows"),
                data.get("schema_digest"),
                tuple(tuple(c) for c in data.get("columns", ())),
            )
        elif kind == "run":
            ended = data.get("ended")
            node = RunNode(
                data["run_id"],
                data.get("code_commit"),
                parse_utc(data["started"]),
                None if ended is None else parse_utc(ended),
                data.get("parameters", {}),
                data.get("job"),
            )
        elif kind == "model-version":
            node = ModelVersionNode(data["name"], data["version"], data["artifact_digest"])
        elif kind == "deployment":
            node = DeploymentNode(
                data["model"], data["version"], data["stage"], parse_utc(data["since"])
            )
        else:
            raise InvalidInput(f"unknown lineage node kind {kind!r}")
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise InvalidInput("malformed lineage node") from exc
    if "key" in data and data["key"] != node.key:
        raise InvalidInput("lineage node key does not match its content", key=data["key"])
    return node
