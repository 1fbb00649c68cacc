"""Exploit suite, issue 19: files built by MP4 box surgery on honest encodes (tests/mp4_surgery.py).

Each is scored by `scoring.evaluate` in a fresh subprocess, which reports its wall time and its
peak RSS (VmHWM; `ru_maxrss` would carry pytest's own peak across fork+exec); each must be refused with its named reason in under 2 s and 200 MB.
Before issue 19 the edit-list re-map file was paid like an honest encode while its scoring took
n^2/2 decode work, and the flood files took tens of seconds and gigabytes to open.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import security_media as sm

from tests.mp4_surgery import exploit_files

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
MAX_SECONDS = 2.0
MAX_RSS_MB = 200.0

_SCORE = """
import json, resource, sys, time

def hwm_mb():  # peak RSS of this process image (VmHWM: reset at exec, unlike ru_maxrss)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

from loguru import logger
logger.remove()
from scoring.config import ScoringConfig
from scoring.evaluate import evaluate_compression
from scoring.metrics.config import MetricsConfig
ref, dist = sys.argv[1], sys.argv[2]
evaluate_compression(ref, ref, vmaf_threshold=70, codec="hevc", task_id="warm", secret="s",
                     scoring_cfg=ScoringConfig(), metrics_cfg=MetricsConfig(vmaf_threads=1))
before = hwm_mb()
t0 = time.monotonic()
v = evaluate_compression(ref, dist, vmaf_threshold=70, codec="hevc", task_id="t", secret="s",
                         scoring_cfg=ScoringConfig(), metrics_cfg=MetricsConfig(vmaf_threads=1))
elapsed = time.monotonic() - t0
peak = hwm_mb()
print(json.dumps({"reasons": v.reasons, "messages": v.messages, "score": v.score, "status": v.status,
                  "elapsed": elapsed, "rss_mb": peak, "rss_before_mb": before}))
"""


def score_in_subprocess(ref: Path, dist: Path) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", _SCORE, str(ref), str(dist)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def d(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("mp4-exploits")


@pytest.fixture(scope="module")
def ref(d: Path) -> Path:
    return sm.reference(d)


@pytest.fixture(scope="module")
def exploits(ref: Path, d: Path) -> dict[str, tuple[Path, str]]:
    return exploit_files(ref, d / "x", size=sm.SIZE, fps=sm.FPS, frames=sm.FRAMES)


NAMES = [
    "edit_list_remap",
    "edit_list_flood_small",
    "edit_list_flood_large",
    "renamed_ftyp",
    "pix_fmt_switch",
    "rotated",
    "extra_stream",
]


def test_the_exploit_files_are_what_they_claim(exploits: dict[str, tuple[Path, str]], ref: Path) -> None:
    """The attacks are real: FFmpeg opens each one as a video (the flood as millions of packets)."""
    import av

    from scoring.media.mp4box import read_mp4_header

    remap = read_mp4_header(exploits["edit_list_remap"][0])
    assert remap is not None and remap.video_tracks[0].edit_count == sm.FRAMES
    flood = read_mp4_header(exploits["edit_list_flood_large"][0])
    assert flood is not None and flood.video_tracks[0].edit_count == 50_000
    with av.open(str(exploits["edit_list_flood_small"][0])) as c:  # FFmpeg expands it: far more packets
        n = sum(1 for p, _ in zip(c.demux(c.streams.video[0]), range(5000), strict=False) if p.size)
    assert n == 5000
    rotated = read_mp4_header(exploits["rotated"][0])
    assert rotated is not None and rotated.video_tracks[0].matrix[:2] == (0, -0x10000)  # 90 degrees
    with av.open(str(exploits["extra_stream"][0])) as c:
        assert len(c.streams.audio) == 1


@pytest.mark.parametrize("name", NAMES)
def test_exploit_refused_fast_and_small(name: str, exploits: dict[str, tuple[Path, str]], ref: Path) -> None:
    path, reason = exploits[name]
    r = score_in_subprocess(ref, path)
    assert r["status"] == "invalid" and r["score"] == 0.0, r
    assert reason in r["reasons"], r
    assert any(m.startswith(f"{reason}: ") for m in r["messages"]), r
    assert r["elapsed"] < MAX_SECONDS, r
    assert r["rss_mb"] < MAX_RSS_MB, r
    # none of these files reaches an ffmpeg run: each is refused before the metrics


def test_honest_single_keyframe_base_is_scored(
    exploits: dict[str, tuple[Path, str]], ref: Path, d: Path
) -> None:
    """The files the attacks start from are honest and paid: the refusals come from the surgery."""
    r = score_in_subprocess(ref, d / "x" / "base-1key.mp4")
    assert r["status"] == "ok" and r["score"] > 0, r
