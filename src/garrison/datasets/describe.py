"""What a dataset file is: its content digest, format, size, row count and schema.

Nothing here loads a whole file. The digest is a streaming SHA-256 of the bytes;
Parquet row counts and types come from the file footer; CSV is read chunk by chunk
and each column's type is inferred from its text (``int64``, ``float64``, ``bool`` or
``string``), the same way for every chunk so the answer does not depend on the
chunk size.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from garrison.errors import InvalidInput
from garrison.privacy import detect_format, iter_chunks, list_columns
from garrison.privacy.tabular import DEFAULT_CHUNK_ROWS

__all__ = ["FileDescription", "describe_file", "file_sha256", "schema_digest"]

_READ_BYTES = 1 << 20
_BOOL_TEXT = frozenset({"true", "false"})
_INT_TEXT = r"^[+-]?\d+$"
# Arrow type names that have a more familiar (pandas) spelling.
_ARROW_NAMES = {
    "double": "float64",
    "float": "float32",
    "halffloat": "float16",
    "large_string": "string",
    "large_binary": "binary",
}
# Merging the type seen in one chunk with the type seen so far (order does not matter).
_WIDEN = {
    frozenset({"int64", "float64"}): "float64",
}


@dataclass(frozen=True)
class FileDescription:
    """The facts about one file that a dataset version records."""

    sha256: str
    format: str
    size: int
    rows: int
    columns: tuple[tuple[str, str], ...]

    @property
    def schema_digest(self) -> str:
        return schema_digest(self.columns)


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of the file's bytes, read in 1 MiB blocks."""
    p = Path(path)
    digest = hashlib.sha256()
    try:
        with p.open("rb") as handle:
            while block := handle.read(_READ_BYTES):
                digest.update(block)
    except OSError as exc:
        raise InvalidInput(f"cannot read {p.name}: {exc.strerror or 'I/O error'}") from exc
    return digest.hexdigest()


def schema_digest(columns: tuple[tuple[str, str], ...]) -> str:
    """Hex SHA-256 of the canonical JSON of ``[[name, type], ...]`` (order matters)."""
    text = json.dumps([list(c) for c in columns], separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _text_type(series: pd.Series) -> str | None:
    """The type a chunk of CSV text suggests; None when the chunk holds no value."""
    values = series.dropna().astype(str).str.strip()
    values = values[values != ""]
    if values.empty:
        return None
    if values.str.lower().isin(_BOOL_TEXT).all():
        return "bool"
    numbers = pd.to_numeric(values, errors="coerce")
    if numbers.isna().any():
        return "string"
    return "int64" if values.str.fullmatch(_INT_TEXT).all() else "float64"


def _merge(seen: str | None, new: str | None) -> str | None:
    if seen is None or seen == new:
        return new if seen is None else seen
    if new is None:
        return seen
    return _WIDEN.get(frozenset({seen, new}), "string")


def _describe_csv(
    path: Path, chunk_rows: int = DEFAULT_CHUNK_ROWS
) -> tuple[int, tuple[tuple[str, str], ...]]:
    names = list_columns(path)
    types: dict[str, str | None] = dict.fromkeys(names)
    rows = 0
    for chunk in iter_chunks(path, chunk_rows=chunk_rows):
        rows += len(chunk)
        for name in names:
            types[name] = _merge(types[name], _text_type(chunk[name]))
    return rows, tuple((name, types[name] or "string") for name in names)


def _describe_parquet(path: Path) -> tuple[int, tuple[tuple[str, str], ...]]:
    try:
        parquet = pq.ParquetFile(path)
        rows = int(parquet.metadata.num_rows)
        schema = parquet.schema_arrow
    except (pa.ArrowException, OSError) as exc:
        raise InvalidInput(f"cannot read {path.name}: malformed or truncated parquet") from exc
    columns = tuple(
        (field.name, _ARROW_NAMES.get(str(field.type), str(field.type))) for field in schema
    )
    return rows, columns


def describe_file(
    path: str | Path, *, chunk_rows: int = DEFAULT_CHUNK_ROWS, sha256: str | None = None
) -> FileDescription:
    """Digest, format, size, row count and ``(column, type)`` pairs of a CSV or Parquet file.

    ``sha256``: the file's digest when the caller has just computed it (with
    :func:`file_sha256`); the file is then not hashed again. The caller is responsible for
    checking that the bytes did not change in between.
    """
    p = Path(path)
    fmt = detect_format(p)
    sha = file_sha256(p) if sha256 is None else sha256
    rows, columns = _describe_csv(p, chunk_rows) if fmt == "csv" else _describe_parquet(p)
    if len({name for name, _ in columns}) != len(columns):
        raise InvalidInput(f"{p.name} has duplicate column names")
    return FileDescription(sha, fmt, p.stat().st_size, rows, columns)
