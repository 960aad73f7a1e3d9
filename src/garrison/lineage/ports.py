"""The storage port for lineage, an in-memory implementation, and the code that uses it.

Adapters (the SQL storage) implement ``LineageStore`` as plain persistence: five small
methods, no graph logic. ``LineageRecorder`` adds the rules of ``check_node`` /
``check_edge`` on top of any store, and ``load_lineage`` reads the connected graph of a model
back into a ``LineageGraph`` for display or export.
"""

from __future__ import annotations

from collections import deque
from typing import Protocol, runtime_checkable

from garrison.errors import ModelNotFound, ModelVersionNotFound

from .graph import LineageGraph, Recording, check_edge, check_node
from .nodes import Edge, ModelVersionNode, Node

__all__ = ["LineageRecorder", "LineageStore", "MemoryLineageStore", "load_lineage"]


@runtime_checkable
class LineageStore(Protocol):
    """Persistence for lineage nodes and edges (append-only: there is no delete)."""

    def record_node(self, node: Node) -> None:
        """Store ``node`` under ``node.key`` (callers have already checked for conflicts)."""
        ...

    def record_edge(self, edge: Edge) -> None:
        """Store ``edge`` (callers have already validated it)."""
        ...

    def get_node(self, key: str) -> Node | None:
        """The node stored under ``key``, or None."""
        ...

    def edges_for(self, key: str) -> list[Edge]:
        """Every edge whose source or target is ``key``."""
        ...

    def model_versions(self, name: str) -> list[ModelVersionNode]:
        """Every stored version of model ``name``."""
        ...


class MemoryLineageStore:
    """A dict-backed ``LineageStore`` for tests and single-process use."""

    def __init__(self) -> None:
        self.nodes: dict[str, Node] = {}
        self.edges: list[Edge] = []

    def record_node(self, node: Node) -> None:
        self.nodes.setdefault(node.key, node)

    def record_edge(self, edge: Edge) -> None:
        if edge not in self.edges:
            self.edges.append(edge)

    def get_node(self, key: str) -> Node | None:
        return self.nodes.get(key)

    def edges_for(self, key: str) -> list[Edge]:
        return [e for e in self.edges if key in (e.source, e.target)]

    def model_versions(self, name: str) -> list[ModelVersionNode]:
        return [
            n for n in self.nodes.values() if isinstance(n, ModelVersionNode) and n.name == name
        ]


class LineageRecorder(Recording):
    """Record lineage into any ``LineageStore`` with the same rules as ``LineageGraph``."""

    def __init__(self, store: LineageStore) -> None:
        self.store = store

    def add_node(self, node: Node) -> Node:
        if check_node(node, self.store.get_node(node.key)):
            self.store.record_node(node)
        return node

    def add_edge(self, source: Node | str, target: Node | str, kind: str) -> Edge:
        edge = Edge(
            source if isinstance(source, str) else source.key,
            target if isinstance(target, str) else target.key,
            kind,
        )
        if check_edge(edge, self.store.get_node, self.store.edges_for):
            self.store.record_edge(edge)
        return edge



def load_lineage(store: LineageStore, name: str, version: str | None = None) -> LineageGraph:
    """Read the model version(s) and everything connected up- and downstream of them.

    Raises ModelNotFound (no version of ``name``) or ModelVersionNotFound.
    """
    if version is None:
        roots: list[Node] = list(store.model_versions(name))
        if not roots:
            raise ModelNotFound(f"no lineage recorded for model {name!r}", model=name)
    else:
        found = store.get_node(f"model-version:{name}@{version}")
        if found is None:
            raise ModelVersionNotFound(
                f"no lineage recorded for {name}:{version}", model=name, version=version
            )
        roots = [found]
    nodes: dict[str, Node] = {root.key: root for root in roots}
    edges: set[Edge] = set()
    # Walk upstream and downstream separately so siblings of a shared dataset (other models
    # trained on it) are not pulled in.
    for upstream in (True, False):
        queue = deque(root.key for root in roots)
        seen = set(queue)
        while queue:
            key = queue.popleft()
            for edge in store.edges_for(key):
                if (edge.target if upstream else edge.source) != key:
                    continue
                nxt = edge.source if upstream else edge.target
                if nxt not in seen:
                    seen.add(nxt)
                    queue.append(nxt)
                    node = store.get_node(nxt)
                    if node is not None:
                        nodes[nxt] = node
    graph = LineageGraph()
    for node in nodes.values():
        graph.add_node(node)
    # The induced subgraph: every stored edge between two collected nodes.
    for key in nodes:
        edges.update(e for e in store.edges_for(key) if e.source in nodes and e.target in nodes)
    order = {key: i for i, key in enumerate(nodes)}
    for edge in sorted(edges, key=lambda e: (order.get(e.source, 0), order.get(e.target, 0))):
        graph.add_edge(edge.source, edge.target, edge.kind)
    return graph
