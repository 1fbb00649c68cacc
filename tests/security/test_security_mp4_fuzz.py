"""Hypothesis mutates the MP4 box structure of an honest answer (issue 19): the size and type fields
and the table words of `moov`, `trak`, `stsz`, `stco`, `stsc`, `stts`, `elst`, `tkhd`, `mdhd`.

Every mutant is scored by `scoring.evaluate` exactly as the validator scores it: it must get a
verdict (never an exception), with known reasons, within the per-answer work budget.
"""

from __future__ import annotations

import struct
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scoring.config import ScoringConfig
from scoring.evaluate import CompressionVerdict, answer_budget, evaluate_compression
from scoring.media.probe import probe
from scoring.metrics.config import MetricsConfig
from scoring.validation import Reason
from tests.media_factory import make_clip, reencode
from tests.mp4_surgery import boxes

pytestmark = pytest.mark.slow

BOXES = ("moov", "trak", "stsz", "stco", "stsc", "stts", "elst", "tkhd", "mdhd")
REASONS = {r.value for r in Reason} | {"metric_error"}
MCFG = MetricsConfig(vmaf_threads=1)
SCFG = ScoringConfig()
VALUES = st.one_of(
    st.sampled_from([0, 1, 2, 7, 8, 9, 12, 16, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 10**6]),
    st.integers(0, 2**32 - 1),
)


def _all_boxes(data: bytes, start: int = 0, end: int | None = None) -> dict[str, tuple[int, int, int]]:
    """{type: (start, header, end)} of the first box of each type, walking the container boxes."""
    found: dict[str, tuple[int, int, int]] = {}
    for kind, s, h, e in boxes(data, start, end):
        name = kind.decode("latin-1")
        found.setdefault(name, (s, h, e))
        if name in ("moov", "trak", "mdia", "minf", "stbl", "edts"):
            for k, v in _all_boxes(data, s + h, e).items():
                found.setdefault(k, v)
    return found


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> dict:
    d = tmp_path_factory.mktemp("mp4fuzz")
    ref = make_clip(d / "ref.mp4", (64, 36), frames=12, crf=10)
    out = reencode(ref, d / "out.mp4", "hevc", crf=30)
    data = out.read_bytes()
    where = _all_boxes(data)
    assert set(BOXES) <= set(where), sorted(where)  # an honest ffmpeg MP4 has every one of them
    return {
        "dir": d,
        "ref": ref,
        "data": data,
        "boxes": where,
        "budget": answer_budget(probe(ref), MCFG).limit_s,
    }


def _score(ref: Path, dist: Path) -> CompressionVerdict:
    return evaluate_compression(
        ref,
        dist,
        vmaf_threshold=50,
        codec="hevc",
        task_id="fuzz",
        secret="s",
        scoring_cfg=SCFG,
        metrics_cfg=MCFG,
    )


def test_unmutated_base_is_paid(base: dict) -> None:
    path = base["dir"] / "same.mp4"
    path.write_bytes(base["data"])
    v = _score(base["ref"], path)
    assert v.ok and v.score > 0, v.messages


@settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    mutations=st.lists(
        st.tuples(st.sampled_from(BOXES), st.one_of(st.just(-2), st.just(-1), st.integers(0, 11)), VALUES),
        min_size=1,
        max_size=3,
    )
)
def test_mutated_boxes_always_get_a_verdict_within_the_budget(base: dict, mutations: list) -> None:
    data = bytearray(base["data"])
    for name, field, value in mutations:
        start, header, end = base["boxes"][name]
        if field == -2:  # the size field
            at = start
        elif field == -1:  # the type field: a random fourcc
            at = start + 4
        else:  # a 32-bit word of the payload (version/flags, counts, table entries)
            at = start + header + 4 * field
        if at + 4 <= min(end, len(data)):
            struct.pack_into(">I", data, at, value)
    path = base["dir"] / "mutant.mp4"
    path.write_bytes(bytes(data))
    started = time.monotonic()
    v = _score(base["ref"], path)
    elapsed = time.monotonic() - started
    assert isinstance(v, CompressionVerdict)
    assert v.status in ("ok", "invalid", "error")
    assert set(v.reasons) <= REASONS, v.reasons
    assert v.ok or v.score == 0.0
    assert elapsed < base["budget"] + 5, (elapsed, v.messages)
