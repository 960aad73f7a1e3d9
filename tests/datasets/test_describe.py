"""File facts: streaming digest, row count and schema of CSV and Parquet files."""

from __future__ import annotations

import hashlib

import pandas as pd
import pytest

from garrison.datasets import describe_file, file_sha256, schema_digest
from garrison.errors import InvalidInput

from .datagen import write

EXPECTED = (
    ("customer_id", "int64"),
    ("name", "string"),
    ("email", "string"),
    ("phone", "string"),
    ("age", "int64"),
    ("income", "float64"),
    ("active", "bool"),
    ("label", "int64"),
)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_digest_rows_and_schema(tmp_path, frame, suffix) -> None:
    path = write(frame, tmp_path / f"data{suffix}")
    facts = describe_file(path)
    assert facts.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert facts.format == suffix[1:]
    assert facts.rows == len(frame) == 300
    assert facts.size == path.stat().st_size
    assert facts.columns == EXPECTED
    assert facts.schema_digest == schema_digest(EXPECTED)


def test_streaming_digest_matches_over_block_boundaries(tmp_path) -> None:
    path = tmp_path / "big.bin"
    data = bytes(range(256)) * ((3 << 20) // 256 + 7)  # Three MiB and a bit: several blocks.
    path.write_bytes(data)
    assert file_sha256(path) == hashlib.sha256(data).hexdigest()


def test_csv_types_do_not_depend_on_chunking(tmp_path) -> None:
    frame = pd.DataFrame({
        "mixed": ["1"] * 5 + ["1.5"] * 5,          # int in one chunk, float in the next
        "late_text": ["7"] * 9 + ["x"],           # numbers, then text
        "sparse": [None] * 9 + ["true"],          # empty chunks carry no type
        "zeros": ["001"] * 10,                    # text kept as written, still integral
    })
    path = tmp_path / "t.csv"
    frame.to_csv(path, index=False)
    whole = describe_file(path)
    chunked = describe_file(path, chunk_rows=3)
    assert whole.rows == chunked.rows == 10
    assert whole.columns == chunked.columns == (
        ("mixed", "float64"), ("late_text", "string"), ("sparse", "bool"), ("zeros", "int64"))


def test_schema_digest_depends_on_order_and_types() -> None:
    a = (("x", "int64"), ("y", "string"))
    assert schema_digest(a) != schema_digest(a[::-1])
    assert schema_digest(a) != schema_digest((("x", "float64"), ("y", "string")))


@pytest.mark.parametrize("content", [b"", b"\x00\x01binary", b"PAR1 not really parquet"])
def test_unreadable_files_are_invalid_input(tmp_path, content) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(InvalidInput):
        describe_file(path)


def test_missing_file_is_invalid_input(tmp_path) -> None:
    with pytest.raises(InvalidInput):
        file_sha256(tmp_path / "nope.csv")


@pytest.mark.parametrize("chunk_rows", [1, 1_000])
def test_repeated_csv_headers_are_refused_not_renamed(tmp_path, chunk_rows) -> None:
    path = tmp_path / "dup.csv"
    path.write_text("id,email,email\n1,a@example.com,b@example.com\n")
    with pytest.raises(InvalidInput, match=r"dup\.csv has duplicate column name\(s\) \['email'\]"):
        describe_file(path, chunk_rows=chunk_rows)


def test_a_csv_header_that_only_looks_repeated_is_described(tmp_path) -> None:
    path = tmp_path / "ok.csv"
    path.write_text("email,email.1\na@example.com,2\n")
    assert describe_file(path).columns == (("email", "string"), ("email.1", "int64"))


def test_a_precomputed_digest_is_used_instead_of_hashing(tmp_path, frame, monkeypatch) -> None:
    import garrison.datasets.describe as describe_module

    path = write(frame, tmp_path / "data.csv")
    plain = describe_file(path)

    def no_hashing(path):
        raise AssertionError("the file was hashed although its digest was given")

    monkeypatch.setattr(describe_module, "file_sha256", no_hashing)
    given = describe_file(path, sha256=plain.sha256)
    assert given == plain
    assert describe_file(path, sha256="ab" * 32).sha256 == "ab" * 32  # Taken as given.
