"""Reference data for a model version: profile, input schema and a sealed sample.

Registering with ``--reference FILE`` (CSV or Parquet) profiles the data, derives the
input schema from it when none is given, and seals a sample of at most
``MAX_ROWS`` rows (Parquet) next to the artifact. Its SHA-256 is part of the signed
metadata, so the detectors the gateway fits on it can trust it as much as the model.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import replace
from pathlib import Path

from garrison.detection import Profile
from garrison.errors import InvalidInput
from garrison.registry.models import VersionMetadata

__all__ = ["MAX_ROWS", "prepare_reference", "read_reference"]

MAX_ROWS = 5000


def read_reference(path: Path, *, max_rows: int = MAX_ROWS, seed: int = 0):  # type: ignore[no-untyped-def]
    import pandas as pd

    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_csv(path, nrows=200_000)
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read the reference data {path.name}") from exc
    if frame.empty:
        raise InvalidInput("the reference data has no rows")
    if len(frame) > max_rows:
        frame = frame.sample(n=max_rows, random_state=seed).sort_index()
    return frame.reset_index(drop=True)


def prepare_reference(path: Path, meta: VersionMetadata, workdir: Path,
                      ) -> tuple[VersionMetadata, Path]:
    """Profile, schema and a Parquet sample file; returns updated metadata and the file."""
    frame = read_reference(path)
    features = meta.input_schema.names if meta.input_schema is not None else list(frame.columns)
    missing = [f for f in features if f not in frame.columns]
    if missing:
        raise InvalidInput(f"the reference data lacks features: {missing[:10]}")
    frame = frame[features]
    profile = Profile.from_frame(frame)
    sample = workdir / "reference.parquet"
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    sample.write_bytes(buffer.getvalue())
    digest = hashlib.sha256(buffer.getvalue()).hexdigest()
    return replace(
        meta,
        profile=meta.profile or profile.to_dict(),
        input_schema=meta.input_schema or profile.input_schema(),
        reference_sha256=digest,
    ), sample
