"""Files (Tallyfy calls them assets): streamed upload, metadata, streamed download, delete.

Routes (api-v2 ``AssetsController``, as read by the official SDK ``file_management`` and the
docs ``open-api/code-samples/files/*``):

- ``POST .../assets`` (the docs say ``.../file`` reaches the same handler): ``multipart/form-data``
  with the file in the field **``name``** (``$request->file('name')``; SDK and docs agree, the
  audit's "file" is the field's description), plus ``uploaded_from``, ``subject_type``
  (``Checklist``/``Run``/``Task``, case-sensitive), ``subject_id`` and, for a ``Run``,
  ``step_id`` and ``checklist_id``. At most 100 MiB (``max:102400`` kilobytes).
- ``GET .../assets/{id}``: the asset's metadata.
- ``GET .../file/{id}/dl``: the bytes, ``application/octet-stream`` (not JSON).
- ``DELETE .../file/{id}``: deletes record and stored file (200, empty body);
  ``DELETE .../assets/{id}`` only archives the record.

Memory: an upload is written to the socket in 256 KiB chunks read from disk as they go (a
sized aiohttp ``Payload``, so the request has a ``Content-Length``); a download is written to
disk in chunks as it arrives. Neither is ever held whole in memory, and neither passes through
the JSON body rules of ``HTTPCore`` (the download is an explicit ``consume`` stream).

Repeat-safety: an upload is a POST that stores a new copy every time, so it is never re-sent
once it may have left (``OutcomeUnknownError``); it is re-sent only when nothing can have been
applied (429, connection refused) **and** its body can be produced again (a path, bytes, or a
seekable file; never an async iterator). Downloads are GETs, retried from the first byte.
``delete`` and ``archive`` are not re-sent (a repeat of an applied delete answers 404).
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import uuid
from collections.abc import AsyncIterable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Final, TypedDict

import aiohttp
from aiohttp.abc import AbstractStreamWriter
from aiohttp.payload import AsyncIterablePayload, Payload

from .._errors import FileTooLargeError, OutcomeUnknownError
from .._ids import segment
from .._validation import _local_error
from ._base import Resource
from ._writes import org_path

__all__ = [
    "MAX_UPLOAD_BYTES",
    "UPLOAD_SUBJECT_TYPES",
    "Asset",
    "DownloadedFile",
    "Files",
    "UploadSource",
]

MAX_UPLOAD_BYTES: Final = 100 * 1024 * 1024
"""api-v2 ``UploadAssetRequest`` validates the file with ``max:102400`` (kilobytes)."""
UPLOAD_SUBJECT_TYPES: Final = frozenset({"Checklist", "Run", "Task"})
"""api-v2 ``AssetUploadSubject::TYPES`` (SDK); anything else is a 422."""
UPLOAD_FILE_FIELD: Final = "name"
_CHUNK: Final = 256 * 1024

UploadSource = str | os.PathLike[str] | bytes | IO[bytes] | AsyncIterable[bytes]
"""A path (streamed from disk, re-opened for a retry), ``bytes``, a binary file object
(streamed from its current position; re-sent only if seekable) or an async iterator of byte
chunks (streamed once, chunked encoding, never re-sent)."""


class AssetSubject(TypedDict, total=False):
    id: str
    type: str


class Asset(TypedDict, total=False):
    """An uploaded file's record (docs ``get-file-metadata``)."""

    id: str
    filename: str
    version: int
    uploaded_from: str
    uploaded_at: str
    step_id: str | None
    source: str
    system: str | None
    uploaded_to_s3: bool
    subject: AssetSubject


@dataclass(frozen=True, slots=True)
class DownloadedFile:
    """Where a download went and what arrived: ``sha256`` is of the bytes written."""

    path: Path
    size: int
    sha256: str
    filename: str | None  # from Content-Disposition
    content_type: str | None
    attempts: int


