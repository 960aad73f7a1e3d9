"""The HDF5 header message decoders, fed hand-made message bodies (no file around them)."""

from __future__ import annotations

import pytest

from garrison.scanning._hdf5_messages import (
    HDF5Error,
    attribute_message,
    filter_pipeline,
    link_message,
)


def _pad(raw: bytes) -> bytes:
    return raw + b"\x00" * (-len(raw) % 8)


def _attribute_v1(name: bytes, dtype: bytes, space: bytes, data: bytes) -> bytes:
    sizes = b"".join(len(part).to_bytes(2, "little") for part in (name, dtype, space))
    return bytes([1, 0]) + sizes + _pad(name) + _pad(dtype) + _pad(space) + data


def _no_heap(collection: int, index: int, length: int) -> bytes:
    raise AssertionError("a fixed-length string must not reach the global heap")


SCALAR = bytes([1, 0, 0, 0, 0, 0, 0, 0])


def test_a_fixed_length_string_attribute_is_read() -> None:
    dtype = bytes([0x13, 0, 0, 0]) + (8).to_bytes(4, "little")
    body = _attribute_v1(b"model_config\x00", dtype, SCALAR, b"hello\x00\x00\x00")
    assert attribute_message(body, 8, 8, _no_heap) == ("model_config", "hello")


def test_a_variable_length_string_is_fetched_through_the_heap_callback() -> None:
    calls: list[tuple[int, int, int]] = []

    def heap(collection: int, index: int, length: int) -> bytes:
        calls.append((collection, index, length))
        return b"x" * length

    dtype = bytes([0x19, 0x01, 0, 0]) + (16).to_bytes(4, "little")
    item = (3).to_bytes(4, "little") + (4096).to_bytes(8, "little") + (7).to_bytes(4, "little")
    body = _attribute_v1(b"a\x00", dtype, SCALAR, item)
    assert attribute_message(body, 8, 8, heap) == ("a", "xxx")
    assert calls == [(4096, 7, 3)]


def test_an_attribute_claiming_millions_of_elements_is_refused_before_reading_them() -> None:
    dtype = bytes([0x13, 0, 0, 0]) + (1).to_bytes(4, "little")
    space = bytes([1, 1, 0, 0, 0, 0, 0, 0]) + (2_000_000).to_bytes(8, "little")
    with pytest.raises(HDF5Error, match="too many elements"):
        attribute_message(_attribute_v1(b"a\x00", dtype, space, b""), 8, 8, _no_heap)


@pytest.mark.parametrize("body", [
    b"",
    bytes([2, 0]),  # Unknown version.
    bytes([1, 0x00, 5]) + b"ab",  # A name longer than the body, then no target address.
    bytes([1, 0x08, 64, 1]) + b"a",  # An external link without its information length.
])
def test_a_malformed_link_message_raises_the_walker_error(body: bytes) -> None:
    with pytest.raises(HDF5Error):
        link_message(body, 8)


def test_links_of_each_kind_are_decoded() -> None:
    hard = bytes([1, 0x00, 1]) + b"w" + (512).to_bytes(8, "little")
    soft = bytes([1, 0x08, 1, 1]) + b"s" + (0).to_bytes(2, "little")
    info = b"\x00other.h5\x00/x\x00"
    external = bytes([1, 0x08, 64, 1]) + b"e" + len(info).to_bytes(2, "little") + info
    assert link_message(hard, 8) == ("w", "hard", "512")
    assert link_message(soft, 8) == ("s", "soft", "")
    assert link_message(external, 8) == ("e", "external", "other.h5")


def test_a_filter_pipeline_lists_its_filter_ids() -> None:
    deflate = (1).to_bytes(2, "little") + b"\x00\x00" + (1).to_bytes(2, "little") + b"\x04\0\0\0"
    named = ((300).to_bytes(2, "little") + (4).to_bytes(2, "little") + b"\x00\x00"
             + (0).to_bytes(2, "little") + b"lzf\x00")
    assert filter_pipeline(bytes([2, 2]) + deflate + named) == [1, 300]
