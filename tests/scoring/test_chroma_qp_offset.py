"""Signalled chroma-QP starvation is refused from the parameter sets, before any decoder (issue 19 item 3).

x265 `cbqpoffs=12:crqpoffs=12` and x264 `chroma-qp-offset=12` quantise chroma coarser than the luma
VMAF reads: fewer bytes at unchanged VMAF. Every PPS (in the MP4 sample description and in-band in
the packets) is parsed (`scoring.media.bitstream`); offsets above what honest x264/x265 write,
slice/CU-level chroma offsets and chroma-heavy scaling lists are `chroma_qp_offset`."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring.media.bitstream import (
    BitstreamError,
    InbandScan,
    config_nals,
    config_problem,
    h264_pps,
    hevc_pps,
    rbsp,
)
from scoring.media.ffmpeg import run_ffmpeg
from scoring.media.probe import probe
from scoring.validation import ExpectedOutput, Reason, validate_output
from tests.media_factory import make_clip
from tests.mp4_surgery import boxes, find

SIZE = (160, 96)


class BitWriter:
    def __init__(self) -> None:
        self.bits: list[int] = []

    def u(self, n: int, v: int) -> BitWriter:
        self.bits += [(v >> (n - 1 - i)) & 1 for i in range(n)]
        return self

    def ue(self, v: int) -> BitWriter:
        n = (v + 1).bit_length()
        return self.u(n - 1, 0).u(n, v + 1)

    def se(self, v: int) -> BitWriter:
        return self.ue(2 * v - 1 if v > 0 else -2 * v)

    def rbsp(self) -> bytes:
        bits = [*self.bits, 1]
        bits += [0] * (-len(bits) % 8)
        return bytes(int("".join(map(str, bits[i : i + 8])), 2) for i in range(0, len(bits), 8))


def hevc_pps_nal(
    cb: int = 0, cr: int = 0, *, slice_offsets: int = 0, tiles: bool = False, scaling: list[int] | None = None,
    range_ext_lists: int | None = None,
) -> bytes:  # fmt: skip
    w = BitWriter().ue(0).ue(0).u(1, 0).u(1, 0).u(3, 0).u(1, 0).u(1, 0).ue(0).ue(0).se(0)
    w.u(1, 0).u(1, 1)  # constrained intra, transform skip on (the range extension then reads one more ue)
    w.u(1, 1).ue(1)  # cu_qp_delta_enabled, depth 1
    w.se(cb).se(cr).u(1, slice_offsets).u(1, 0).u(1, 0).u(1, 0)
    w.u(1, int(tiles)).u(1, 0)
    if tiles:
        w.ue(1).ue(1).u(1, 0).ue(2).ue(3).u(1, 1)  # 2x2 tiles, explicit column/row sizes
    w.u(1, 1).u(1, 1).u(1, 0).u(1, 0).se(0).se(0)  # loop filter across slices, deblocking control
    w.u(1, scaling is not None)
    if scaling is not None:  # sizeId 0..3: luma lists explicit flat 16, chroma explicit at `scaling` weights
        for size_id in range(4):
            n = min(64, 1 << (4 + 2 * size_id))
            for matrix_id in range(0, 6, 3 if size_id == 3 else 1):
                target = 16 if matrix_id in (0, 3) else scaling[0]
                w.u(1, 1)
                if size_id > 1:  # the DC coefficient sets the running value, then every delta is 0
                    w.se(target - 8).se(0)
                else:  # the first coefficient moves from 8 to the weight, then unchanged
                    w.se(target - 8)
                for _ in range(n - 1):
                    w.se(0)
    w.u(1, 0).ue(0).u(1, 0)
    if range_ext_lists is None:
        w.u(1, 0)
    else:
        w.u(1, 1).u(1, 1).u(1, 0).u(1, 0).u(1, 0).u(4, 0).ue(0).u(1, 0).u(1, range_ext_lists)
        if range_ext_lists:
            w.ue(0).ue(0).se(6).se(6)
        w.ue(0).ue(0)
    return bytes([34 << 1, 1]) + w.rbsp()


def h264_pps_nal(first: int, second: int | None = None, *, chroma_scaling: int | None = None) -> bytes:
    w = BitWriter().ue(0).ue(0).u(1, 1).u(1, 0).ue(0).ue(0).ue(0).u(1, 0).u(2, 0).se(0).se(0).se(first)
    w.u(1, 1).u(1, 0).u(1, 0)
    if second is not None or chroma_scaling is not None:
        w.u(1, 1).u(1, chroma_scaling is not None)
        if chroma_scaling is not None:
            for i in range(8):
                explicit = i in (1, 2, 4, 5)
                w.u(1, int(explicit))
                if explicit:  # 16 entries: first from 8 to the weight, then unchanged
                    w.se(chroma_scaling - 8)
                    for _ in range(15):
                        w.se(0)
        w.se(first if second is None else second)
    return bytes([0x68]) + w.rbsp()


@pytest.mark.parametrize(
    ("nal", "problem"),
    [
        (hevc_pps_nal(), None),
        (hevc_pps_nal(-2, -1, tiles=True), None),
        (hevc_pps_nal(1, 0), "+1/+0"),
        (hevc_pps_nal(12, 12), "+12/+12"),
        (hevc_pps_nal(0, 3, tiles=True), "+0/+3"),
        (hevc_pps_nal(slice_offsets=1), "slice-level"),
        (hevc_pps_nal(range_ext_lists=0), None),
        (hevc_pps_nal(range_ext_lists=1), "CU-level"),
        (hevc_pps_nal(scaling=[16]), None),
        (hevc_pps_nal(scaling=[40]), "scaling lists"),
        (h264_pps_nal(-2), None),
        (h264_pps_nal(-2, -4), None),
        (h264_pps_nal(10), "+10/+10"),
        (h264_pps_nal(0, 6), "+0/+6"),
        (h264_pps_nal(0, chroma_scaling=16), None),
        (h264_pps_nal(0, chroma_scaling=48), "scaling lists"),
    ],
)
def test_pps_fields_are_read(nal: bytes, problem: str | None) -> None:
    qp = hevc_pps(nal) if nal[0] == 34 << 1 else h264_pps(nal)
    got = qp.problem()
    assert (got is None) if problem is None else (problem in (got or "")), got


def test_emulation_prevention_bytes_are_removed() -> None:
    assert rbsp(b"\x01\x00\x00\x03\x01\x00\x00\x03\x00") == b"\x01\x00\x00\x01\x00\x00\x00"
    # a flat scaling list is a long run of se(0) = "1" bits; chroma weight 8 gives 00 00 runs? use h264:
    nal = h264_pps_nal(12, 12, chroma_scaling=16)
    escaped = nal[:1] + nal[1:].replace(b"\x00\x00", b"\x00\x00\x03")
    assert h264_pps(escaped).cb == 12


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64), st.sampled_from(["hevc", "h264"]))
def test_hostile_bytes_never_crash(data: bytes, codec: str) -> None:
    try:
        (hevc_pps if codec == "hevc" else h264_pps)(data)
    except BitstreamError:
        pass
    assert config_problem(codec, data) is None or isinstance(config_problem(codec, data), str)
    scan = InbandScan(codec, 4)
    scan.packet(data)
    assert scan.problem is None or isinstance(scan.problem, str)


def _ffmpeg(src: Path, dst: Path, *enc: str) -> Path:
    run_ffmpeg(
        ["-loglevel", "error", "-i", str(src), *enc, "-pix_fmt", "yuv420p", "-f", "mp4", str(dst)],
        timeout_s=120,
    )
    return dst


X265 = ["-c:v", "libx265", "-preset", "ultrafast", "-crf", "28", "-x265-params"]
X264 = ["-c:v", "libx264", "-preset", "ultrafast", "-crf", "28"]


@pytest.fixture(scope="module")
def ref(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(
        tmp_path_factory.mktemp("qp") / "ref.mp4", SIZE, fps=24, frames=12, crf=12, pattern="testsrc2"
    )


def _expected(ref: Path, codec: str) -> ExpectedOutput:
    i = probe(ref)
    return ExpectedOutput((codec,), i.width, i.height, i.avg_fps, i.frame_count, 10**9)


@pytest.mark.parametrize(
    ("codec", "enc", "refused"),
    [
        ("hevc", [*X265, "log-level=error"], False),
        ("hevc", [*X265, "log-level=error:cbqpoffs=12:crqpoffs=12"], True),
        ("hevc", [*X265, "log-level=error:cbqpoffs=-3:crqpoffs=-3"], False),
        ("h264", X264, False),
        ("h264", [*X264, "-tune", "grain"], False),
        ("h264", [*X264, "-x264-params", "chroma-qp-offset=12"], True),
    ],
)
def test_encoder_flags(ref: Path, codec: str, enc: list[str], refused: bool) -> None:
    dst = _ffmpeg(ref, ref.with_name(f"o-{abs(hash(tuple(enc)))}.mp4"), *enc)
    res = validate_output(dst, _expected(ref, codec))
    assert res.reasons == (["chroma_qp_offset"] if refused else []), res.messages
    if refused:  # refused from the header: nothing was probed or decoded
        assert res.probe is None and res.decoded_frames is None


def _swap_config(attack: Path, honest: Path, dst: Path) -> Path:
    """`attack` with the hvcC of `honest`: its header looks honest, its in-band PPS starve chroma."""
    a, h = attack.read_bytes(), honest.read_bytes()
    path = "moov/trak/mdia/minf/stbl/stsd"
    stsd = find(a, path)
    entry = boxes(a, stsd[1] + stsd[2] + 8, stsd[3])[0]
    old = next(b for b in boxes(a, entry[1] + 8 + 78, entry[3]) if b[0] == b"hvcC")
    h_stsd = find(h, path)
    h_entry = boxes(h, h_stsd[1] + h_stsd[2] + 8, h_stsd[3])[0]
    new = next(b for b in boxes(h, h_entry[1] + 8 + 78, h_entry[3]) if b[0] == b"hvcC")
    out = bytearray(a[: old[1]] + h[new[1] : new[3]] + a[old[3] :])
    delta = (new[3] - new[1]) - (old[3] - old[1])
    assert find(a, "moov")[3] == len(a), "moov must be last (no faststart)"
    for p in ("moov", "moov/trak", "moov/trak/mdia", "moov/trak/mdia/minf", "moov/trak/mdia/minf/stbl", path):
        b = find(a, p)
        struct.pack_into(">I", out, b[1], b[3] - b[1] + delta)
    struct.pack_into(">I", out, entry[1], entry[3] - entry[1] + delta)
    dst.write_bytes(bytes(out))
    return dst


def test_in_band_pps_is_read(ref: Path) -> None:
    rep = "log-level=error:repeat-headers=1"
    honest = _ffmpeg(ref, ref.with_name("rep-ok.mp4"), *X265, rep)
    attack = _ffmpeg(ref, ref.with_name("rep-atk.mp4"), *X265, rep + ":cbqpoffs=12:crqpoffs=12")
    sneaky = _swap_config(attack, honest, ref.with_name("sneaky.mp4"))
    assert config_problem("hevc", _hvcc(sneaky)) is None  # the header says nothing wrong ...
    assert config_nals("hevc", _hvcc(sneaky)).length_size == 4
    res = validate_output(sneaky, _expected(ref, "hevc"))  # ... the packets do
    assert res.reasons == [Reason.CHROMA_QP_OFFSET.value], res.messages
    assert "in-band" in res.messages[0] and "+12/+12" in res.messages[0]
    assert validate_output(honest, _expected(ref, "hevc")).ok


def _hvcc(path: Path) -> bytes:
    data = path.read_bytes()
    stsd = find(data, "moov/trak/mdia/minf/stbl/stsd")
    entry = boxes(data, stsd[1] + stsd[2] + 8, stsd[3])[0]
    b = next(b for b in boxes(data, entry[1] + 8 + 78, entry[3]) if b[0] == b"hvcC")
    return data[b[1] + 8 : b[3]]


def test_in_band_scan_is_bounded() -> None:
    flood = b"\x00\x00\x00\x01\x02" * 1001  # 1001 one-byte NAL units in one packet
    scan = InbandScan("hevc", 4)
    scan.packet(flood)
    assert scan.problem is not None and "NAL units" in scan.problem
    pps = hevc_pps_nal()
    many = InbandScan("hevc", 4)
    for _ in range(257):  # honest PPS, but more than any encoder repeats
        many.packet(len(pps).to_bytes(4, "big") + pps)
    assert many.problem is not None and "more than 256" in many.problem
    one = InbandScan("hevc", 4)
    one.packet(len(pps).to_bytes(4, "big") + pps)
    assert one.problem is None and one.pps_seen == 1
