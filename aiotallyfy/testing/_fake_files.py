"""Fake routes: files (assets). Uploads are streamed to a temporary file, never held in
memory; downloads are served from disk (``web.FileResponse``), streamed.

Sources (api-v2 ``AssetsController`` / ``UploadAssetRequest`` as read by the official SDK
``tallyfy==3.1.0`` ``file_management``; docs ``open-api/code-samples/files/*``):

- ``POST /organizations/{org}/assets`` (and ``/file``, "the same handler", docs):
  ``multipart/form-data``; the file in field ``name``; ``uploaded_from``, ``subject_type``
  (``Checklist``/``Run``/``Task``, case-sensitive), ``subject_id`` required; the subject must
  exist (``AssetUploadSubject``: 422 before anything is stored); at most 100 MiB
  (``max:102400`` KB); only the extensions the docs list. Sources disagree on whether a
  ``Run`` upload needs ``step_id`` and ``checklist_id`` (docs: optional; SDK: the Swagger
  requires them and api-v2 mis-files the object without them), so the fake refuses it (422).
  Answers 201 ``{"data": asset}`` (the status is not documented; every create here is 201).
- ``GET .../assets/{id}``: ``{"data": asset}``; 404 when unknown, deleted or archived.
- ``GET .../file/{id}/dl``: the bytes, ``application/octet-stream``,
  ``Content-Disposition: attachment; filename=...``, ``Content-Length``; 404 as above.
- ``DELETE .../file/{id}``: deletes record and stored file, 200 with an empty body;
  ``DELETE .../assets/{id}``: archives the record only (the stored file stays), 200 empty.

Configure per fake with :func:`fake_files` (``fake_files(fake).max_upload_bytes = ...``).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import tempfile
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Final

from aiohttp import BodyPartReader, web

from ._envelope import not_found
from ._fake_common import area_for, created, item, validation_errors
from ._fake_data import hex32
from ._router import RouteContext, Router

if TYPE_CHECKING:
    from ._server import FakeTallyfy

__all__ = ["FakeFiles", "StoredFile", "fake_files", "register_file_routes"]

MAX_UPLOAD_BYTES: Final = 100 * 1024 * 1024
ALLOWED_EXTENSIONS: Final = frozenset(
    ("xlsx", "xls", "pptx", "docx", "ppt", "doc", "rtf", "pdf", "txt", "mpga", "mov", "qt",
     "mp4", "webm", "jpg", "jpeg", "gif", "png", "ai", "psd", "zip", "xml", "xps", "dwg", "csv",
     "tif", "bmp")
)  # fmt: skip
"""Docs ``upload-attach-file``: "The API accepts these extensions"."""
SUBJECT_TYPES: Final = frozenset({"Checklist", "Run", "Task"})
_CHUNK: Final = 256 * 1024


@dataclass(slots=True)
class StoredFile:
    asset: dict[str, Any]
    path: Path
    size: int
    sha256: str
    archived: bool = False


@dataclass(eq=False)
class FakeFiles:
    """One fake's stored files (all orgs), in a temporary directory that is removed when the
    fake is garbage-collected or the interpreter exits (``weakref.finalize``)."""

    owner: weakref.ref[FakeTallyfy]
    max_upload_bytes: int = MAX_UPLOAD_BYTES
    files: dict[tuple[str, str], StoredFile] = field(default_factory=dict)
    uploads: int = 0
    """Upload requests that stored a file."""
    _dir: Path | None = None

    @property
    def directory(self) -> Path:
        if self._dir is None:
            self._dir = Path(tempfile.mkdtemp(prefix="fake-tallyfy-files-"))
            owner = self.owner()
            if owner is not None:
                weakref.finalize(owner, shutil.rmtree, self._dir, ignore_errors=True)
        return self._dir

    def stored(self, org_id: str, asset_id: str) -> StoredFile | None:
        return self.files.get((org_id, asset_id))


_STATE: weakref.WeakKeyDictionary[FakeTallyfy, FakeFiles] = weakref.WeakKeyDictionary()


def fake_files(fake: FakeTallyfy) -> FakeFiles:
    """The file store of ``fake`` (created on first use)."""
    state = _STATE.get(fake)
    if state is None:
        state = _STATE[fake] = FakeFiles(weakref.ref(fake))
    return state


def _write(handle: IO[bytes], digest: Any, chunk: bytes) -> None:
    handle.write(chunk)
    digest.update(chunk)


async def _upload(ctx: RouteContext) -> web.StreamResponse:
    files = fake_files(ctx.fake)
    st = ctx.org_state
    if not ctx.request.content_type.startswith("multipart/form-data"):
        raise validation_errors({"name": "The name field is required."})
    fields: dict[str, str] = {}
    upload: tuple[str, Path, int, str] | None = None
    reader = await ctx.request.multipart()
    try:
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                raise validation_errors({"name": "Nested multipart bodies are not accepted."})
            if part.name == "name" and part.filename is not None:
                if upload is not None:
                    raise validation_errors({"name": "Only one file per upload."})
                upload = await _receive(part, files)
            elif part.name:
                fields[part.name] = (await part.read(decode=True)).decode("utf-8", "replace")
        _check_fields(ctx, fields, upload)
    except BaseException:
        if upload is not None:
            await asyncio.to_thread(upload[1].unlink, missing_ok=True)
        raise
    assert upload is not None
    filename, path, size, digest = upload
    asset_id = hex32(area_for(ctx).rng)
    asset = {
        "id": asset_id,
        "filename": filename,
        "version": 1,
        "uploaded_from": fields["uploaded_from"],
        "uploaded_at": ctx.now_iso(),
        "step_id": fields.get("step_id"),
        "source": fields.get("source") or "local",
        "system": fields.get("system"),
        "uploaded_to_s3": True,
        "subject": {"id": fields["subject_id"], "type": fields["subject_type"]},
    }
    files.files[(st.id, asset_id)] = StoredFile(asset, path, size, digest)
    files.uploads += 1
    return created(asset)


async def _receive(part: BodyPartReader, files: FakeFiles) -> tuple[str, Path, int, str]:
    """Stream one file part to disk; 422 as soon as it passes the size limit."""
    filename = os.path.basename(part.filename or "")
    extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if extension not in ALLOWED_EXTENSIONS:
        raise validation_errors(
            {"name": "The name must be a file of type: " + ", ".join(sorted(ALLOWED_EXTENSIONS))}
        )
    handle, name = tempfile.mkstemp(dir=files.directory, suffix=".upload")
    path = Path(name)
    digest = hashlib.sha256()
    size = 0
    try:
        with os.fdopen(handle, "wb") as out:
            while chunk := await part.read_chunk(_CHUNK):
                size += len(chunk)
                if size > files.max_upload_bytes:
                    kb = files.max_upload_bytes // 1024
                    raise validation_errors(
                        {"name": f"The name may not be greater than {kb} kilobytes."}
                    )
                await asyncio.to_thread(_write, out, digest, chunk)
    except BaseException:
        await asyncio.to_thread(path.unlink, missing_ok=True)
        raise
    return filename, path, size, digest.hexdigest()


def _check_fields(
    ctx: RouteContext, fields: dict[str, str], upload: tuple[str, Path, int, str] | None
) -> None:
    missing = {
        name: f"The {name.replace('_', ' ')} field is required."
        for name in ("uploaded_from", "subject_type", "subject_id")
        if not fields.get(name)
    }
    if upload is None:
        missing["name"] = "The name field is required."
    if missing:
        raise validation_errors(missing)
    subject_type, subject_id = fields["subject_type"], fields["subject_id"]
    if subject_type not in SUBJECT_TYPES:
        raise validation_errors({"subject_type": "The selected subject type is invalid."})
    st = ctx.org_state
    if subject_type == "Run":
        exists = subject_id in st.run_index
        if not fields.get("step_id") or not fields.get("checklist_id"):
            raise validation_errors(
                {"step_id": "The step id and checklist id fields are required for a Run."}
            )
    elif subject_type == "Task":
        exists = subject_id in st.id_index
    else:
        exists = any(c["id"] == subject_id for c in st.checklists)
    if not exists:
        raise validation_errors({"subject_id": "The selected subject id is invalid."})


def _stored(ctx: RouteContext, key: str) -> StoredFile:
    stored = fake_files(ctx.fake).stored(ctx.org_state.id, ctx.params[key])
    if stored is None or stored.archived:
        raise not_found()
    return stored


async def _get_asset(ctx: RouteContext) -> web.StreamResponse:
    return item(_stored(ctx, "asset").asset)


async def _download(ctx: RouteContext) -> web.StreamResponse:
    stored = _stored(ctx, "file")
    filename = str(stored.asset["filename"]).replace('"', "")
    return web.FileResponse(
        stored.path,
        chunk_size=_CHUNK,
        headers={
            "Content-Type": "application/octet-stream",
            "Content-Disposition": f'attachment; filename="{filename}"',
        },
    )


async def _delete_file(ctx: RouteContext) -> web.StreamResponse:
    stored = _stored(ctx, "file")
    files = fake_files(ctx.fake)
    del files.files[(ctx.org_state.id, str(stored.asset["id"]))]
    await asyncio.to_thread(stored.path.unlink, missing_ok=True)
    return web.Response(status=200)


async def _archive_asset(ctx: RouteContext) -> web.StreamResponse:
    _stored(ctx, "asset").archived = True
    return web.Response(status=200)


def register_file_routes(router: Router) -> None:
    org = "/organizations/{org}"
    router.add("POST", f"{org}/assets", _upload, raw_body=True)
    router.add("POST", f"{org}/file", _upload, raw_body=True)
    router.get(f"{org}/assets/{{asset}}", _get_asset)
    router.delete(f"{org}/assets/{{asset}}", _archive_asset)
    router.get(f"{org}/file/{{file}}/dl", _download)
    router.delete(f"{org}/file/{{file}}", _delete_file)