class _FileBody(Payload):
    """A file streamed from disk in chunks with its size declared up front (so the multipart
    body has a ``Content-Length``). ``open_fn`` runs once per attempt; files it opened are
    closed after the attempt, a caller's file object is left open."""

    def __init__(
        self,
        open_fn: Callable[[], IO[bytes]],
        size: int,
        *,
        close: bool,
        filename: str,
        content_type: str,
    ) -> None:
        super().__init__(None, content_type=content_type, filename=filename)
        self._open_fn = open_fn
        self._size = size
        self._close_after = close

    async def write(self, writer: AbstractStreamWriter) -> None:
        await self.write_with_length(writer, None)

    async def write_with_length(
        self, writer: AbstractStreamWriter, content_length: int | None
    ) -> None:
        size = self._size or 0
        limit = size if content_length is None else min(size, content_length)
        # Opened and closed inline, not in a worker thread: aiohttp cancels this write when the
        # connection drops, and a cancelled ``await to_thread(open)`` still opens the file in
        # its thread, leaving a handle no one closes. Opening and closing a file for reading is
        # a metadata operation; only the reads, which can be long, go to a thread.
        handle = self._open_fn()
        try:
            sent = 0
            while sent < limit:
                chunk = await asyncio.to_thread(handle.read, min(_CHUNK, limit - sent))
                if not chunk:
                    raise OSError(f"the file shrank while it was uploaded ({sent} of {size})")
                await writer.write(chunk)
                sent += len(chunk)
        finally:
            if self._close_after:
                handle.close()

    def decode(self, encoding: str = "utf-8", errors: str = "strict") -> str:
        raise TypeError("a streamed file has no text form")


@dataclass(slots=True)
class _Prepared:
    """How to produce the file part for each attempt, and whether a second attempt can be."""

    make: Callable[[], Payload]
    size: int | None
    replayable: bool
    filename: str


def _prepare(source: UploadSource, filename: str | None, content_type: str) -> _Prepared:
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        size = path.stat().st_size  # FileNotFoundError here, before anything is sent
        name = filename or path.name

        def open_path() -> IO[bytes]:
            return path.open("rb")

        return _Prepared(
            lambda: _FileBody(
                open_path, size, close=True, filename=name, content_type=content_type
            ),
            size,
            True,
            name,
        )
    if isinstance(source, (bytes, bytearray, memoryview)):
        if not filename:
            raise _local_error("filename", "filename is required when uploading bytes")
        data = bytes(source)
        name = filename
        # Through _FileBody, not aiohttp's BytesPayload: written in chunks, so the event loop
        # is never held by one large socket write.
        return _Prepared(
            lambda: _FileBody(
                lambda: io.BytesIO(data), len(data), close=True, filename=name,
                content_type=content_type,
            ),
            len(data),
            True,
            filename,
        )  # fmt: skip
    if isinstance(source, AsyncIterable):
        if not filename:
            raise _local_error("filename", "filename is required when uploading an async iterator")
        chunks = source
        return _Prepared(
            lambda: AsyncIterablePayload(chunks, content_type=content_type, filename=filename),
            None,
            False,
            filename,
        )
    if hasattr(source, "read"):
        handle = source
        name = filename or os.path.basename(str(getattr(handle, "name", "") or ""))
        if not name:
            raise _local_error("filename", "filename is required for a file object without a name")
        seekable = bool(getattr(handle, "seekable", lambda: False)())
        if not seekable:
            return _Prepared(
                lambda: AsyncIterablePayload(
                    _iter_handle(handle), content_type=content_type, filename=name
                ),
                None,
                False,
                name,
            )
        start = handle.tell()
        size = handle.seek(0, os.SEEK_END) - start
        handle.seek(start)

        def rewind() -> IO[bytes]:
            handle.seek(start)
            return handle

        return _Prepared(
            lambda: _FileBody(rewind, size, close=False, filename=name, content_type=content_type),
            size,
            True,
            name,
        )
    raise TypeError(
        "source must be a path, bytes, a binary file object or an async iterator of bytes"
    )


async def _iter_handle(handle: IO[bytes]) -> AsyncIterable[bytes]:
    while chunk := await asyncio.to_thread(handle.read, _CHUNK):
        yield chunk


