"""Files end to end against FakeTallyfy: a streamed multipart upload and a streamed download
are byte-exact, shapes Tallyfy refuses are refused (locally before sending, or by the fake as
api-v2 does), an upload is never re-sent once it may have been stored, and a download that
breaks off starts over and never leaves a partial file behind."""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from _hostile import hostile_server
from _resources_helpers import org
from aiohttp import web

from aiotallyfy import (
    AuthenticationError,
    CallableTokenProvider,
    FileTooLargeError,
    InvalidArgument,
    NotFoundError,
    OutcomeUnknownError,
    RateLimitedError,
    RedirectError,
    TallyfyClient,
    ValidationError,
)
from aiotallyfy.testing import FakeTallyfy, fake_files

pytestmark = pytest.mark.virtual_time

SIZE = 3 * 1024 * 1024 + 17  # several chunks of every buffer on the way, and a ragged end


def blueprint(fake: FakeTallyfy) -> str:
    st = fake.data.org_state(org(fake))
    assert st is not None
    return str(st.checklists[0]["id"])


def run_ids(fake: FakeTallyfy) -> tuple[str, str]:
    st = fake.data.org_state(org(fake))
    assert st is not None
    run = st.runs[0]
    return str(run["id"]), str(run["checklist_id"])


@pytest.fixture
def payload() -> bytes:
    return os.urandom(SIZE)


@pytest.fixture
def source(tmp_path: Path, payload: bytes) -> Path:
    path = tmp_path / "contract.pdf"
    path.write_bytes(payload)
    return path


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".part"))


async def test_upload_then_download_is_byte_exact(
    fake: FakeTallyfy, client: TallyfyClient, source: Path, payload: bytes, tmp_path: Path
) -> None:
    digest = hashlib.sha256(payload).hexdigest()
    asset = await client.files.upload(
        org(fake), source, uploaded_from="ko_field", subject_type="Checklist",
        subject_id=blueprint(fake),
    )  # fmt: skip
    assert asset["filename"] == "contract.pdf"
    assert asset["subject"] == {"id": blueprint(fake), "type": "Checklist"}
    stored = fake_files(fake).stored(org(fake), asset["id"])
    assert stored is not None
    assert (stored.size, stored.sha256) == (SIZE, digest)
    post = [r for r in fake.requests if r.method == "POST"]
    assert [(r.path.rsplit("/", 1)[1], r.status) for r in post] == [("assets", 201)]
    # Sized parts, so the multipart body carries a Content-Length (not chunked).
    assert int(post[0].headers["Content-Length"]) > SIZE
    assert post[0].headers["Content-Type"].startswith("multipart/form-data; boundary=")

    assert await client.files.get(org(fake), asset["id"]) == asset
    dest = tmp_path / "back" / "copy.pdf"
    dest.parent.mkdir()
    got = await client.files.download(org(fake), asset["id"], dest)
    assert (got.size, got.sha256, got.attempts) == (SIZE, digest, 1)
    assert got.filename == "contract.pdf"
    assert got.content_type == "application/octet-stream"
    assert dest.read_bytes() == payload
    assert leftovers(dest.parent) == []
    assert fake.count("GET", "/dl", status=200) == 1


async def test_every_source_kind_uploads_the_same_bytes(
    fake: FakeTallyfy, client: TallyfyClient, payload: bytes
) -> None:
    run_id, checklist_id = run_ids(fake)
    step_id = "a" * 32

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(payload), 100_000):
            yield payload[start : start + 100_000]

    handle = io.BytesIO(b"HEADER" + payload)
    handle.seek(6)  # from the current position: the header is not part of the upload
    sources: list[tuple[object, str | None]] = [
        (payload, "a.zip"), (chunks(), "b.zip"), (handle, "c.zip"),
    ]  # fmt: skip
    digests = []
    for src, name in sources:
        asset = await client.files.upload(
            org(fake), src, filename=name, uploaded_from="c" * 32,  # type: ignore[arg-type]
            subject_type="Run", subject_id=run_id, step_id=step_id, checklist_id=checklist_id,
        )  # fmt: skip
        stored = fake_files(fake).stored(org(fake), asset["id"])
        assert stored is not None
        digests.append((asset["filename"], asset["step_id"], stored.size, stored.sha256))
    expected = hashlib.sha256(payload).hexdigest()
    assert digests == [(n, step_id, SIZE, expected) for n in ("a.zip", "b.zip", "c.zip")]
    assert not handle.closed  # the caller's file object is left open


