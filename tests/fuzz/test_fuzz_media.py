"""Fuzzing the file side of validation: a valid MP4 with random bytes overwritten, cut short or grown,
and random blobs. `validate_output` always returns a verdict with named reasons (nothing raises), in
bounded time; the MP4 header reader never raises on any bytes."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scoring.media.mp4box import read_mp4_header
from scoring.media.probe import probe
from scoring.metrics.config import MetricsConfig
from scoring.validation import Reason, ValidationResult, expected_for_compression, validate_output
from tests.media_factory import make_clip, remux

SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture], database=None
)
REASONS = {r.value for r in Reason}


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("fuzzmedia")
    ref = make_clip(d / "ref.mp4", (64, 36), frames=12, crf=10)
    out = make_clip(d / "out.mp4", (64, 36), frames=12, crf=30, codec="hevc")
    return {"dir": d, "ref": ref, "out": remux(out, d / "fast.mp4", extra=["-movflags", "+faststart"])}


def _check(result: ValidationResult, elapsed: float) -> None:
    assert isinstance(result, ValidationResult)
    assert set(result.reasons) <= REASONS
    assert result.ok or all(m.split(":", 1)[0] in REASONS for m in result.messages)
    assert elapsed < 20


@SETTINGS
@given(
    edits=st.lists(
        st.tuples(st.integers(0, 10**6), st.binary(min_size=1, max_size=16)), min_size=1, max_size=8
    ),
    cut=st.one_of(st.none(), st.floats(0.0, 1.0)),
    tail=st.binary(max_size=64),
)
def test_corrupted_mp4_gets_a_verdict(
    clips: dict[str, Path], edits: list, cut: float | None, tail: bytes
) -> None:
    data = bytearray(clips["out"].read_bytes())
    for pos, blob in edits:
        p = pos % len(data)
        data[p : p + len(blob)] = blob
    if cut is not None:
        data = data[: int(len(data) * cut)]
    path = clips["dir"] / "fuzzed.mp4"
    path.write_bytes(bytes(data) + tail)
    read_mp4_header(path)
    exp = expected_for_compression(probe(clips["ref"]), "hevc", MetricsConfig())
    started = time.monotonic()
    _check(validate_output(path, exp, reference=clips["ref"]), time.monotonic() - started)


@settings(max_examples=150, deadline=None, database=None)
@given(
    blob=st.one_of(
        st.binary(max_size=512), st.binary(max_size=200).map(lambda b: b"\x00\x00\x00\x18ftypisom" + b)
    )
)
def test_mp4_header_reader_never_raises(tmp_path_factory: pytest.TempPathFactory, blob: bytes) -> None:
    path = tmp_path_factory.getbasetemp() / "blob.mp4"
    path.write_bytes(blob)
    header = read_mp4_header(path)
    assert header is None or all(t.width >= 0 and t.height >= 0 for t in header.video_tracks)
