"""A 200 MB upload and a 200 MB download through FakeTallyfy: exact bytes, bounded client memory.

Three processes, so only the client's memory is measured:

1. ``benchmarks/_server.py --max-upload-mb 250``: the fake (its 100 MiB upload cap, Tallyfy's,
   raised so a 200 MB file goes through); it stores the upload on disk and serves the download
   with ``FileResponse``;
2. the client (this script with ``--child``): ``client.files.upload(path)`` then
   ``client.files.download(dest)``; it reports its resident set size after a warm-up request
   (the baseline: interpreter, aiohttp and the client loaded);
3. this script: writes the random source file, starts both, takes the client's (and, for
   information, the server's) peak resident set size from ``os.wait4`` (``ru_maxrss``, KiB on
   Linux), and checks the sha256 of the
   downloaded file against the source (the download serves what the upload stored, so equal
   hashes prove both directions byte for byte).

    python benchmarks/files_memory.py [--size-mb 200] [--limit-mb 40] [--whole]

``--whole`` is the control: the client reads the file into ``bytes`` before uploading, and the
growth it reports (about the file's size) shows the measure sees what streaming avoids.

Exit status 0 when both transfers are exact and the peak growth is at most ``--limit-mb``.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

HERE = Path(__file__).resolve().parent


def _rss_kib() -> int:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


async def _client(
    base_url: str, token: str, source: Path, dest: Path, whole: bool
) -> dict[str, object]:
    from aiotallyfy import TallyfyClient

    async with TallyfyClient(token, base_url=base_url) as client:
        org_id = (await client.all_org_ids())[0]
        blueprint = await client.blueprints.list(org_id, limit=1).to_list()
        baseline = _rss_kib()
        started = time.perf_counter()
        asset = await client.files.upload(
            org_id,
            await asyncio.to_thread(source.read_bytes) if whole else source,
            filename=source.name,
            uploaded_from="ko_field",
            subject_type="Checklist",
            subject_id=blueprint[0]["id"],
            max_bytes=None,
        )
        uploaded = time.perf_counter()
        result = await client.files.download(org_id, asset["id"], dest)
        downloaded = time.perf_counter()
        return {
            "baseline_kib": baseline,
            "upload_s": uploaded - started,
            "download_s": downloaded - uploaded,
            "size": result.size,
            "sha256": result.sha256,
            "upload_requests": client.stats.requests,
        }


def child(argv: list[str], whole: bool) -> int:
    base_url, token, source, dest = argv
    report = asyncio.run(_client(base_url, token, Path(source), Path(dest), whole))
    sys.stdout.write(orjson.dumps(report).decode() + "\n")
    return 0


def _write_source(path: Path, size: int) -> str:
    digest = hashlib.sha256()
    block = 8 * 1024 * 1024
    with path.open("wb") as fh:
        left = size
        while left:
            chunk = os.urandom(min(block, left))
            fh.write(chunk)
            digest.update(chunk)
            left -= len(chunk)
    return digest.hexdigest()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(8 * 1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=float, default=200.0)
    parser.add_argument("--limit-mb", type=float, default=40.0)
    parser.add_argument(
        "--whole",
        action="store_true",
        help="control run: read the file into memory first (shows what the measure catches)",
    )
    parser.add_argument("--child", nargs=4, metavar=("BASE_URL", "TOKEN", "SOURCE", "DEST"))
    opts = parser.parse_args()
    if opts.child:
        return child(opts.child, opts.whole)
    size = int(opts.size_mb * 1_000_000)
    server = subprocess.Popen(
        [sys.executable, str(HERE / "_server.py"), "--orgs", "1", "--tasks-per-org", "10",
         "--max-upload-mb", str(opts.size_mb + 50)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        hello = orjson.loads(server.stdout.readline())
        with tempfile.TemporaryDirectory(prefix="aiotallyfy-files-") as tmp:
            source, dest = Path(tmp) / "big.zip", Path(tmp) / "back.zip"
            expected = _write_source(source, size)
            proc = subprocess.Popen(
                [sys.executable, __file__, "--child", hello["base_url"], hello["token"],
                 str(source), str(dest), *(["--whole"] if opts.whole else [])],
                stdout=subprocess.PIPE, text=True,
            )  # fmt: skip
            assert proc.stdout is not None
            out = proc.stdout.read()
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
            if proc.returncode != 0:
                print(f"client failed with exit status {proc.returncode}")
                return 1
            report = orjson.loads(out)
            on_disk = _sha256(dest)
    finally:
        if server.stdin is not None:
            server.stdin.close()
        _, status, server_usage = os.wait4(server.pid, 0)
        server.returncode = os.waitstatus_to_exitcode(status)
    peak_kib = usage.ru_maxrss
    growth_mb = (peak_kib - int(report["baseline_kib"])) / 1024
    exact = report["sha256"] == expected == on_disk and report["size"] == size
    mb = size / 1e6
    print(
        f"{mb:.0f} MB upload in {report['upload_s']:.1f} s ({mb / report['upload_s']:.0f} MB/s), "
        f"download in {report['download_s']:.1f} s ({mb / report['download_s']:.0f} MB/s); "
        f"sha256 {'identical' if exact else 'DIFFERENT'} ({expected[:16]}…)\n"
        f"client RSS: baseline {int(report['baseline_kib']) / 1024:.1f} MiB, peak "
        f"{peak_kib / 1024:.1f} MiB, growth {growth_mb:.1f} MiB (limit {opts.limit_mb:g}) "
        f"{'OK' if exact and growth_mb <= opts.limit_mb else 'FAIL'}\n"
        f"fake server (stores the upload on disk, serves it with FileResponse): peak RSS "
        f"{server_usage.ru_maxrss / 1024:.1f} MiB"
    )
    return 0 if exact and growth_mb <= opts.limit_mb else 1


if __name__ == "__main__":
    raise SystemExit(main())