async def test_shapes_tallyfy_refuses_are_refused_before_sending(
    fake: FakeTallyfy, client: TallyfyClient, source: Path
) -> None:
    run_id, _ = run_ids(fake)
    bad: list[dict[str, object]] = [
        {"subject_type": "run", "subject_id": run_id},  # case-sensitive
        {"subject_type": "Run", "subject_id": run_id},  # no step_id / checklist_id
        {"subject_type": "Run", "subject_id": run_id, "step_id": "s1", "checklist_id": run_id},
        {"subject_type": "Task", "subject_id": "t1", "step_id": "s1"},
        {"subject_type": "Checklist", "subject_id": "../users"},
    ]
    for kwargs in bad:
        with pytest.raises(InvalidArgument) as err:
            await client.files.upload(org(fake), source, uploaded_from="ko_field", **kwargs)  # type: ignore[arg-type]
        assert err.value.attempts == 0
    with pytest.raises(InvalidArgument, match="over the 1000-byte upload limit"):
        await client.files.upload(
            org(fake), source, uploaded_from="ko_field", subject_type="Checklist",
            subject_id=blueprint(fake), max_bytes=1000,
        )  # fmt: skip
    with pytest.raises(InvalidArgument, match="filename is required"):
        await client.files.upload(
            org(fake), b"x", uploaded_from="ko_field", subject_type="Checklist",
            subject_id=blueprint(fake),
        )  # fmt: skip
    assert fake.requests == []


async def test_fake_refuses_what_api_v2_refuses(fake: FakeTallyfy, client: TallyfyClient) -> None:
    cases = [
        ("virus.exe", {"subject_id": blueprint(fake)}, "name"),
        ("ok.pdf", {"subject_id": "f" * 32}, "subject_id"),  # no such blueprint
    ]
    for name, extra, field in cases:
        with pytest.raises(ValidationError) as err:
            await client.files.upload(
                org(fake), b"%PDF-1.7", filename=name, uploaded_from="ko_field",
                subject_type="Checklist", **extra,  # type: ignore[arg-type]
            )  # fmt: skip
        assert (err.value.status, list(err.value.errors)) == (422, [field])
    fake_files(fake).max_upload_bytes = 1024  # Tallyfy's is 100 MiB; smaller to see it refuse
    with pytest.raises(ValidationError) as err:
        await client.files.upload(
            org(fake), b"x" * 5000, filename="big.txt", uploaded_from="ko_field",
            subject_type="Checklist", subject_id=blueprint(fake),
        )  # fmt: skip
    assert err.value.errors == {"name": ["The name may not be greater than 1 kilobytes."]}
    # A Run upload without step_id/checklist_id, sent past the client's own check:
    form = aiohttp.FormData()
    run_id, _ = run_ids(fake)
    for key, value in {"uploaded_from": "c1", "subject_type": "Run", "subject_id": run_id}.items():
        form.add_field(key, value)
    form.add_field("name", b"data", filename="a.txt")
    async with (
        aiohttp.ClientSession(headers=fake.headers) as session,
        session.post(f"{fake.base_url}/organizations/{org(fake)}/file", data=form) as resp,
    ):
        assert resp.status == 422
        assert "step_id" in (await resp.json())["errors"]
    assert fake_files(fake).uploads == 0