class _Sink:
    """Writes one download to a temporary file beside the destination, chunk by chunk,
    hashing as it goes. Each attempt starts the file over (a retried GET)."""

    def __init__(self, tmp: Path, max_bytes: int | None, chunk_size: int) -> None:
        self.tmp = tmp
        self.max_bytes = max_bytes
        self.chunk_size = chunk_size
        self.size = 0
        self.sha256 = ""
        self.filename: str | None = None
        self.content_type: str | None = None

    async def consume(self, resp: aiohttp.ClientResponse) -> None:
        declared = resp.content_length
        if self.max_bytes is not None and declared is not None and declared > self.max_bytes:
            raise FileTooLargeError(
                f"the file is {declared} bytes, over max_bytes={self.max_bytes}; "
                "nothing was written",
                max_bytes=self.max_bytes,
                declared=declared,
            )
        digest = hashlib.sha256()
        size = 0
        handle = await asyncio.to_thread(self.tmp.open, "wb")
        try:
            async for chunk in resp.content.iter_chunked(self.chunk_size):
                size += len(chunk)
                if self.max_bytes is not None and size > self.max_bytes:
                    raise FileTooLargeError(
                        f"the file passed max_bytes={self.max_bytes}; reading stopped and "
                        "nothing was kept",
                        max_bytes=self.max_bytes,
                        declared=declared,
                    )
                await asyncio.to_thread(_write_and_hash, handle, digest, chunk)
        finally:
            await asyncio.to_thread(handle.close)
        self.size = size
        self.sha256 = digest.hexdigest()
        self.filename = resp.content_disposition.filename if resp.content_disposition else None
        self.content_type = resp.headers.get("Content-Type")


def _write_and_hash(handle: IO[bytes], digest: Any, chunk: bytes) -> None:
    handle.write(chunk)
    digest.update(chunk)


