"""Receiving an artifact upload: the body is streamed to a private temporary file.

Two encodings are accepted:

- ``application/octet-stream``: the body is the artifact; metadata (optional) is JSON
  in the ``X-Garrison-Metadata`` header, the original file name (optional, only used
  for format hints and the scan report) in ``X-Garrison-Filename``.
- ``multipart/form-data``: a ``file`` part (the artifact, exactly one), an optional
  ``metadata`` part (JSON text), an optional ``reference`` part (the reference data,
  CSV or Parquet, told apart by its file name's suffix) and an optional ``signature``
  part (an OpenSSF model-signing bundle). Any other part, or a repeated one, is refused.

Each upload gets a fresh directory (mode 0700) under the upload root, so a file
name chosen by the client can never collide with or reach anything else; the
caller removes the directory whatever happens. Nothing here parses the artifact.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from garrison.errors import InvalidInput, PayloadTooLarge, StorageError
from garrison.web._http import media_type, parse_json, validate
from garrison.web.schemas import VersionMetadataIn

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

__all__ = ["FILENAME_HEADER", "METADATA_HEADER", "Upload", "receive_upload", "safe_filename"]

METADATA_HEADER = "X-Garrison-Metadata"
FILENAME_HEADER = "X-Garrison-Filename"
_FLUSH_BYTES = 1 << 20
_MAX_PART_HEADERS = 8 * 1024
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_SUFFIX = re.compile(r"\.[A-Za-z0-9]{1,16}$")
_PARTS = ("file", "metadata", "reference", "signature")


@dataclass(frozen=True)
class Upload:
    """The received artifact and its validated metadata (``None``: none was sent), with
    the reference data and the model signature when they were sent."""

    path: Path
    size: int
    metadata: dict[str, Any] | None
    reference: Path | None = None
    signature: Path | None = None


_REFERENCE_SUFFIXES = (".csv", ".parquet", ".pq")
#: An OpenSSF model-signing bundle is a few kilobytes; this leaves room for a long chain.
MAX_SIGNATURE_BYTES = 256 * 1024


def safe_filename(presented: str | None) -> str:
    """The client's base name if it is plain, else ``artifact`` plus its plain suffix."""
    base = (presented or "").replace("\\", "/").rsplit("/", 1)[-1]
    if _SAFE_NAME.fullmatch(base):
        return base
    suffix = _SUFFIX.search(base)
    return "artifact" + (suffix.group(0).lower() if suffix else "")


