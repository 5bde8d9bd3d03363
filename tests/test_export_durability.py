"""The export file's durability (issue 11, CLI speed): ``AtomicOutput.commit`` fsyncs the file
before the rename and the directory after it; the data is synced in a background thread while
it is written, so the final fsync has little left; a failed background sync fails the commit
and leaves the target as it was; no sync thread outlives the file.
"""

from __future__ import annotations

import errno
import io
import os
import stat
import threading
from pathlib import Path

import pytest

import aiotallyfy.cli._export as export_mod
from aiotallyfy.cli import amain
from aiotallyfy.cli._export import AtomicOutput
from aiotallyfy.testing import FakeTallyfy

SYNC_THREAD = "aiotallyfy-export-sync"


def sync_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == SYNC_THREAD]


def test_commit_fsyncs_the_file_before_the_rename_and_the_directory_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "tasks.jsonl"
    target.write_bytes(b"old\n")
    real_fsync = os.fsync
    seen: list[tuple[str, bytes]] = []  # (what was synced, the target's content then)

    def fsync(fd: int) -> None:
        kind = "dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file"
        seen.append((kind, target.read_bytes()))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    with AtomicOutput(target) as out:
        out.file.write(b"new\n")
        out.commit()
    assert seen == [("file", b"old\n"), ("dir", b"new\n")]


def test_data_is_synced_in_the_background_while_it_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "tasks.jsonl"
    synced = threading.Event()
    sizes: list[int] = []
    temp_inode: list[int] = []

    def data_sync(fd: int) -> None:
        st = os.fstat(fd)
        assert [st.st_ino] == temp_inode  # the temporary file, nothing else
        sizes.append(st.st_size)
        synced.set()

    monkeypatch.setattr(export_mod, "_data_sync", data_sync)
    with AtomicOutput(target, buffer_size=1024, sync_every=4096) as out:
        temp_inode.append(os.fstat(out.file.fileno()).st_ino)
        out.file.write(b"x" * 3000)
        out.file.flush()
        assert sync_threads() == []  # under sync_every: no thread at all
        out.file.write(b"y" * 3000)
        out.file.flush()
        assert synced.wait(10)  # a thread synced while the file was still being written
        assert not target.exists()
        out.commit()
    assert sizes[0] >= 4096
    assert target.read_bytes() == b"x" * 3000 + b"y" * 3000
    assert sync_threads() == []


def test_a_failed_background_sync_fails_the_commit_and_keeps_the_target(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "tasks.jsonl"
    target.write_bytes(b"previous export\n")
    failed = threading.Event()

    def data_sync(fd: int) -> None:
        failed.set()
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(export_mod, "_data_sync", data_sync)
    with AtomicOutput(target, buffer_size=1024, sync_every=1024) as out:
        out.file.write(b"z" * 5000)
        out.file.flush()
        assert failed.wait(10)
        with pytest.raises(OSError, match="Input/output error") as info:
            out.commit()
        assert info.value.errno == errno.EIO
        assert not out.committed
    assert target.read_bytes() == b"previous export\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tasks.jsonl"]
    assert sync_threads() == []


def test_discard_stops_the_sync_thread_before_closing_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "tasks.jsonl"
    entered, release = threading.Event(), threading.Event()
    closed_during_sync: list[bool] = []

    def data_sync(fd: int) -> None:
        entered.set()
        release.wait(10)
        try:
            os.fstat(fd)
        except OSError:
            closed_during_sync.append(True)
        else:
            closed_during_sync.append(False)

    monkeypatch.setattr(export_mod, "_data_sync", data_sync)
    out = AtomicOutput(target, buffer_size=1024, sync_every=1024)
    out.file.write(b"a" * 2048)
    out.file.flush()
    assert entered.wait(10)
    done = threading.Thread(target=out.discard)
    done.start()
    done.join(0.05)
    assert done.is_alive()  # discard waits for the sync under way ...
    release.set()
    done.join(10)
    assert closed_during_sync == [False]  # ... which still had its file descriptor
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    assert sync_threads() == []


@pytest.mark.virtual_time
async def test_cli_export_syncs_in_the_background_and_writes_the_same_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = export_mod._data_sync
    calls: list[int] = []

    def data_sync(fd: int) -> None:
        calls.append(fd)
        real(fd)

    async with FakeTallyfy(orgs=2, tasks_per_org=1500, seed=3) as fake:
        env = {"TALLYFY_BASE_URL": fake.base_url, "TALLYFY_API_TOKEN": fake.token}
        argv = ["-q", "tasks", "--all-orgs", "--mine", "--status", "all"]
        stdout = io.BytesIO()
        assert await amain(argv, environ=env, stdout=stdout, stderr=io.StringIO()) == 0
        monkeypatch.setattr(export_mod, "SYNC_EVERY", 256 << 10)
        monkeypatch.setattr(export_mod, "_data_sync", data_sync)
        target = tmp_path / "tasks.jsonl"
        err = io.StringIO()
        code = await amain([*argv, "-o", str(target)], environ=env, stderr=err)
        assert (code, err.getvalue()) == (0, "")
    assert sorted(target.read_bytes().splitlines()) == sorted(stdout.getvalue().splitlines())
    assert len(target.read_bytes()) > 6 * (256 << 10)
    assert len(calls) >= 1
    assert os.listdir(tmp_path) == ["tasks.jsonl"]
    assert sync_threads() == []
