"""Reading tables for the data commands: encodings, and columns that are not features.

``--drop COLUMN`` leaves a column out; columns that look like row ids (a saved index,
consecutive integers, a unique id per row) are left out too, with a warning naming
them, unless ``--keep COLUMN`` says otherwise: a row id "drifts" in every new batch,
makes every row an outlier and lets a model memorize its training rows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

from garrison.errors import InvalidInput

__all__ = ["TABLE_SUFFIXES", "columns_options", "leave_out", "names", "read_table", "warn"]

TABLE_SUFFIXES = (".csv", ".parquet", ".pq")
F = TypeVar("F", bound=Callable[..., Any])


def names(values: Sequence[str]) -> list[str]:
    """``--drop a,b --drop c`` as well as repeated options."""
    return [n.strip() for value in values for n in value.split(",") if n.strip()]


def columns_options(fn: F) -> F:
    """``--drop``, ``--keep`` and ``--encoding``, for commands that read CSV or Parquet."""
    for option in reversed([
        click.option("--drop", "drop", multiple=True, metavar="COLUMN",
                     help="Leave this column out (an id, a timestamp, the label); repeatable "
                     "or comma-separated."),
        click.option("--keep", "keep", multiple=True, metavar="COLUMN",
                     help="Keep this column although it looks like a row id (such columns "
                     "are left out with a warning); repeatable."),
        click.option("--encoding", metavar="CODEC",
                     help="Text encoding of CSV input (default UTF-8), e.g. latin-1."),
    ]):
        fn = option(fn)
    return fn


def warn(message: str) -> None:
    """A warning line on stderr, next to the error style: ``warning: ...``."""
    click.echo(f"{click.style('warning', fg='yellow', bold=True)}: {message}", err=True)


def read_table(path: str, *, encoding: str | None = None) -> Any:
    """A CSV or Parquet file as a DataFrame; any failure is an ``InvalidInput``."""
    import pandas as pd

    suffix = Path(path).suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise InvalidInput(f"{path}: expected a .csv or .parquet file")
    try:
        frame = (pd.read_csv(path, encoding=encoding or "utf-8") if suffix == ".csv"
                 else pd.read_parquet(path))
    except FileNotFoundError:
        raise InvalidInput(f"{path}: no such file") from None
    except LookupError:
        raise InvalidInput(f"unknown text encoding {encoding!r}") from None
    except UnicodeDecodeError:
        raise InvalidInput(f"{path}: not {encoding or 'UTF-8'} text; name its encoding with "
                           "--encoding (e.g. latin-1)") from None
    except (OSError, ValueError, pd.errors.ParserError, ImportError) as exc:
        raise InvalidInput(f"{path}: cannot read table ({type(exc).__name__})") from exc
    if frame.empty or frame.shape[1] == 0:
        raise InvalidInput(f"{path}: the table is empty")
    return frame


def leave_out(frame: Any, drop: Sequence[str], keep: Sequence[str], *, what: str,
              protect: Sequence[str] = (), strict: bool = True) -> tuple[Any, list[str]]:
    """``frame`` without the ``drop`` columns and the row-id-like ones (warned about),
    except ``keep`` and ``protect`` (e.g. the label); returns it and the ids left out.
    ``strict``: a ``drop`` name that is not a column is an error (else it is skipped; the
    caller checks it names a column of some other table)."""
    from garrison.detection.columns import drop_columns, row_id_columns

    wanted = names(drop)
    if not strict:
        wanted = [n for n in wanted if n in frame.columns]
    frame = drop_columns(frame, wanted, what=what)
    kept = set(names(keep)) | set(protect)
    unknown = sorted(kept - set(map(str, frame.columns)) - set(protect))
    if unknown:
        raise InvalidInput(f"{what} has no column {unknown[0]!r} to keep")
    ids = {n: why for n, why in row_id_columns(frame).items() if n not in kept}
    for name, why in ids.items():
        warn(f"leaving out {name!r} of {what}: it looks like a row id ({why}); "
             f"--keep {name} keeps it")
    frame = frame.drop(columns=list(ids)) if ids else frame
    if frame.shape[1] <= len([n for n in protect if n in frame.columns]):
        raise InvalidInput(f"{what}: no feature column is left (the rest were dropped or look "
                           "like row ids; --keep COLUMN keeps one)")
    return frame, list(ids)