class Files(Resource):
    __slots__ = ()

    async def upload(
        self,
        org_id: str,
        source: UploadSource,
        *,
        uploaded_from: str,
        subject_type: str,
        subject_id: str,
        filename: str | None = None,
        step_id: str | None = None,
        checklist_id: str | None = None,
        content_type: str = "application/octet-stream",
        max_bytes: int | None = MAX_UPLOAD_BYTES,
    ) -> Asset:
        """Upload one file (``POST .../assets``, multipart, streamed) and return its asset.

        The three shapes api-v2 takes (SDK ``upload_file``; checked here, before sending):

        - kick-off field: ``uploaded_from="ko_field"``, ``subject_type="Checklist"``,
          ``subject_id`` the blueprint;
        - a task's field in a process: ``uploaded_from`` the field (capture) id,
          ``subject_type="Run"``, ``subject_id`` the process, plus ``step_id`` and
          ``checklist_id`` (api-v2 files the object under the wrong key without them);
        - a one-off task's field: ``subject_type="Task"``, ``subject_id`` the task, and no
          ``step_id``/``checklist_id``.

        A file over ``max_bytes`` (default Tallyfy's 100 MiB; ``None`` to skip) is refused
        before sending when its size is known. Uploading stores the file; put the returned
        asset in the task's ``taskdata`` to attach it.
        """
        if subject_type not in UPLOAD_SUBJECT_TYPES:
            raise _local_error(
                "subject_type",
                f"subject_type must be one of {sorted(UPLOAD_SUBJECT_TYPES)} (case-sensitive)",
            )
        fields: dict[str, str] = {
            "uploaded_from": segment(uploaded_from, name="uploaded_from"),
            "subject_type": subject_type,
            "subject_id": segment(subject_id, name="subject_id"),
            "source": "local",
        }
        if subject_type == "Run":
            if step_id is None or checklist_id is None:
                raise _local_error(
                    "step_id",
                    "an upload to a process task needs step_id (the field's step) and "
                    "checklist_id (the blueprint the process was launched from)",
                )
            if checklist_id == subject_id:
                raise _local_error("checklist_id", "checklist_id is the blueprint, not the process")
        elif step_id is not None or checklist_id is not None:
            raise _local_error(
                "step_id",
                f"step_id/checklist_id only belong to subject_type 'Run', not {subject_type!r}",
            )
        if step_id is not None:
            fields["step_id"] = segment(step_id, name="step_id")
        if checklist_id is not None:
            fields["checklist_id"] = segment(checklist_id, name="checklist_id")
        prepared = _prepare(source, filename, content_type)
        if max_bytes is not None and prepared.size is not None and prepared.size > max_bytes:
            raise _local_error(
                UPLOAD_FILE_FIELD,
                f"the file is {prepared.size} bytes, over the {max_bytes}-byte upload limit",
            )

        def body() -> aiohttp.MultipartWriter:
            writer = aiohttp.MultipartWriter("form-data")
            for key, value in fields.items():
                writer.append(value).set_content_disposition("form-data", name=key)
            part = prepared.make()
            part.set_content_disposition(
                "form-data", name=UPLOAD_FILE_FIELD, filename=prepared.filename
            )
            writer.append_payload(part)
            return writer

        path = f"{org_path(org_id)}/assets"
        # A body built again for each attempt re-reads a path, bytes or a seekable file from
        # their start (``_FileBody``), also when a 307/308 sends it on; an async iterator's
        # chunks can be sent once only (``replayable=False``: never re-sent).
        response = await self._core.request(
            "POST", path, org_id=org_id, payload=body, idempotent=False,
            replayable=prepared.replayable,
        )  # fmt: skip
        data = response.data.get("data") if isinstance(response.data, dict) else None
        if not isinstance(data, dict) or "id" not in data:
            raise OutcomeUnknownError(
                f"the upload of {prepared.filename!r} was answered {response.status} without "
                "an asset; the file may have been stored. Check before uploading it again",
                method="POST",
                path=path,
                attempts=response.attempts,
                org_id=org_id,
            )
        result: Asset = data  # type: ignore[assignment]
        return result

    async def get(self, org_id: str, asset_id: str) -> Asset:
        """An asset's metadata (``GET .../assets/{id}``)."""
        path = f"{org_path(org_id)}/assets/{segment(asset_id, name='asset_id')}"
        return await self._get_item(path, org_id=org_id, item_type=Asset)

    async def download(
        self,
        org_id: str,
        file_id: str,
        dest: str | os.PathLike[str],
        *,
        max_bytes: int | None = None,
        chunk_size: int = 1024 * 1024,
    ) -> DownloadedFile:
        """Stream a file (``GET .../file/{id}/dl``) to ``dest``, chunk by chunk.

        The bytes go to a hidden temporary file beside ``dest``, renamed over it only once
        the whole body arrived, so an interrupted download never leaves a file that looks
        complete. A dropped connection is retried from the first byte (a GET). ``max_bytes``
        caps the size (``FileTooLargeError``; a declared ``Content-Length`` over it is refused
        before reading). This call is outside the JSON body rules: the body is not JSON and
        never held in memory.
        """
        if chunk_size < 1:
            raise _local_error("chunk_size", "chunk_size must be >= 1")
        path = f"{org_path(org_id)}/file/{segment(file_id, name='file_id')}/dl"
        target = Path(dest)
        tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.part")
        sink = _Sink(tmp, max_bytes, chunk_size)
        try:
            response = await self._core.request("GET", path, org_id=org_id, consume=sink.consume)
            await asyncio.to_thread(os.replace, tmp, target)
        finally:
            await asyncio.to_thread(_unlink_quietly, tmp)
        return DownloadedFile(
            path=target,
            size=sink.size,
            sha256=sink.sha256,
            filename=sink.filename,
            content_type=sink.content_type,
            attempts=response.attempts,
        )

    async def delete(self, org_id: str, file_id: str) -> None:
        """Delete the asset record and its stored file (``DELETE .../file/{id}``). Not
        re-sent: a repeat of an applied delete answers 404."""
        path = f"{org_path(org_id)}/file/{segment(file_id, name='file_id')}"
        await self._core.request("DELETE", path, org_id=org_id, idempotent=False)

    async def archive(self, org_id: str, asset_id: str) -> None:
        """Archive the asset record only; the stored file stays (``DELETE .../assets/{id}``).
        Not re-sent."""
        path = f"{org_path(org_id)}/assets/{segment(asset_id, name='asset_id')}"
        await self._core.request("DELETE", path, org_id=org_id, idempotent=False)


def _unlink_quietly(path: Path) -> None:
    path.unlink(missing_ok=True)
