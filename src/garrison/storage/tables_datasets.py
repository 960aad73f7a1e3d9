"""Tables of the dataset registry and of lineage (nodes and edges).

``datasets`` holds one row per dataset version; ``lineage_nodes`` stores every lineage
node as its JSON form under its key (``dataset:...``, ``run:...``, ``model-version:...``,
``deployment:...``) and ``lineage_edges`` the edges between keys. Lineage is append-only.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, String, Table, Text, UniqueConstraint

from garrison.storage.tables import TS, metadata

__all__ = ["KEY_LENGTH", "datasets", "lineage_edges", "lineage_nodes"]

#: Longest lineage node key stored (keys are validated against it before writing).
KEY_LENGTH = 512

datasets = Table(
    "datasets",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("digest", String(64), nullable=False),
    Column("format", String(16), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("row_count", BigInteger, nullable=False),
    Column("column_types", Text, nullable=False),
    Column("schema_digest", String(64), nullable=False),
    Column("source", Text, nullable=False),
    Column("registrant", String(64), nullable=False),
    Column("created", TS, nullable=False),
    Column("target", String(256), nullable=True),
    Column("scan_report", Text, nullable=False),
    Column("poison_report", Text, nullable=True),
    Index("ix_datasets_name_digest", "name", "digest"),
)

lineage_nodes = Table(
    "lineage_nodes",
    metadata,
    Column("node_key", String(KEY_LENGTH), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("name", String(256), nullable=False),
    Column("body", Text, nullable=False),
    Index("ix_lineage_nodes_kind_name", "kind", "name"),
)

lineage_edges = Table(
    "lineage_edges",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source", String(KEY_LENGTH), nullable=False, index=True),
    Column("target", String(KEY_LENGTH), nullable=False, index=True),
    Column("kind", String(16), nullable=False),
    UniqueConstraint("source", "target", "kind", name="uq_lineage_edges_source_target_kind"),
)
