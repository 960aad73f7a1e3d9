"""Lineage: datasets -> training runs -> model versions -> deployments, drawn as SVG.

The graph comes from ``DatasetService.lineage`` (``view-lineage``). The layout is a
layered drawing: one column per kind of node, in the direction data flows, each
column ordered by the mean position of the nodes feeding it (fewer crossings), edges
as curves with arrowheads. Model versions and deployments link to their pages.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from garrison.lineage import (
    DatasetNode,
    DeploymentNode,
    LineageGraph,
    ModelVersionNode,
    Node,
    describe_node,
)
from garrison.registry import validate_model_name
from garrison.types import utc_iso
from garrison.web.console.context import call, config_of, render, viewer

__all__ = ["ROUTES", "GraphDrawing", "layout"]

_COLUMNS = {"dataset": 0, "run": 1, "model-version": 2, "deployment": 3}
_KIND_LABEL = {"dataset": "dataset", "run": "training run", "model-version": "model version",
               "deployment": "deployment"}
_BOX_W, _BOX_H, _COL_GAP, _ROW_GAP, _PAD = 220, 58, 70, 22, 20


@dataclass(frozen=True)
class DrawnNode:
    key: str
    kind: str
    kind_label: str
    title: str
    subtitle: str
    description: str
    x: float
    y: float
    href: str


@dataclass(frozen=True)
class DrawnEdge:
    path: str
    label: str


@dataclass(frozen=True)
class GraphDrawing:
    width: int
    height: int
    box_w: int
    box_h: int
    nodes: tuple[DrawnNode, ...]
    edges: tuple[DrawnEdge, ...]


def _texts(node: Node) -> tuple[str, str, str]:
    """Title, subtitle and link of a node."""
    if isinstance(node, DatasetNode):
        rows = "" if node.rows is None else f", {node.rows:,} rows"
        return f"{node.name} v{node.version}", f"{node.digest.removeprefix('sha256:')[:12]}" \
            f"{rows}", ""
    if isinstance(node, ModelVersionNode):
        return (f"{node.name}:{node.version}", node.artifact_digest[:12],
                f"/console/models/{node.name}/versions/{node.version}")
    if isinstance(node, DeploymentNode):
        return (f"{node.model}:{node.version} {node.stage}", utc_iso(node.since)[:16] + " UTC",
                f"/console/models/{node.model}")
    run_id = getattr(node, "run_id", "")
    commit = getattr(node, "code_commit", None)
    return run_id, f"commit {commit[:12]}" if commit else "no commit recorded", ""


def layout(graph: LineageGraph) -> GraphDrawing:
    columns: dict[int, list[Node]] = {}
    for node in graph.nodes():
        columns.setdefault(_COLUMNS.get(node.kind, 1), []).append(node)
    rows: dict[str, float] = {}
    for col in sorted(columns):
        def weight(node: Node) -> float:
            parents = [rows[p.key] for p in graph.parents(node) if p.key in rows]
            return sum(parents) / len(parents) if parents else float("inf")

        ordered = sorted(columns[col], key=lambda n: (weight(n), n.key))
        for index, node in enumerate(ordered):
            rows[node.key] = float(index)
        columns[col] = ordered
    used = sorted(columns)
    place = {col: i for i, col in enumerate(used)}
    positions: dict[str, tuple[float, float]] = {}
    nodes = []
    for col in used:
        for index, node in enumerate(columns[col]):
            x = _PAD + place[col] * (_BOX_W + _COL_GAP)
            y = _PAD + 18 + index * (_BOX_H + _ROW_GAP)
            positions[node.key] = (x, y)
            title, subtitle, href = _texts(node)
            nodes.append(DrawnNode(node.key, node.kind, _KIND_LABEL.get(node.kind, node.kind),
                                   title, subtitle, describe_node(node), x, y, href))
    edges = []
    for edge in graph.edges():
        if edge.source not in positions or edge.target not in positions:
            continue
        (sx, sy), (tx, ty) = positions[edge.source], positions[edge.target]
        x1, y1 = sx + _BOX_W, sy + _BOX_H / 2
        x2, y2 = tx - 8, ty + _BOX_H / 2
        if x2 <= x1:  # Same column (a model version used by a run): go around below.
            x1, y1, x2, y2 = sx + _BOX_W / 2, sy + _BOX_H, tx + _BOX_W / 2, ty - 8
            path = f"M{x1:.0f},{y1:.0f} C{x1:.0f},{y1 + 30:.0f} {x2:.0f},{y2 - 30:.0f} " \
                   f"{x2:.0f},{y2:.0f}"
        else:
            mid = (x1 + x2) / 2
            path = f"M{x1:.0f},{y1:.0f} C{mid:.0f},{y1:.0f} {mid:.0f},{y2:.0f} {x2:.0f},{y2:.0f}"
        edges.append(DrawnEdge(path, f"{edge.source} {edge.kind} {edge.target}"))
    tallest = max((len(c) for c in columns.values()), default=1)
    width = int(2 * _PAD + len(used) * _BOX_W + max(len(used) - 1, 0) * _COL_GAP)
    height = int(2 * _PAD + 18 + tallest * (_BOX_H + _ROW_GAP))
    return GraphDrawing(max(width, 300), max(height, 120), _BOX_W, _BOX_H, tuple(nodes),
                        tuple(edges))


async def page(request: Request) -> Response:
    who = await viewer(request)
    services = config_of(request).services
    requested = request.query_params.get("model")
    if requested:
        validate_model_name(requested)

    def load() -> dict[str, object]:
        names = sorted({v.name for v in services.registry.list_versions(who.principal)})
        chosen = requested if requested in names else (names[0] if names else None)
        graph = None if chosen is None else services.datasets.lineage(who.principal, chosen)
        return {"names": names, "chosen": chosen, "graph": graph}

    data = await call(load)
    graph = data["graph"]
    drawing = layout(graph) if isinstance(graph, LineageGraph) else None
    return render(request, "lineage.html", who, names=data["names"], chosen=data["chosen"],
                  drawing=drawing,
                  edges=[] if not isinstance(graph, LineageGraph) else graph.edges(),
                  described={n.key: describe_node(n) for n in graph.nodes()}
                  if isinstance(graph, LineageGraph) else {})


ROUTES = [Route("/lineage", page, methods=["GET"])]
