"""Table of shadow observations: one row per mirrored request and shadow version.

Labels and scores are compact JSON text. The key (model, shadow version, request
id) makes a replayed batch a no-op instead of a double count.
"""

from __future__ import annotations

from sqlalchemy import Column, Float, Index, Integer, String, Table, Text

from garrison.storage.tables import TS, metadata

__all__ = ["shadow_observations"]

shadow_observations = Table(
    "shadow_observations",
    metadata,
    Column("model", String(64), primary_key=True),
    Column("shadow_version", Integer, primary_key=True, autoincrement=False),
    Column("request_id", String(64), primary_key=True),
    Column("primary_version", Integer, nullable=False),
    Column("created", TS, nullable=False),
    Column("rows", Integer, nullable=False),
    Column("primary_labels", Text, nullable=True),
    Column("shadow_labels", Text, nullable=True),
    Column("primary_scores", Text, nullable=True),
    Column("shadow_scores", Text, nullable=True),
    Column("primary_latency_ms", Float, nullable=False),
    Column("shadow_latency_ms", Float, nullable=True),
    Column("primary_error", Text, nullable=True),
    Column("shadow_error", Text, nullable=True),
)
Index("ix_shadow_observations_model_version_created", shadow_observations.c.model,
      shadow_observations.c.shadow_version, shadow_observations.c.created)
Index("ix_shadow_observations_created", shadow_observations.c.created)
