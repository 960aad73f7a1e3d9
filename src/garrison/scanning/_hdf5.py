"""A read-only HDF5 structure walker in the standard library: groups, links, attributes.

It reads what a model scan needs from an HDF5 file (the layout of HDF5 File Format
Specification 3.0, as h5py and Keras write it) without the HDF5 library, whose C parser
would otherwise be the first code to touch hostile bytes:

* the superblock (versions 0-3, after a user block at 0, 512, 1024, ... bytes);
* object headers (version 1 and 2, with continuation blocks) and their messages;
* groups as symbol tables (v1 B-tree + local heap + symbol nodes) or compact link
  messages; dense storage (a fractal heap), which only ``libver='latest'`` files with
  many links or large attributes use, is reported as unsupported;
* attributes with string values (fixed-length, and variable-length ones in global heap
  collections), which is where Keras keeps ``model_config``.

Every address is bounds-checked, every object visited once (cycles end the walk), and
counts are capped; anything the walker cannot follow raises :class:`HDF5Error`.

This module finds things in the file; what one header message says (a link, an
attribute, a filter pipeline) is decoded in :mod:`garrison.scanning._hdf5_messages`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from garrison.scanning._hdf5_messages import (
    MSG_ATTRIBUTE,
    MSG_ATTRIBUTE_INFO,
    MSG_CONTINUATION,
    MSG_EXTERNAL,
    MSG_FILTERS,
    MSG_LAYOUT,
    MSG_LINK,
    MSG_LINK_INFO,
    MSG_SYMBOL_TABLE,
    HDF5Error,
    attribute_message,
    filter_pipeline,
    link_message,
    uint,
    undefined,
)

__all__ = ["SIGNATURE", "HDF5Error", "HDF5File", "HDF5Object", "find_superblock"]

SIGNATURE = b"\x89HDF\r\n\x1a\n"
_MAX_OBJECTS = 200_000
_MAX_MESSAGES = 100_000
_MAX_STRING = 64 << 20


@dataclass
class HDF5Object:
    """One object reached through hard links: its path, links and storage facts."""

    path: str
    address: int
    links: list[tuple[str, str, str]] = field(default_factory=list)  # (name, kind, target)
    filters: list[int] = field(default_factory=list)
    external_storage: bool = False
    virtual: bool = False
    attributes: dict[str, Any] = field(default_factory=dict)


def find_superblock(data: Any) -> int | None:
    """Offset of the HDF5 signature: 0, or a user block of 512, 1024, 2048, ... bytes."""
    offset = 0
    while offset + 8 <= len(data):
        if bytes(data[offset:offset + 8]) == SIGNATURE:
            return offset
        offset = 512 if offset == 0 else offset * 2
    return None


class HDF5File:
    """Walk an HDF5 file held in ``data`` (bytes or a memory map)."""

    def __init__(self, data: Any) -> None:
        self.data = data
        start = find_superblock(data)
        if start is None:
            raise HDF5Error("no HDF5 superblock signature")
        self._superblock(start)
        self._objects = 0
        # Overlapping structures could make a small file cost many reads: cap the total.
        self._budget = 16 * len(data) + (64 << 20)

    # -- primitive reads -------------------------------------------------------------------

    def _bytes(self, address: int, n: int) -> bytes:
        begin = self.base + address
        if address < 0 or n < 0 or begin + n > len(self.data):
            raise HDF5Error(f"address {address} + {n} bytes is outside the file")
        self._budget -= n
        if self._budget < 0:
            raise HDF5Error("the structure reads far more bytes than the file holds")
        return bytes(self.data[begin:begin + n])

    # -- superblock ------------------------------------------------------------------------

    def _superblock(self, start: int) -> None:
        head = bytes(self.data[start:start + 48])
        if len(head) < 12:
            raise HDF5Error("the superblock is truncated")
        version = head[8]
        if version in (0, 1):
            self.osize, self.lsize = head[13], head[14]
            pos = 24 if version == 0 else 28
        elif version in (2, 3):
            self.osize, self.lsize = head[9], head[10]
            pos = 12
        else:
            raise HDF5Error(f"superblock version {version} is not supported")
        if self.osize not in (2, 4, 8) or self.lsize not in (2, 4, 8):
            raise HDF5Error("unsupported size of offsets or lengths")
        raw = bytes(self.data[start:start + pos + 6 * self.osize + 64])
        base = uint(raw, pos, self.osize)
        if base != start:
            raise HDF5Error("the superblock's base address disagrees with its location")
        self.base = base
        if version in (0, 1):
            # base, free-space, end of file, driver block, then the root symbol table entry.
            entry = pos + 4 * self.osize
            self.root = uint(raw, entry + self.osize, self.osize)
        else:
            self.root = uint(raw, pos + 3 * self.osize, self.osize)
        # Both layouts keep the end-of-file address third (h5py writes it as the absolute
        # file size, user block included): a shorter file was cut off.
        end = uint(raw, pos + 2 * self.osize, self.osize)
        if end > len(self.data):
            raise HDF5Error(f"the file is truncated: it ends at {len(self.data)}, the "
                            f"superblock says {end}")
        self.version = version

    # -- object headers ----------------------------------------------------------------------

    def messages(self, address: int) -> list[tuple[int, int, bytes]]:
        """All ``(type, flags, body)`` messages of the object header at ``address``."""
        first = self._bytes(address, 4)
        if first == b"OHDR":
            return self._messages_v2(address)
        if first[0] != 1:
            raise HDF5Error(f"object header version {first[0]} at {address}")
        head = self._bytes(address, 16)
        count = uint(head, 2, 2)
        size = uint(head, 8, 4)
        out: list[tuple[int, int, bytes]] = []
        blocks = [(address + 16, size)]
        seen: set[int] = set()
        while blocks and len(out) < count:
            start, length = blocks.pop(0)
            if start in seen:
                raise HDF5Error("object header continuation cycle")
            seen.add(start)
            raw = self._bytes(start, length)
            pos = 0
            while pos + 8 <= length and len(out) < count:
                mtype, msize = uint(raw, pos, 2), uint(raw, pos + 2, 2)
                flags = raw[pos + 4]
                body = raw[pos + 8:pos + 8 + msize]
                if len(body) != msize:
                    raise HDF5Error("a header message runs past its block")
                out.append((mtype, flags, body))
                if mtype == MSG_CONTINUATION:
                    blocks.append(self._continuation(body))
                pos += 8 + msize
            if len(out) > _MAX_MESSAGES:
                raise HDF5Error("too many header messages")
        return out

    def _continuation(self, body: bytes) -> tuple[int, int]:
        return (uint(body, 0, self.osize), uint(body, self.osize, self.lsize))

    def _messages_v2(self, address: int) -> list[tuple[int, int, bytes]]:
        head = self._bytes(address, 6)
        if head[4] != 2:
            raise HDF5Error(f"object header version {head[4]} at {address}")
        flags = head[5]
        pos = 6 + (16 if flags & 0x20 else 0) + (4 if flags & 0x10 else 0)
        width = 1 << (flags & 0x03)
        size = uint(self._bytes(address + pos, width), 0, width)
        track_order = bool(flags & 0x04)
        out: list[tuple[int, int, bytes]] = []
        blocks = [(address + pos + width, size)]
        seen: set[int] = set()
        while blocks:
            start, length = blocks.pop(0)
            if start in seen:
                raise HDF5Error("object header continuation cycle")
            seen.add(start)
            raw = self._bytes(start, length)
            cursor = 0
            header = 6 if track_order else 4
            while cursor + header <= length:
                mtype, msize, mflags = raw[cursor], uint(raw, cursor + 1, 2), raw[cursor + 3]
                cursor += header
                body = raw[cursor:cursor + msize]
                if len(body) != msize:
                    raise HDF5Error("a header message runs past its block")
                out.append((mtype, mflags, body))
                if mtype == MSG_CONTINUATION:
                    cont, clen = self._continuation(body)
                    if self._bytes(cont, 4) != b"OCHK":
                        raise HDF5Error("continuation block without OCHK signature")
                    blocks.append((cont + 4, clen - 8))
                cursor += msize
            if len(out) > _MAX_MESSAGES:
                raise HDF5Error("too many header messages")
        return out

    # -- groups ------------------------------------------------------------------------------

    def _heap_name(self, heap: int, offset: int) -> str:
        raw = self._bytes(heap, 8 + 2 * self.lsize + self.osize)
        if raw[:4] != b"HEAP":
            raise HDF5Error("local heap signature missing")
        segment_size = uint(raw, 8, self.lsize)
        segment = uint(raw, 8 + 2 * self.lsize, self.osize)
        if offset >= segment_size:
            raise HDF5Error("link name offset outside the local heap")
        chunk = self._bytes(segment + offset, min(segment_size - offset, 4096))
        end = chunk.find(b"\x00")
        return chunk[: end if end >= 0 else len(chunk)].decode("utf-8", "replace")

    def _symbol_table(self, btree: int, heap: int) -> Iterator[tuple[str, str, str]]:
        stack, seen = [btree], set()
        while stack:
            node = stack.pop()
            if node in seen:
                raise HDF5Error("B-tree cycle")
            seen.add(node)
            raw = self._bytes(node, 8 + 2 * self.osize)
            if raw[:4] != b"TREE" or raw[4] != 0:
                raise HDF5Error("group B-tree node signature missing")
            level, used = raw[5], uint(raw, 6, 2)
            step = self.lsize + self.osize
            body = self._bytes(node + 8 + 2 * self.osize, used * step + self.lsize)
            children = [uint(body, self.lsize + i * step, self.osize) for i in range(used)]
            if level > 0:
                stack.extend(children)
                continue
            for child in children:
                yield from self._symbol_node(child, heap)

    def _symbol_node(self, address: int, heap: int) -> Iterator[tuple[str, str, str]]:
        raw = self._bytes(address, 8)
        if raw[:4] != b"SNOD":
            raise HDF5Error("symbol table node signature missing")
        count = uint(raw, 6, 2)
        size = 2 * self.osize + 24
        body = self._bytes(address + 8, count * size)
        for i in range(count):
            entry = body[i * size:(i + 1) * size]
            name = self._heap_name(heap, uint(entry, 0, self.osize))
            target = uint(entry, self.osize, self.osize)
            cache = uint(entry, 2 * self.osize, 4)
            if cache == 2:
                yield name, "soft", ""
            else:
                yield name, "hard", str(target)

    def _global_heap(self, collection: int, index: int, length: int) -> bytes:
        if length > _MAX_STRING:
            raise HDF5Error("a variable-length string is over the size cap")
        head = self._bytes(collection, 8 + self.lsize)
        if head[:4] != b"GCOL":
            raise HDF5Error("global heap signature missing")
        size = uint(head, 8, self.lsize)
        raw = self._bytes(collection, size)
        pos = 8 + self.lsize
        while pos + 8 + self.lsize <= size:
            obj_index = uint(raw, pos, 2)
            obj_size = uint(raw, pos + 8, self.lsize)
            if obj_index == 0:
                break
            start = pos + 8 + self.lsize
            if obj_index == index:
                if obj_size < length or start + length > size:
                    raise HDF5Error("a global heap object is shorter than its reference")
                return raw[start:start + length]
            pos = start + (obj_size + 7) // 8 * 8
        raise HDF5Error("a variable-length string is not in its global heap collection")

    # -- the walk ------------------------------------------------------------------------------

    def describe(self, path: str, address: int) -> HDF5Object:
        """Read one object's header: links, attributes, storage and filters."""
        obj = HDF5Object(path, address)
        for mtype, _flags, body in self.messages(address):
            if mtype == MSG_SYMBOL_TABLE:
                btree = uint(body, 0, self.osize)
                heap = uint(body, self.osize, self.osize)
                obj.links.extend(self._symbol_table(btree, heap))
            elif mtype == MSG_LINK:
                obj.links.append(link_message(body, self.osize))
            elif mtype in (MSG_LINK_INFO, MSG_ATTRIBUTE_INFO):
                offset = 2 + (8 if mtype == MSG_LINK_INFO and body[1] & 0x01 else 0)
                offset += 2 if mtype == MSG_ATTRIBUTE_INFO and body[1] & 0x01 else 0
                if not undefined(uint(body, offset, self.osize), self.osize):
                    raise HDF5Error("dense link or attribute storage (a fractal heap, from "
                                    "libver='latest') is not supported")
            elif mtype == MSG_ATTRIBUTE:
                name, value = attribute_message(body, self.osize, self.lsize, self._global_heap)
                obj.attributes[name] = value
            elif mtype == MSG_EXTERNAL:
                obj.external_storage = True
            elif mtype == MSG_LAYOUT:
                # Layout class 3 (version 4 and later) is a virtual dataset: its data lives
                # in other files.
                obj.virtual = obj.virtual or (len(body) > 1 and body[0] >= 4 and body[1] == 3)
            elif mtype == MSG_FILTERS:
                obj.filters.extend(filter_pipeline(body))
        return obj

    def walk(self) -> Iterator[HDF5Object]:
        """Every object reachable from the root through hard links, each once."""
        pending = [("/", self.root)]
        seen: set[int] = set()
        while pending:
            path, address = pending.pop()
            if address in seen:
                continue
            seen.add(address)
            self._objects += 1
            if self._objects > _MAX_OBJECTS:
                raise HDF5Error("too many objects")
            obj = self.describe(path, address)
            yield obj
            for name, kind, target in obj.links:
                if kind == "hard":
                    pending.append((f"{path.rstrip('/')}/{name}", int(target)))

    def root_attributes(self) -> dict[str, Any]:
        return self.describe("/", self.root).attributes

