"""The in-memory lineage graph: datasets -> runs -> model versions -> deployments.

``LineageGraph`` enforces the rules every lineage store must keep (see ``check_edge``): edges
join existing nodes of the right kinds, a dataset or model version has at most one producing
run, a deployment hangs off the model version it names, and no edge may close a cycle.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from garrison.errors import (
    Conflict,
    InvalidInput,
    ModelNotFound,
    ModelVersionNotFound,
    NotFound,
)

from .nodes import (
    EDGE_KINDS,
    DatasetNode,
    DeploymentNode,
    Edge,
    ModelVersionNode,
    Node,
    RunNode,
    node_from_dict,
)

__all__ = ["FORMAT", "LineageGraph", "check_edge", "check_node"]

FORMAT = "garrison-lineage/1"

NodeRef = Node | str


def _key(ref: NodeRef) -> str:
    return ref if isinstance(ref, str) else ref.key


def check_node(node: Node, existing: Node | None) -> bool:
    """Return True if ``node`` is new, False if already recorded identically; else Conflict."""
    if existing is None:
        return True
    if existing != node:
        raise Conflict(
            f"{node.key} is already recorded with different content; lineage is immutable",
            key=node.key,
        )
    return False


def check_edge(
    edge: Edge,
    get_node: Callable[[str], Node | None],
    edges_for: Callable[[str], Sequence[Edge]],
) -> bool:
    """Validate ``edge`` against a graph seen through two lookups.

    Returns False if the edge is already recorded, True if it may be added; raises
    InvalidInput (wrong kinds), NotFound (missing endpoint) or Conflict (second producer,
    mismatched deployment, cycle).
    """
    if edge.kind not in EDGE_KINDS:
        raise InvalidInput(f"unknown lineage edge kind {edge.kind!r}")
    source, target = get_node(edge.source), get_node(edge.target)
    for key, node in ((edge.source, source), (edge.target, target)):
        if node is None:
            raise NotFound(f"lineage node {key} is not recorded", key=key)
    assert source is not None and target is not None
    sources, targets = EDGE_KINDS[edge.kind]
    if source.kind not in sources or target.kind not in targets:
        raise InvalidInput(f"a {edge.kind!r} edge cannot join {source.kind} to {target.kind}")
    incoming = [e for e in edges_for(edge.target) if e.target == edge.target]
    if edge in incoming:
        return False
    if edge.kind in ("produced", "deployed_as") and any(e.kind == edge.kind for e in incoming):
        raise Conflict(f"{edge.target} already has a {edge.kind!r} edge", key=edge.target)
    if isinstance(target, DeploymentNode) and target.model_key != edge.source:
        raise Conflict(f"{edge.target} deploys {target.model_key}, not {edge.source}")
    # A cycle would appear iff the source is already downstream of the target.
    seen = {edge.target}
    queue = deque([edge.target])
    while queue:
        current = queue.popleft()
        if current == edge.source:
            raise Conflict(
                f"the edge {edge.source} -> {edge.target} would close a lineage cycle",
                source=edge.source,
                target=edge.target,
            )
        for nxt in (e.target for e in edges_for(current) if e.source == current):
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    return True


class Recording:
    """The recording verbs, over ``add_node`` / ``add_edge`` (which check each step):
    shared by the in-memory graph and the recorder that writes to a store."""

    def add_node(self, node: Node) -> Node:
        raise NotImplementedError

    def add_edge(self, source: Any, target: Any, kind: str) -> Edge:
        raise NotImplementedError

    def record_training(
        self, run: RunNode, inputs: Iterable[Node], outputs: Iterable[Node]
    ) -> None:
        """Record a run with the datasets / model versions it used and produced."""
        self.add_node(run)
        for node in inputs:
            self.add_node(node)
            self.add_edge(node, run, "used")
        for node in outputs:
            self.add_node(node)
            self.add_edge(run, node, "produced")

    def record_deployment(self, deployment: DeploymentNode) -> None:
        """Record a deployment of an already recorded model version."""
        self.add_node(deployment)
        self.add_edge(deployment.model_key, deployment, "deployed_as")


class LineageGraph(Recording):
    """A validated lineage DAG. It also satisfies the ``LineageStore`` protocol."""

    def __init__(self) -> None:
        self._nodes: dict[str, Node] = {}
        self._out: dict[str, list[Edge]] = {}
        self._in: dict[str, list[Edge]] = {}

    # --- recording -------------------------------------------------------------------------

    def add_node(self, node: Node) -> Node:
        """Add ``node`` (idempotent); Conflict if its key is recorded with other content."""
        if check_node(node, self._nodes.get(node.key)):
            self._nodes[node.key] = node
            self._out[node.key] = []
            self._in[node.key] = []
        return node

    def add_dataset(self, node: DatasetNode) -> DatasetNode:
        return self._add_kind(node, DatasetNode)

    def add_run(self, node: RunNode) -> RunNode:
        return self._add_kind(node, RunNode)

    def add_model_version(self, node: ModelVersionNode) -> ModelVersionNode:
        return self._add_kind(node, ModelVersionNode)

    def add_deployment(self, node: DeploymentNode) -> DeploymentNode:
        return self._add_kind(node, DeploymentNode)

    def _add_kind(self, node: Any, cls: type[Any]) -> Any:
        if not isinstance(node, cls):
            raise InvalidInput(f"expected a {cls.__name__}, got {type(node).__name__}")
        return self.add_node(node)

    def record_node(self, node: Node) -> None:
        self.add_node(node)

    def add_edge(self, source: NodeRef, target: NodeRef, kind: str) -> Edge:
        """Add the edge ``source -> target`` of ``kind`` after ``check_edge``."""
        edge = Edge(_key(source), _key(target), kind)
        if check_edge(edge, self.get_node, self.edges_for):
            self._out[edge.source].append(edge)
            self._in[edge.target].append(edge)
        return edge

    def record_edge(self, edge: Edge) -> None:
        self.add_edge(edge.source, edge.target, edge.kind)


    # --- reading ---------------------------------------------------------------------------

    def __contains__(self, ref: object) -> bool:
        return isinstance(ref, str | Node) and _key(ref) in self._nodes

    def __len__(self) -> int:
        return len(self._nodes)

    def get_node(self, key: str) -> Node | None:
        return self._nodes.get(key)

    def node(self, ref: NodeRef) -> Node:
        """The node with that key; NotFound if absent."""
        found = self._nodes.get(_key(ref))
        if found is None:
            raise NotFound(f"lineage node {_key(ref)} is not recorded")
        return found

    def nodes(self, kind: str | None = None) -> list[Node]:
        return [n for n in self._nodes.values() if kind is None or n.kind == kind]

    def edges(self) -> list[Edge]:
        return [edge for edges in self._out.values() for edge in edges]

    def edges_for(self, key: str) -> list[Edge]:
        return list(self._in.get(key, ())) + list(self._out.get(key, ()))

    def parents(self, ref: NodeRef) -> list[Node]:
        return [self._nodes[e.source] for e in self._in[self.node(ref).key]]

    def children(self, ref: NodeRef) -> list[Node]:
        return [self._nodes[e.target] for e in self._out[self.node(ref).key]]

    def upstream(self, ref: NodeRef) -> list[Node]:
        """Every ancestor of the node, nearest first."""
        return self._walk(self.node(ref).key, self._in, lambda e: e.source)

    def downstream(self, ref: NodeRef) -> list[Node]:
        """Every descendant of the node, nearest first."""
        return self._walk(self.node(ref).key, self._out, lambda e: e.target)

    def _walk(
        self, start: str, index: Mapping[str, list[Edge]], step: Callable[[Edge], str]
    ) -> list[Node]:
        seen = {start}
        order: list[Node] = []
        queue = deque([start])
        while queue:
            for edge in index[queue.popleft()]:
                nxt = step(edge)
                if nxt not in seen:
                    seen.add(nxt)
                    order.append(self._nodes[nxt])
                    queue.append(nxt)
        return order

    def model_versions(self, name: str) -> list[ModelVersionNode]:
        found = [n for n in self._nodes.values() if isinstance(n, ModelVersionNode)]
        return sorted((n for n in found if n.name == name), key=lambda n: _version_order(n))

    def subgraph_for_model(self, name: str, version: str | None = None) -> LineageGraph:
        """The model version(s) with everything upstream and downstream of them."""
        if version is None:
            roots: list[Node] = list(self.model_versions(name))
            if not roots:
                raise ModelNotFound(f"no lineage recorded for model {name!r}", model=name)
        else:
            found = self._nodes.get(f"model-version:{name}@{version}")
            if found is None:
                raise ModelVersionNotFound(
                    f"no lineage recorded for {name}:{version}", model=name, version=version
                )
            roots = [found]
        keep = {root.key for root in roots}
        for root in roots:
            keep.update(n.key for n in self.upstream(root))
            keep.update(n.key for n in self.downstream(root))
        sub = LineageGraph()
        for key in self._nodes:  # Insertion order keeps the copy deterministic.
            if key in keep:
                sub.add_node(self._nodes[key])
        for edge in self.edges():
            if edge.source in keep and edge.target in keep:
                sub.add_edge(edge.source, edge.target, edge.kind)
        return sub

    # --- serialization ---------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "nodes": [node.to_dict() for node in self._nodes.values()],
            "edges": [edge.to_dict() for edge in self.edges()],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LineageGraph:
        """Rebuild (and re-validate) a graph; InvalidInput if the format is not ours."""
        if not isinstance(data, Mapping) or data.get("format") != FORMAT:
            raise InvalidInput(f"not a {FORMAT} document")
        graph = cls()
        try:
            for item in data["nodes"]:
                graph.add_node(node_from_dict(item))
            for item in data["edges"]:
                graph.add_edge(item["source"], item["target"], item["kind"])
        except (KeyError, TypeError) as exc:
            raise InvalidInput("malformed lineage document") from exc
        return graph


def _version_order(node: ModelVersionNode) -> tuple[int, int | str]:
    # Numeric versions sort numerically and before any non-numeric ones.
    return (0, int(node.version)) if node.version.isdigit() else (1, node.version)
