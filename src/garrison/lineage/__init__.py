"""Lineage: which dataset versions and code commit produced a model version, and where it runs.

Build a ``LineageGraph`` (or record into any ``LineageStore`` through ``LineageRecorder``),
read a model's lineage with ``subgraph_for_model`` / ``load_lineage``, print it with
``render_tree`` and export it with ``to_openlineage_events``.
"""

from __future__ import annotations

from .graph import FORMAT, LineageGraph, check_edge, check_node
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
from .openlineage import openlineage_run_id, to_openlineage_events
from .ports import LineageRecorder, LineageStore, MemoryLineageStore, load_lineage
from .render import describe_node, render_tree

__all__ = [
    "EDGE_KINDS",
    "FORMAT",
    "DatasetNode",
    "DeploymentNode",
    "Edge",
    "LineageGraph",
    "LineageRecorder",
    "LineageStore",
    "MemoryLineageStore",
    "ModelVersionNode",
    "Node",
    "RunNode",
    "check_edge",
    "check_node",
    "describe_node",
    "load_lineage",
    "node_from_dict",
    "openlineage_run_id",
    "render_tree",
    "to_openlineage_events",
]