async def test_upload_is_never_sent_twice_once_it_may_have_been_stored(
    fake: FakeTallyfy, client: TallyfyClient, source: Path
) -> None:
    kwargs = {"uploaded_from": "ko_field", "subject_type": "Checklist"}
    fake.inject("reset_after_apply", method="POST", path_contains="/assets")
    with pytest.raises(OutcomeUnknownError):
        await client.files.upload(org(fake), source, subject_id=blueprint(fake), **kwargs)
    assert fake.count("POST", "/assets") == 1
    assert fake_files(fake).uploads == 1  # stored, and the client said it may have been

    # A 429 was never applied: a path can be read again, so it is re-sent once ...
    fake.inject("429", method="POST", path_contains="/assets", retry_after=2)
    await client.files.upload(org(fake), source, subject_id=blueprint(fake), **kwargs)
    assert fake.count("POST", "/assets") == 3
    assert fake_files(fake).uploads == 2

    # ... an async iterator cannot be, so the 429 is the answer.
    async def once() -> AsyncIterator[bytes]:
        yield b"only once"

    fake.inject("429", method="POST", path_contains="/assets", retry_after=2)
    with pytest.raises(RateLimitedError):
        await client.files.upload(
            org(fake), once(), filename="x.txt", subject_id=blueprint(fake), **kwargs
        )
    assert fake.count("POST", "/assets") == 4
    assert fake_files(fake).uploads == 2


UPLOAD = {"uploaded_from": "ko_field", "subject_type": "Checklist", "subject_id": "b" * 32}
ORG = "3f9c2a6d1e8b4c7fa0b1c2d3e4f5a6b7"


async def chunks_of(data: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(data), 1000):
        yield data[start : start + 1000]


@pytest.mark.parametrize("status", [307, 308])
async def test_a_redirected_upload_is_sent_on_whole_or_not_at_all(
    status: int, payload: bytes, tmp_path: Path
) -> None:
    """A 307/308 asks for the same request at another URL (nothing was stored). A path or
    bytes is read again from its start and the target gets the whole file; an async
    iterator's chunks cannot be read twice, so the redirect is not followed (``RedirectError``,
    one request): re-sent, the target would have stored an empty file as a success."""
    bodies: list[tuple[str, bytes]] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        bodies.append((request.path, await request.read()))
        if request.path.endswith("/assets"):
            target = f"/api/organizations/{ORG}/assets/elsewhere"
            return web.Response(status=status, headers={"Location": target})
        return web.json_response({"data": {"id": "asset-1"}}, status=201)

    small = payload[:200_000]  # under the test server's 1 MiB request cap
    source = tmp_path / "contract.pdf"
    source.write_bytes(small)
    async with (
        hostile_server(handler) as server,
        TallyfyClient("PAT-x", base_url=server.base_url) as client,
    ):
        for whole in (source, small, io.BytesIO(small)):
            bodies.clear()
            assert (await client.files.upload(ORG, whole, filename="c.pdf", **UPLOAD))["id"]
            assert [path.rsplit("/", 1)[1] for path, _ in bodies] == ["assets", "elsewhere"]
            assert all(small in body for _, body in bodies)  # the whole file, both times
        bodies.clear()
        with pytest.raises(RedirectError) as info:
            await client.files.upload(ORG, chunks_of(small), filename="c.pdf", **UPLOAD)
    assert [path.rsplit("/", 1)[1] for path, _ in bodies] == ["assets"]  # never re-sent
    assert small in bodies[0][1]
    assert info.value.status == status
    assert "read once" in str(info.value)


