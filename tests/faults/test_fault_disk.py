"""Temp disk full during an encode: the miner answers a clear error and leaves no temp file; the
validator's download into a full disk is refused the same way.

The disk is a real full filesystem: a small tmpfs (needs root: CAP_SYS_ADMIN to mount), filled up to a
few kB. Where mounting is not allowed, those tests skip (and fail in CI, see tests/strict_skips.py);
the same paths are also covered without privileges by RLIMIT_FSIZE in a child process: the encode
(ffmpeg is then killed by SIGXFSZ, which the error names) and the validator's download (the write
fails with EFBIG).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from miner_support import build_world, leftovers, miner_config, output_keys, presigned_input

from tests.media_factory import make_clip
from vidaio.fetch import FetchConfig, FetchError, fetch
from vidaio.miner.daemon import build_miner
from vidaio.protocol import TaskError, UpscalingTask
from vidaio.storage.local import LocalS3
from vidaio.transport.client import MinerClient
from vidaio.transport.runner import running_app

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs mounted under tmp_path; unmounted afterwards."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)], capture_output=True, text=True
    )
    if proc.returncode != 0:
        pytest.skip(
            f"cannot mount a tmpfs here ({proc.stderr.strip() or proc.returncode}); RLIMIT_FSIZE test covers encodes"
        )
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def fill(disk: Path, leave: int) -> None:
    st = os.statvfs(disk)
    (disk / "filler").write_bytes(b"\0" * max(0, st.f_bavail * st.f_frsize - leave))


async def test_disk_full_during_the_miners_encode(small_disk: Path, tmp_path: Path, s3: LocalS3) -> None:
    world = build_world(tmp_path / "world", s3)
    clip = make_clip(tmp_path / "in.mp4", (160, 90), frames=24, crf=12)
    work = small_disk / "work"
    rt = await build_miner(
        miner_config(world, "miner_a", work, task_type="upscaling", upscaling_types=["SD2HD"])
    )
    try:
        fill(small_disk, clip.stat().st_size + 8192)  # the input fits, the encoded output does not
        task = UpscalingTask(task_id="full-1", round_id="r1", input_url=presigned_input(world, clip),
                             task_type="SD2HD", scale=2, content_length=1, deadline_s=30)  # fmt: skip
        async with running_app(rt.app, "127.0.0.1", 0) as srv, MinerClient(world.validator_keypair) as client:
            got = await client.send_task(f"127.0.0.1:{srv.port}", rt.hotkey, task, deadline_s=40)
            assert got.kind == "error" and isinstance(got.result, TaskError), got
            assert (
                got.result.error.startswith("processing failed:")
                and "No space left on device" in got.result.error
            )
            assert leftovers(work) == [] and output_keys(world) == []  # no temp file, nothing uploaded
            (small_disk / "filler").unlink()  # space is back: the same miner works again
            again = await client.send_task(
                f"127.0.0.1:{srv.port}", rt.hotkey, task.model_copy(update={"task_id": "full-2"}), 40
            )
        assert again.ok, again
        assert leftovers(work) == []
    finally:
        await rt.close()


async def serve_200kb(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A plain HTTP server's answer: 200 kB of body (more than either full disk can take)."""
    await reader.readuntil(b"\r\n\r\n")
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 200000\r\n\r\n" + b"\1" * 200_000)
    await writer.drain()
    writer.close()


async def test_disk_full_during_a_validator_download(small_disk: Path, tmp_path: Path) -> None:
    server = await asyncio.start_server(serve_200kb, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    fill(small_disk, 64 * 1024)
    dest = small_disk / "round" / "out.mp4"
    try:
        with pytest.raises(FetchError) as err:
            await fetch(f"http://127.0.0.1:{port}/o.mp4", dest, cfg=FetchConfig(allow_hosts=["127.0.0.1"]))
    finally:
        server.close()
    assert err.value.reason == "io_error" and "No space left on device" in err.value.detail
    assert list((small_disk / "round").iterdir()) == []  # the partial download is gone


CHILD = """
import resource, sys
from pathlib import Path
from services.compression import CompressionSettings, FixedCrfEngine
src, dst = Path(sys.argv[1]), Path(sys.argv[2])
resource.setrlimit(resource.RLIMIT_FSIZE, (16 * 1024, 16 * 1024))
settings = CompressionSettings(presets={"hevc": "ultrafast"}, fixed_crf={93: {"hevc": 10}}, threads=1,
                               work_dir=dst.parent / "scratch")
try:
    FixedCrfEngine(settings).compress(src, dst, codec="hevc", vmaf_threshold=85)
except Exception as exc:
    print("ERROR", type(exc).__name__, " ".join(str(exc).split())[:600])
    sys.exit(3)
print("OK")
"""


def test_file_size_limit_during_encode(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "in.mp4", (160, 90), frames=24, crf=12)
    out_dir = tmp_path / "out"
    (out_dir / "scratch").mkdir(parents=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", CHILD, str(clip), str(out_dir / "c.mp4")], capture_output=True,
                          text=True, env=env, timeout=120)  # fmt: skip
    assert proc.returncode == 3, proc.stdout + proc.stderr[-2000:]
    assert proc.stdout.startswith("ERROR CompressionFailed"), proc.stdout
    assert "killed by SIGXFSZ (file size limit exceeded)" in proc.stdout, proc.stdout
    assert [p for p in out_dir.rglob("*") if p.is_file()] == []  # the engine removed its partial output


DOWNLOAD_CHILD = """
import asyncio, resource, signal, sys
from pathlib import Path
from vidaio.fetch import FetchConfig, FetchError, fetch
url, dest = sys.argv[1], Path(sys.argv[2])
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit then fails with EFBIG
resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))
try:
    asyncio.run(fetch(url, dest, cfg=FetchConfig(allow_hosts=["127.0.0.1"])))
except FetchError as exc:
    print("FETCHERROR", exc.reason, " ".join(exc.detail.split())[:600])
    sys.exit(3)
print("OK")
"""


async def test_file_size_limit_during_a_validator_download(tmp_path: Path) -> None:
    """Unprivileged twin of the tmpfs download test: the file system refuses the write mid-download."""
    server = await asyncio.start_server(serve_200kb, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    dest = tmp_path / "round" / "out.mp4"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    try:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", DOWNLOAD_CHILD, f"http://127.0.0.1:{port}/o.mp4", str(dest),
            env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    finally:
        server.close()
    stdout = out.decode()
    assert proc.returncode == 3, stdout + err.decode()[-2000:]
    assert stdout.startswith("FETCHERROR io_error") and "File too large" in stdout, stdout
    assert list((tmp_path / "round").iterdir()) == []  # the partial download is gone
