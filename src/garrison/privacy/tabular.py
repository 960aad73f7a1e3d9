"""Streaming access to CSV and Parquet files, and per-column reservoir samples.

Nothing here loads a whole file: CSV is read with pandas' chunked reader and
Parquet with ``pyarrow.parquet.ParquetFile.iter_batches``. Every foreign error
(pandas parser, Arrow, csv, Unicode) becomes :class:`~garrison.errors.InvalidInput`
whose message names the file and the problem but never quotes its content.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from garrison.errors import InvalidInput

__all__ = [
    "DEFAULT_CHUNK_ROWS",
    "FileFormat",
    "FrameWriter",
    "Reservoir",
    "detect_format",
    "iter_chunks",
    "list_columns",
    "read_columns",
]

FileFormat = Literal["csv", "parquet"]
DEFAULT_CHUNK_ROWS = 100_000
_PARQUET_MAGIC = b"PAR1"
_SNIFF_BYTES = 65_536


def detect_format(path: str | Path) -> FileFormat:
    """Tell CSV from Parquet by magic bytes, and refuse empty or binary files."""
    p = Path(path)
    try:
        size = p.stat().st_size
        with p.open("rb") as handle:
            head = handle.read(_SNIFF_BYTES)
    except OSError as exc:
        raise InvalidInput(f"cannot read {p.name}: {exc.strerror or 'I/O error'}") from exc
    if size == 0:
        raise InvalidInput(f"cannot read {p.name}: the file is empty")
    if head.startswith(_PARQUET_MAGIC) or p.suffix.lower() in (".parquet", ".pq"):
        return "parquet"
    if b"\x00" in head:
        raise InvalidInput(f"cannot read {p.name}: binary content, not a CSV or Parquet file")
    cut = head if len(head) < _SNIFF_BYTES else head[: len(head) - 4]
    try:
        cut.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"cannot read {p.name}: not UTF-8 text (byte {exc.start})") from exc
    return "csv"


def _arrow_text(array: pa.Array | pa.ChunkedArray) -> pd.Series:
    try:
        text = pc.cast(array, pa.string())
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
        text = pa.array([None if x is None else str(x) for x in array.to_pylist()], pa.string())
    return text.to_pandas()


@contextmanager
def _read_errors(p: Path, fmt: FileFormat) -> Iterator[None]:
    """Turn pandas, Arrow, csv and Unicode errors into :class:`InvalidInput` naming ``p``."""
    try:
        yield
    except InvalidInput:
        raise
    except (pa.ArrowException, OSError) as exc:  # Before ValueError: ArrowInvalid is one.
        raise InvalidInput(f"cannot read {p.name}: malformed or truncated {fmt}") from exc
    except pd.errors.EmptyDataError as exc:
        raise InvalidInput(f"cannot read {p.name}: no columns to parse") from exc
    except (pd.errors.ParserError, csv.Error, ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read {p.name}: malformed {fmt} ({type(exc).__name__})") from exc


def iter_chunks(
    path: str | Path,
    *,
    columns: Sequence[str] | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    text_columns: Sequence[str] | None = None,
    all_text: bool = True,
) -> Iterator[pd.DataFrame]:
    """Yield the file as DataFrames of at most ``chunk_rows`` rows.

    With ``all_text`` every value arrives as a string exactly as written (leading
    zeros and ``+`` signs survive) and missing values as NA. Otherwise only
    ``text_columns`` are turned into strings and the rest keep their Parquet types
    (CSV is always text).
    """
    p = Path(path)
    fmt = detect_format(p)
    names = list_columns(p)  # Also refuses repeated column names, which pandas would rename.
    if columns is not None:
        missing = set(columns) - set(names)
        if missing:
            raise InvalidInput(f"{p.name} has no column(s) {sorted(missing)}")
    with _read_errors(p, fmt):
        if fmt == "csv":
            reader = pd.read_csv(
                p,
                dtype=str,
                chunksize=chunk_rows,
                usecols=list(columns) if columns else None,
                keep_default_na=False,
                na_values=[""],
                encoding="utf-8",
                encoding_errors="strict",
                on_bad_lines="error",
            )
            with reader:
                yield from reader
            return
        parquet = pq.ParquetFile(p)
        for batch in parquet.iter_batches(batch_size=chunk_rows, columns=columns):
            yield _batch_frame(batch, all_text, text_columns)


def _batch_frame(
    batch: pa.RecordBatch, all_text: bool, text_columns: Sequence[str] | None
) -> pd.DataFrame:
    wanted = set(batch.schema.names if all_text else (text_columns or ()))
    data: dict[str, pd.Series] = {}
    for name, column in zip(batch.schema.names, batch.columns, strict=True):
        data[name] = _arrow_text(column) if name in wanted else column.to_pandas()
    return pd.DataFrame(data)


def _csv_header(p: Path) -> list[str]:
    """The first record of a CSV file as written, before pandas renames repeated names.

    Read with the same separator and encoding as ``pd.read_csv`` above (comma, UTF-8;
    a byte-order mark is dropped as pandas does) and skipping blank lines like it.
    """
    with p.open(newline="", encoding="utf-8-sig", errors="strict") as handle:
        for row in csv.reader(handle):
            if row:
                return row
    return []


def _refuse_duplicates(p: Path, names: Sequence[str]) -> None:
    # Blank CSV headers are left to pandas, which names them "Unnamed: <i>".
    counts = Counter(name for name in names if name != "")
    repeated = sorted(name for name, count in counts.items() if count > 1)
    if repeated:
        raise InvalidInput(f"{p.name} has duplicate column name(s) {repeated}")


def list_columns(path: str | Path) -> list[str]:
    """Column names of a file without reading its rows; repeated names are refused."""
    p = Path(path)
    fmt = detect_format(p)
    with _read_errors(p, fmt):
        if fmt == "parquet":
            names = list(pq.ParquetFile(p).schema_arrow.names)
            _refuse_duplicates(p, names)
            return names
        header = pd.read_csv(p, dtype=str, nrows=0, encoding="utf-8")
        _refuse_duplicates(p, _csv_header(p))
        return [str(c) for c in header.columns]


def read_columns(
    path: str | Path, columns: Sequence[str], *, chunk_rows: int = DEFAULT_CHUNK_ROWS
) -> pd.DataFrame:
    """Read only ``columns`` (as text) into memory, chunk by chunk."""
    parts = list(iter_chunks(path, columns=columns, chunk_rows=chunk_rows))
    if not parts:
        return pd.DataFrame({c: pd.Series([], dtype="str") for c in columns})
    return pd.concat(parts, ignore_index=True)[list(columns)]


class Reservoir:
    """A uniform sample without replacement of up to ``size`` non-null values per column.

    Each value gets a random key and the ``size`` smallest keys are kept (a bottom-k
    sample), which merges chunk by chunk in vectorised numpy.
    """

    def __init__(self, size: int, rng: np.random.Generator) -> None:
        if size < 1:
            raise InvalidInput("sample size must be at least 1")
        self.size = size
        self.rng = rng
        self.rows = 0
        self.non_null: dict[str, int] = {}
        self._keys: dict[str, np.ndarray] = {}
        self._values: dict[str, np.ndarray] = {}

    def add(self, frame: pd.DataFrame) -> None:
        self.rows += len(frame)
        for name in frame.columns:
            series = frame[name]
            present = series[series.notna()].astype(str).str.strip()
            present = present[present != ""]
            key = str(name)
            self.non_null[key] = self.non_null.get(key, 0) + len(present)
            values = present.to_numpy(dtype=object)
            keys = self.rng.random(len(values))
            if key in self._keys:
                values = np.concatenate([self._values[key], values])
                keys = np.concatenate([self._keys[key], keys])
            if len(keys) > self.size:
                keep = np.argpartition(keys, self.size - 1)[: self.size]
                keys, values = keys[keep], values[keep]
            self._keys[key], self._values[key] = keys, values

    def columns(self) -> list[str]:
        return list(self.non_null)

    def sample(self, name: str) -> list[str]:
        """The sampled values of one column, in random order."""
        values = self._values.get(name)
        if values is None:
            return []
        return [str(x) for x in values[np.argsort(self._keys[name])]]


class FrameWriter:
    """Write DataFrame chunks to one CSV or Parquet file (format from the suffix)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        suffix = self.path.suffix.lower()
        self.format: FileFormat = "parquet" if suffix in (".parquet", ".pq") else "csv"
        self._writer: pq.ParquetWriter | None = None
        self._started = False

    def write(self, frame: pd.DataFrame) -> None:
        if self.format == "csv":
            frame.to_csv(
                self.path, mode="a" if self._started else "w", header=not self._started, index=False
            )
        else:
            table = pa.Table.from_pandas(frame, preserve_index=False)
            if self._writer is None:
                self._writer = pq.ParquetWriter(self.path, table.schema)
            self._writer.write_table(table.cast(self._writer.schema))
        self._started = True

    def close(self, empty_columns: Sequence[str] = ()) -> None:
        if not self._started:
            self.write(pd.DataFrame({c: pd.Series([], dtype="str") for c in empty_columns}))
        if self._writer is not None:
            self._writer.close()

    def __enter__(self) -> FrameWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