async def test_a_one_pass_upload_answered_401_is_not_re_sent_but_the_token_is_renewed(
    payload: bytes,
) -> None:
    """A 401 renews the token; a body that can be read once is not sent again with it (that
    would store an empty file): ``AuthenticationError``, and the next call uses the new token."""
    seen: list[tuple[str, str, int]] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        seen.append((request.path.rsplit("/", 1)[1], request.headers["Authorization"], len(body)))
        if request.headers["Authorization"] == "Bearer first":
            return web.json_response({"error": "unauthenticated"}, status=401)
        return web.json_response({"data": {"id": "asset-1"}}, status=201)

    tokens = iter(["first", "second"])

    async def mint(org_id: str | None) -> str:
        return next(tokens)

    async with (
        hostile_server(handler) as server,
        TallyfyClient(CallableTokenProvider(mint), base_url=server.base_url) as client,
    ):
        with pytest.raises(AuthenticationError):
            await client.files.upload(ORG, chunks_of(payload[:5000]), filename="c.pdf", **UPLOAD)
        assert [(path, auth) for path, auth, _ in seen] == [("assets", "Bearer first")]
        # The renewed token is the next call's: that upload goes through at its first attempt.
        assert (await client.files.upload(ORG, chunks_of(b"x" * 10), filename="c.pdf", **UPLOAD))[
            "id"
        ] == "asset-1"
    assert [(path, auth) for path, auth, _ in seen] == [
        ("assets", "Bearer first"),
        ("assets", "Bearer second"),
    ]


async def test_download_limits_and_missing_files_leave_nothing(
    fake: FakeTallyfy, client: TallyfyClient, source: Path, tmp_path: Path
) -> None:
    asset = await client.files.upload(
        org(fake), source, uploaded_from="ko_field", subject_type="Checklist",
        subject_id=blueprint(fake),
    )  # fmt: skip
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(FileTooLargeError) as err:
        await client.files.download(org(fake), asset["id"], out / "f.pdf", max_bytes=SIZE - 1)
    assert (err.value.declared, err.value.max_bytes) == (SIZE, SIZE - 1)
    assert list(out.iterdir()) == []

    await client.files.archive(org(fake), asset["id"])  # the record only
    with pytest.raises(NotFoundError):
        await client.files.get(org(fake), asset["id"])
    other = await client.files.upload(
        org(fake), source, uploaded_from="ko_field", subject_type="Checklist",
        subject_id=blueprint(fake),
    )  # fmt: skip
    await client.files.delete(org(fake), other["id"])
    assert fake_files(fake).stored(org(fake), other["id"]) is None
    with pytest.raises(NotFoundError):
        await client.files.download(org(fake), other["id"], out / "g.pdf")
    with pytest.raises(NotFoundError):  # a repeat of an applied delete: 404, sent once
        await client.files.delete(org(fake), other["id"])
    assert fake.count("DELETE", f"/file/{other['id']}") == 2
    assert list(out.iterdir()) == []


async def test_a_download_that_breaks_off_starts_over(tmp_path: Path, payload: bytes) -> None:
    calls = 0

    async def handler(request: web.Request) -> web.StreamResponse:
        nonlocal calls
        calls += 1
        resp = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
        resp.content_length = len(payload)
        await resp.prepare(request)
        if calls == 1:  # half the body, then the connection dies
            await resp.write(payload[: len(payload) // 2])
            assert request.transport is not None
            request.transport.close()
            return resp
        await resp.write(payload)
        await resp.write_eof()
        return resp

    async with (
        hostile_server(handler) as server,
        TallyfyClient("tok", base_url=server.base_url) as client,
    ):
        got = await client.files.download("o1", "f1", tmp_path / "f.bin")
    assert (calls, got.attempts, got.size) == (2, 2, len(payload))
    assert (tmp_path / "f.bin").read_bytes() == payload
    assert server.paths() == ["/api/organizations/o1/file/f1/dl"] * 2
    assert leftovers(tmp_path) == []


async def test_an_undeclared_size_is_capped_while_streaming(tmp_path: Path) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
        resp.enable_chunked_encoding()  # no Content-Length to refuse up front
        await resp.prepare(request)
        for _ in range(8):
            await resp.write(b"x" * 100_000)
        await resp.write_eof()
        return resp

    async with (
        hostile_server(handler) as server,
        TallyfyClient("tok", base_url=server.base_url) as client,
    ):
        with pytest.raises(FileTooLargeError) as err:
            await client.files.download("o1", "f1", tmp_path / "f.bin", max_bytes=250_000)
    assert (err.value.declared, err.value.max_bytes) == (None, 250_000)
    assert os.listdir(tmp_path) == []
    assert len(server.seen) == 1  # a limit is not a transient failure: not retried
