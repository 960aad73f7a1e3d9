"""Reference data for a model version: profile, input schema and a sealed sample.

Registering with ``--reference FILE`` (CSV or Parquet) profiles the data, derives the
input schema from it when none is given, and seals a sample of at most
``MAX_ROWS`` rows (Parquet) next to the artifact. Its SHA-256 is part of the signed
metadata, so the detectors the gateway fits on it can trust it as much as the model.

The training label (``target``) and other columns that are not model inputs (``drop``)
are left out first; columns that look like row ids are reported as ``suspects`` so the
servability check can refuse them unless the model itself takes them.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from garrison.errors import InvalidInput
from garrison.registry.models import VersionMetadata
from garrison.schema import InputSchema

__all__ = ["MAX_ROWS", "PreparedReference", "prepare_reference", "read_reference"]

MAX_ROWS = 5000


def read_reference(path: Path, *, max_rows: int = MAX_ROWS, seed: int = 0,
                   encoding: str | None = None):
    import pandas as pd

    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_csv(path, nrows=200_000, encoding=encoding or "utf-8")
    except LookupError as exc:
        raise InvalidInput(f"unknown text encoding {encoding!r}") from exc
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"the reference data {path.name} is not {encoding or 'UTF-8'} "
                           "text; name its encoding with --encoding (e.g. latin-1)") from exc
    except (ValueError, OSError) as exc:
        raise InvalidInput(f"cannot read the reference data {path.name}") from exc
    if frame.empty:
        raise InvalidInput("the reference data has no rows")
    if len(frame) > max_rows:
        frame = frame.sample(n=max_rows, random_state=seed).sort_index()
    return frame.reset_index(drop=True)


@dataclass(frozen=True)
class PreparedReference:
    """The reference after the label and dropped columns are gone.

    ``derived`` is true when the input schema came from the data (not the metadata).
    """

    frame: Any
    meta: VersionMetadata
    derived: bool
    suspects: dict[str, str]

    def sample_file(self, workdir: Path, order: Sequence[str] | None = None,
                    ) -> tuple[VersionMetadata, Path]:
        """Write the sealed sample (in ``order``, the model's, when given); returns the
        metadata with its digest (and the schema in that order) and the file."""
        meta = self.meta
        assert meta.input_schema is not None
        frame = self.frame
        if order is not None and list(order) != meta.input_schema.names:
            schema = meta.input_schema
            meta = replace(meta, input_schema=InputSchema(tuple(schema[n] for n in order),
                                                          version=schema.version))
            frame = frame[list(order)]
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        sample = workdir / "reference.parquet"
        sample.write_bytes(buffer.getvalue())
        return replace(meta, reference_sha256=hashlib.sha256(buffer.getvalue()).hexdigest()), \
            sample


def prepare_reference(path: Path, meta: VersionMetadata, *, target: str | None = None,
                      drop: Sequence[str] = (), encoding: str | None = None,
                      ) -> PreparedReference:
    """Read, leave out the label and dropped columns, profile and derive the schema."""
    from garrison.detection import Profile
    from garrison.detection.columns import drop_columns, row_id_columns

    frame = read_reference(path, encoding=encoding)
    left_out = [*([target] if target else []), *drop]
    frame = drop_columns(frame, left_out, what="the reference data")
    if frame.shape[1] == 0:
        raise InvalidInput("no feature columns are left in the reference data")
    derived = meta.input_schema is None
    features = list(frame.columns) if derived else meta.input_schema.names  # type: ignore[union-attr]
    missing = [f for f in features if f not in frame.columns]
    if missing:
        raise InvalidInput(f"the reference data lacks features of the input schema: "
                           f"{missing[:10]}", missing=missing[:10])
    frame = frame[features]
    profile = Profile.from_frame(frame)
    meta = replace(meta, profile=meta.profile or profile.to_dict(),
                   input_schema=meta.input_schema or profile.input_schema())
    return PreparedReference(frame=frame, meta=meta, derived=derived,
                             suspects=row_id_columns(frame) if derived else {})