class _Sink:
    """Writes the artifact off the event loop in 1 MiB batches and enforces the cap."""

    def __init__(self, path: Path, cap: int, what: str = "artifact") -> None:
        self.path = path
        self.cap = cap
        self.what = what
        self.size = 0
        self._buffer = bytearray()
        try:
            self._fd: int | None = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as exc:
            raise StorageError("could not store the upload") from exc

    async def write(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.cap:
            raise PayloadTooLarge(f"the {self.what} may be at most {self.cap} bytes",
                                  limit=self.cap)
        self._buffer += data
        if len(self._buffer) >= _FLUSH_BYTES:
            await self.flush()

    async def flush(self) -> None:
        if not self._buffer or self._fd is None:
            return
        data, self._buffer = bytes(self._buffer), bytearray()
        try:
            await run_in_threadpool(_write_all, self._fd, data)
        except OSError as exc:
            raise StorageError("could not store the upload") from exc

    async def close(self) -> None:
        """Flush and close; safe to call more than once."""
        if self._fd is None:
            return
        try:
            await self.flush()
        finally:
            fd, self._fd = self._fd, None
            os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _metadata(text: str | bytes | None, where: str) -> dict[str, Any] | None:
    """Parse and validate upload metadata (the raw encoding does it before the body)."""
    if text is None:
        return None
    value = parse_json(text, where)
    if not isinstance(value, dict):
        raise InvalidInput(f"the {where} must be a JSON object")
    return validate(VersionMetadataIn, value, where).model_dump(exclude_unset=True)


async def _receive_raw(request: Request, workdir: Path, cap: int) -> Upload:
    meta = _metadata(request.headers.get(METADATA_HEADER), f"{METADATA_HEADER} header")
    sink = _Sink(workdir / safe_filename(request.headers.get(FILENAME_HEADER)), cap)
    try:
        async for chunk in request.stream():
            if chunk:
                await sink.write(chunk)
    finally:
        await sink.close()
    return Upload(sink.path, sink.size, meta)


class _Multipart:
    """State of one multipart body: the parser's events drive the file and metadata parts."""

    def __init__(self, workdir: Path, cap: int, meta_cap: int) -> None:
        self.workdir, self.cap, self.meta_cap = workdir, cap, meta_cap
        self.events: list[tuple[str, bytes]] = []
        self.sink: _Sink | None = None
        self.reference: _Sink | None = None
        self.signature: _Sink | None = None
        self.metadata: bytearray | None = None
        self.target: str | None = None
        self.headers: dict[bytes, bytes] = {}
        self.field = bytearray()
        self.value = bytearray()
        self.header_bytes = 0
        self.ended = False

    def callbacks(self) -> MultipartCallbacks:
        def mark(kind: str) -> Any:
            return lambda: self.events.append((kind, b""))

        def data(kind: str) -> Any:
            return lambda buf, start, end: self.events.append((kind, bytes(buf[start:end])))

        return cast("MultipartCallbacks", {
            "on_part_begin": mark("begin"), "on_header_field": data("field"),
            "on_header_value": data("value"), "on_header_end": mark("header"),
            "on_headers_finished": mark("headers"), "on_part_data": data("data"),
            "on_part_end": mark("end"), "on_end": mark("eof"),
        })

    async def handle(self) -> None:
        events, self.events = self.events, []
        for kind, chunk in events:
            if kind in ("field", "value"):
                self.header_bytes += len(chunk)
                if self.header_bytes > _MAX_PART_HEADERS:
                    raise InvalidInput("the multipart part headers are too large")
                (self.field if kind == "field" else self.value).extend(chunk)
            elif kind == "header":
                self.headers[bytes(self.field).lower()] = bytes(self.value)
                self.field, self.value = bytearray(), bytearray()
            elif kind == "headers":
                self._open_part()
            elif kind == "data":
                await self._data(chunk)
            elif kind == "end":
                sink = self._sink()
                if sink is not None:
                    await sink.close()
                self.target, self.headers, self.header_bytes = None, {}, 0
            elif kind == "eof":
                self.ended = True

    def _sink(self) -> _Sink | None:
        return {"file": self.sink, "reference": self.reference,
                "signature": self.signature}.get(self.target or "")

    def sinks(self) -> list[_Sink]:
        return [s for s in (self.sink, self.reference, self.signature) if s is not None]

    def _open_part(self) -> None:
        disposition, options = parse_options_header(self.headers.get(b"content-disposition"))
        name = options.get(b"name", b"").decode("latin-1")
        if disposition != b"form-data" or name not in _PARTS:
            raise InvalidInput("the multipart body may hold only 'file', 'metadata', "
                               "'reference' and 'signature' parts")
        taken = {"file": self.sink, "metadata": self.metadata, "reference": self.reference,
                 "signature": self.signature}[name]
        if taken is not None:
            raise InvalidInput("a multipart part is repeated")
        filename = options.get(b"filename", b"").decode("utf-8", "replace")
        self.target = name
        if name == "file":
            self.sink = _Sink(self.workdir / safe_filename(filename), self.cap)
        elif name == "reference":
            suffix = _SUFFIX.search(filename)
            ext = suffix.group(0).lower() if suffix else ".csv"
            if ext not in _REFERENCE_SUFFIXES:
                raise InvalidInput("the reference data must be a .csv or .parquet file")
            # Its own folder: the artifact's private copy must sit alone in its folder.
            folder = self.workdir / ".reference"
            folder.mkdir(mode=0o700)
            self.reference = _Sink(folder / f"reference{ext}", self.cap, "reference data")
        elif name == "signature":
            folder = self.workdir / ".signature"
            folder.mkdir(mode=0o700)
            self.signature = _Sink(folder / "model.sig", MAX_SIGNATURE_BYTES, "signature")
        else:
            self.metadata = bytearray()

    async def _data(self, chunk: bytes) -> None:
        sink = self._sink()
        if sink is not None:
            await sink.write(chunk)
        elif self.target == "metadata" and self.metadata is not None:
            self.metadata.extend(chunk)
            if len(self.metadata) > self.meta_cap:
                raise PayloadTooLarge(f"the metadata may be at most {self.meta_cap} bytes")


async def _receive_multipart(request: Request, workdir: Path, cap: int, meta_cap: int) -> Upload:
    _, params = parse_options_header(request.headers.get("content-type"))
    boundary = params.get(b"boundary")
    if not boundary or len(boundary) > 200:
        raise InvalidInput("the multipart body has no usable boundary")
    state = _Multipart(workdir, cap, meta_cap)
    parser = MultipartParser(boundary, state.callbacks())
    try:
        async for chunk in request.stream():
            if state.ended:
                break
            try:
                parser.write(chunk)
            except FormParserError as exc:
                raise InvalidInput("the multipart body is malformed") from exc
            await state.handle()
    finally:
        for sink in state.sinks():
            await sink.close()
    if not state.ended:
        raise InvalidInput("the multipart body is truncated")
    if state.sink is None:
        raise InvalidInput("the upload has no 'file' part")
    meta = _metadata(bytes(state.metadata) if state.metadata is not None else None,
                     "metadata part")
    return Upload(state.sink.path, state.sink.size, meta,
                  reference=state.reference.path if state.reference is not None else None,
                  signature=state.signature.path if state.signature is not None else None)


async def receive_upload(request: Request, workdir: Path, *, cap: int, meta_cap: int) -> Upload:
    """Stream the request body into ``workdir``; raise on anything malformed or too large."""
    kind = media_type(request)
    if kind == "application/octet-stream":
        return await _receive_raw(request, workdir, cap)
    if kind == "multipart/form-data":
        return await _receive_multipart(request, workdir, cap, meta_cap)
    raise InvalidInput("send the artifact as application/octet-stream or multipart/form-data")
