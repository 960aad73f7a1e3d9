"""Read a training table from CSV or Parquet, turning every failure into ``InvalidInput``."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from garrison.errors import InvalidInput, LimitExceeded

__all__ = ["MAX_TABLE_BYTES", "read_table"]

MAX_TABLE_BYTES = 2 * 1024**3
_CSV = {".csv", ".txt", ".tsv"}
_PARQUET = {".parquet", ".pq"}


def read_table(path: str | os.PathLike[str], *, max_bytes: int = MAX_TABLE_BYTES,
               encoding: str | None = None) -> pd.DataFrame:
    """Load ``path`` (``.csv``/``.tsv``/``.txt`` or ``.parquet``/``.pq``) into a DataFrame.

    Raises ``InvalidInput`` when the file is missing, of an unknown type or unreadable
    (text in another ``encoding`` than the one given, UTF-8 by default), and
    ``LimitExceeded`` when it is larger than ``max_bytes``.
    """
    file = Path(path)
    suffix = file.suffix.lower()
    if suffix not in _CSV | _PARQUET:
        raise InvalidInput(
            f"{file.name}: unsupported file type {suffix or '(none)'!r}; use CSV or Parquet",
            path=str(file),
        )
    try:
        size = file.stat().st_size
    except OSError as exc:
        raise InvalidInput(f"{file.name}: cannot read the file", path=str(file)) from exc
    if not file.is_file():
        raise InvalidInput(f"{file.name}: not a regular file", path=str(file))
    if size > max_bytes:
        raise LimitExceeded(f"{file.name}: {size} bytes is above the limit of {max_bytes}")
    try:
        if suffix in _PARQUET:
            frame = pd.read_parquet(file)
        else:
            frame = pd.read_csv(file, sep="\t" if suffix == ".tsv" else ",",
                                encoding=encoding or "utf-8")
    except LookupError as exc:
        raise InvalidInput(f"unknown text encoding {encoding!r}") from exc
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{file.name}: not {encoding or 'UTF-8'} text; name its encoding "
                           "with --encoding (e.g. latin-1)", path=str(file)) from exc
    except Exception as exc:  # pandas, the CSV parser and pyarrow each raise their own types.
        raise InvalidInput(
            f"{file.name}: not a readable {suffix[1:]} table", path=str(file)
        ) from exc
    if frame.empty:
        raise InvalidInput(f"{file.name}: the table has no rows", path=str(file))
    return frame
