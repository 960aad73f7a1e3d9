"""Plain-text tree rendering of a model's lineage (``garrison lineage show MODEL[:VERSION]``).

Each model version is a root. Below it, ``upstream`` lists where it came from (the run that
produced it, the datasets that run used, the runs that produced those, ...) and
``downstream`` lists what came of it (deployments, runs that used it and their outputs).
A node met a second time is printed once more with ``(see above)`` and not expanded again.
"""

from __future__ import annotations

import datetime as _dt

from .graph import LineageGraph
from .nodes import DatasetNode, DeploymentNode, ModelVersionNode, Node, RunNode

__all__ = ["describe_node", "render_tree"]


def _short(digest: str | None) -> str:
    if not digest:
        return "-"
    algorithm, _, value = digest.rpartition(":")
    return f"{algorithm}:{value[:12]}" if algorithm else value[:12]


def _when(moment: _dt.datetime | None) -> str:
    return "?" if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def describe_node(node: Node) -> str:
    """One line describing a node."""
    if isinstance(node, DatasetNode):
        rows = "" if node.rows is None else f"  {node.rows} rows"
        return f"dataset {node.name}@{node.version}  {_short(node.digest)}{rows}"
    if isinstance(node, RunNode):
        commit = f"commit {node.code_commit[:12]}" if node.code_commit else "no commit"
        return f"run {node.run_id}  {commit}  {_when(node.started)} -> {_when(node.ended)}"
    if isinstance(node, ModelVersionNode):
        return f"model {node.name}:{node.version}  {_short(node.artifact_digest)}"
    assert isinstance(node, DeploymentNode)
    return f"deployment {node.stage}  since {_when(node.since)}"


_UP = {"run": "produced by", "dataset": "used", "model-version": "used"}
_DOWN = {"run": "used by", "dataset": "produced", "model-version": "produced", "deployment": ""}


def render_tree(graph: LineageGraph, name: str, version: str | None = None) -> str:
    """Render the lineage of model ``name`` (one version, or all) as an indented tree."""
    sub = graph.subgraph_for_model(name, version)
    roots = [n for n in sub.model_versions(name) if version is None or n.version == version]
    lines: list[str] = []
    for root in roots:
        lines.append(describe_node(root))
        seen = {root.key}
        sections = [
            ("upstream", sub.parents(root), True),
            ("downstream", sub.children(root), False),
        ]
        sections = [s for s in sections if s[1]]
        if not sections:
            lines.append("└── (no recorded lineage)")
        for index, (title, first, upward) in enumerate(sections):
            last = index == len(sections) - 1
            lines.append(("└── " if last else "├── ") + title)
            _branch(sub, first, "    " if last else "│   ", upward, seen, lines)
    return "\n".join(lines)


def _branch(
    graph: LineageGraph,
    nodes: list[Node],
    prefix: str,
    upward: bool,
    seen: set[str],
    lines: list[str],
) -> None:
    for index, node in enumerate(nodes):
        last = index == len(nodes) - 1
        verb = (_UP if upward else _DOWN)[node.kind]
        verb = f"{verb} " if verb else ""
        repeated = node.key in seen
        suffix = "  (see above)" if repeated else ""
        lines.append(f"{prefix}{'└── ' if last else '├── '}{verb}{describe_node(node)}{suffix}")
        if repeated:
            continue
        seen.add(node.key)
        nxt = graph.parents(node) if upward else graph.children(node)
        _branch(graph, nxt, prefix + ("    " if last else "│   "), upward, seen, lines)
