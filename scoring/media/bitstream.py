"""Chroma quantisation an encoder signals in H.264 / HEVC parameter sets, read without a decoder (issue 19).

VMAF reads luma only, so an encoder told to quantise chroma coarser than luma (x265
`cbqpoffs=12:crqpoffs=12`, x264 `chroma-qp-offset=12`) saves bytes at unchanged VMAF. Those
offsets are written in every picture parameter set (PPS); this module parses PPS bodies (and
nothing else of the coded pictures) from the MP4 sample description (`avcC` / `hvcC`) and from
in-band PPS NAL units in the packets, and says what no honest encoder of the miner engine writes
(`chroma_qp_problem`):

- HEVC: `pps_cb_qp_offset` / `pps_cr_qp_offset` above `MAX_CHROMA_QP_OFFSET`; slice-level chroma
  offsets enabled (`pps_slice_chroma_qp_offsets_present_flag`: every slice may then add its own);
  the range extension's CU-level chroma QP offset lists; explicit scaling lists whose chroma
  matrices are coarser than the luma ones.
- H.264: `chroma_qp_index_offset` / `second_chroma_qp_index_offset` above the maximum; an explicit
  PPS scaling matrix whose chroma lists are coarser than the luma ones.

Negative offsets (finer chroma; x264 writes -2..-4 with its psy options) cost the encoder bytes
and are accepted. Measured honest values: `MAX_CHROMA_QP_OFFSET`, and every honest answer of
`benchmarks/calibrate_chroma.py` (which checks this rule too).

Bounded: NAL units are walked by their length prefixes only; a PPS body is parsed only up to its
chroma fields and scaling lists (< 1 kB read); at most `MAX_PPS_PER_STREAM` PPS are parsed and
`MAX_NALS_PER_PACKET` NAL units walked per packet (more is refused).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

MAX_CHROMA_QP_OFFSET = 0
"""Largest chroma QP offset accepted in 4:2:0. Measured: x265 writes 0 at every preset and tune;
x264 0 (ultrafast..faster, tune psnr/ssim), -2 (fast..veryslow), -3 (film), -4 (grain,
stillimage). +1 already pays: x265 cbqpoffs=1 +0.012 S_f, x264 written +1 +0.032 over -2."""
MAX_CHROMA_QP_OFFSET_444 = 7
"""In 4:4:4 x264 adds 6 (chroma at full resolution; honest +4..+6). Such an answer is refused for its
pixel format anyway; the allowance only keeps that the one reason given."""
SCALING_CHROMA_SLACK = 1.0
"""A chroma scaling list may be this much coarser (mean weight) than the luma list it pairs with."""
MAX_PPS_PER_STREAM = 256
MAX_NALS_PER_PACKET = 1000
"""An encoder writes a few NAL units per frame (slices, SEI, parameter sets); a flood of tiny ones would
make the in-band scan walk up to file size / 5 of them."""
HEVC_PPS, HEVC_VPS, HEVC_SPS = 34, 32, 33
H264_PPS = 8


class BitstreamError(ValueError):
    """A parameter set ends early or holds an impossible value."""


def rbsp(nal: bytes) -> bytes:
    """The NAL payload with emulation-prevention bytes (00 00 03) removed."""
    if b"\x00\x00\x03" not in nal:
        return nal
    out = bytearray()
    zeros = 0
    for b in nal:
        if zeros >= 2 and b == 3:
            zeros = 0
            continue
        out.append(b)
        zeros = zeros + 1 if b == 0 else 0
    return bytes(out)


class BitReader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0
        self.end = len(data) * 8

    def u(self, n: int) -> int:
        if self.pos + n > self.end:
            raise BitstreamError("parameter set ends early")
        v = 0
        for _ in range(n):
            v = (v << 1) | ((self.data[self.pos >> 3] >> (7 - (self.pos & 7))) & 1)
            self.pos += 1
        return v

    def ue(self) -> int:
        zeros = 0
        while self.u(1) == 0:
            zeros += 1
            if zeros > 31:
                raise BitstreamError("Exp-Golomb code longer than 32 bits")
        return (1 << zeros) - 1 + self.u(zeros)

    def se(self) -> int:
        k = self.ue()
        return (k + 1) // 2 if k & 1 else -(k // 2)

    def more_rbsp_data(self) -> bool:
        """True while bits other than the rbsp trailing bits (a 1 then zeros) remain."""
        last = len(self.data) - 1
        while last >= 0 and self.data[last] == 0:
            last -= 1
        if last < 0:
            return False
        b = self.data[last]
        stop = last * 8 + 7 - (b & -b).bit_length() + 1  # position of the final 1 bit
        return self.pos < stop


@dataclass(frozen=True)
class ChromaQp:
    """What one PPS signals about chroma quantisation."""

    codec: str
    cb: int
    cr: int
    slice_offsets: bool = False
    cu_offset_lists: bool = False
    scaling_excess: float = 0.0  # largest (chroma mean - luma mean) weight over the explicit lists

    def problem(self, chroma_format: int = 1) -> str | None:
        """Why no honest engine encoder writes this PPS (None when one does); 1 = 4:2:0, 3 = 4:4:4."""
        worst = max(self.cb, self.cr)
        limit = MAX_CHROMA_QP_OFFSET_444 if chroma_format == 3 else MAX_CHROMA_QP_OFFSET
        if worst > limit:
            names = "pps_cb/cr_qp_offset" if self.codec == "hevc" else "chroma_qp_index_offset (first/second)"
            return (
                f"{self.codec} PPS signals chroma QP offsets {self.cb:+d}/{self.cr:+d} ({names}); "
                f"at most {limit:+d}: chroma quantised coarser than the luma VMAF reads"
            )
        if self.slice_offsets:
            return "hevc PPS enables slice-level chroma QP offsets (pps_slice_chroma_qp_offsets_present_flag)"
        if self.cu_offset_lists:
            return "hevc PPS enables CU-level chroma QP offsets (range extension lists or screen-content extension)"
        if self.scaling_excess > SCALING_CHROMA_SLACK:
            return (
                f"{self.codec} scaling lists weight chroma {self.scaling_excess:.1f} coarser than luma "
                "(mean weight): chroma quantised coarser than the luma VMAF reads"
            )
        return None


def _hevc_scaling_lists(r: BitReader) -> float:
    """Parse scaling_list_data(); the largest chroma-minus-luma mean weight over sizes and intra/inter."""
    lists: dict[tuple[int, int], list[int]] = {}
    excess = 0.0
    for size_id in range(4):
        step = 3 if size_id == 3 else 1
        n = min(64, 1 << (4 + (size_id << 1)))
        for matrix_id in range(0, 6, step):
            if r.u(1) == 0:  # pred mode: copy a reference list (or the default: equal for every component)
                delta = r.ue() * (3 if size_id == 3 else 1)
                if delta > matrix_id:
                    raise BitstreamError("scaling_list_pred_matrix_id_delta past the first list")
                src = lists.get((size_id, matrix_id - delta)) if delta else None
                lists[(size_id, matrix_id)] = src if src is not None else [16] * n
            else:
                coef = 8
                if size_id > 1:
                    coef = r.se() + 8
                vals = []
                for _ in range(n):
                    coef = (coef + r.se() + 256) % 256
                    vals.append(coef)
                lists[(size_id, matrix_id)] = vals
        if size_id < 3:
            for luma, chroma in ((0, 1), (0, 2), (3, 4), (3, 5)):
                ly, lc = lists[(size_id, luma)], lists[(size_id, chroma)]
                excess = max(excess, sum(lc) / len(lc) - sum(ly) / len(ly))
    return excess


def hevc_pps(nal: bytes) -> ChromaQp:
    """Chroma fields of an HEVC PPS NAL unit (2-byte NAL header included)."""
    r = BitReader(rbsp(nal[2:]))
    r.ue(), r.ue()  # pps id, sps id
    (
        r.u(1),
        r.u(1),
        r.u(3),
        r.u(1),
        r.u(1),
    )  # dependent slices, output flag, extra bits, sign hiding, cabac init
    r.ue(), r.ue(), r.se()  # num_ref_idx defaults, init_qp_minus26
    r.u(1)  # constrained intra
    transform_skip = r.u(1)
    if r.u(1):  # cu_qp_delta_enabled_flag
        r.ue()
    cb, cr = r.se(), r.se()
    slice_offsets = bool(r.u(1))
    r.u(1), r.u(1), r.u(1)  # weighted pred/bipred, transquant bypass
    tiles, _wpp = r.u(1), r.u(1)
    if tiles:
        cols, rows = r.ue(), r.ue()
        if cols > 64 or rows > 64:
            raise BitstreamError("more tiles than any level allows")
        if not r.u(1):  # uniform_spacing_flag
            for _ in range(cols + rows):
                r.ue()
        r.u(1)
    r.u(1)  # loop filter across slices
    if r.u(1):  # deblocking_filter_control_present_flag
        r.u(1)
        if not r.u(1):
            r.se(), r.se()
    excess = _hevc_scaling_lists(r) if r.u(1) else 0.0
    r.u(1), r.ue(), r.u(1)  # lists_modification, log2_parallel_merge_level, slice header extension
    cu_lists = False
    if r.u(1):  # pps_extension_present_flag
        range_ext, _multilayer, _3d, scc = r.u(1), r.u(1), r.u(1), r.u(1)
        r.u(4)
        if scc:  # screen-content extension: adaptive colour transform with its own chroma QP offsets
            cu_lists = True
        elif range_ext:
            if transform_skip:
                r.ue()  # log2_max_transform_skip_block_size_minus2
            r.u(1)  # cross_component_prediction_enabled_flag
            cu_lists = bool(r.u(1))  # chroma_qp_offset_list_enabled_flag
    return ChromaQp("hevc", cb, cr, slice_offsets, cu_lists, excess)


def h264_pps(nal: bytes) -> ChromaQp:
    """Chroma fields of an H.264 PPS NAL unit (1-byte NAL header included)."""
    r = BitReader(rbsp(nal[1:]))
    r.ue(), r.ue(), r.u(1), r.u(1)  # pps id, sps id, entropy mode, bottom field pic order
    if r.ue():  # num_slice_groups_minus1 (FMO): Baseline/Extended only, no engine encoder writes it
        raise BitstreamError("slice groups (FMO) in the PPS")
    r.ue(), r.ue(), r.u(1), r.u(2), r.se(), r.se()  # ref idx, weighted pred/bipred, init qp/qs
    first = r.se()
    r.u(1), r.u(1), r.u(1)  # deblocking control, constrained intra, redundant pic cnt
    second, excess = first, 0.0
    if r.more_rbsp_data():
        t8x8 = r.u(1)
        if r.u(1):  # pic_scaling_matrix_present_flag (4:2:0: 6 4x4 lists and 2 8x8 lists at most)
            excess = _h264_scaling(r, 6 + 2 * t8x8)
        second = r.se()
    return ChromaQp("h264", first, second, scaling_excess=excess)


def _h264_scaling(r: BitReader, count: int) -> float:
    """Parse the PPS scaling lists; the largest chroma-minus-luma mean weight of the explicit 4x4 lists."""
    means: dict[int, float] = {}
    for i in range(count):
        if not r.u(1):
            continue  # fall-back rule: the default (same weights for Y, Cb, Cr) or the previous list
        n = 16 if i < 6 else 64
        last = nxt = 8
        vals = []
        for _ in range(n):
            if nxt != 0:
                nxt = (last + r.se() + 256) % 256
            last = nxt if nxt != 0 else last
            vals.append(last)
        means[i] = sum(vals) / n
    excess = 0.0
    for luma, chroma in ((0, 1), (0, 2), (3, 4), (3, 5)):
        if chroma in means:
            excess = max(excess, means[chroma] - means.get(luma, 16.0))
    return excess


def pps_of(codec: str, nal: bytes) -> ChromaQp | None:
    """The chroma fields when `nal` is a PPS of `codec` ("hevc" / "h264"), else None."""
    if not nal:
        return None
    if codec == "hevc" and (nal[0] >> 1) & 0x3F == HEVC_PPS and len(nal) > 2:
        return hevc_pps(nal)
    if codec == "h264" and nal[0] & 0x1F == H264_PPS and len(nal) > 1:
        return h264_pps(nal)
    return None


def length_prefixed(data: bytes, length_size: int) -> Iterator[bytes]:
    """NAL units of one MP4 sample (each preceded by its `length_size`-byte big-endian length)."""
    pos, n = 0, len(data)
    while pos + length_size <= n:
        size = int.from_bytes(data[pos : pos + length_size], "big")
        pos += length_size
        if size == 0 or pos + size > n:
            return
        yield data[pos : pos + size]
        pos += size


@dataclass(frozen=True)
class ConfigRecord:
    length_size: int
    nals: list[bytes]
    chroma_format: int = 1  # 0 mono, 1 4:2:0, 2 4:2:2, 3 4:4:4


def config_nals(codec: str, config: bytes) -> ConfigRecord:
    """NAL length size, parameter-set NAL units and chroma format of an `hvcC` / `avcC` record."""
    out: list[bytes] = []
    if codec == "hevc":
        if len(config) < 23:
            raise BitstreamError("hvcC record shorter than its 23-byte header")
        length_size, pos = (config[21] & 3) + 1, 23
        for _ in range(config[22]):
            if pos + 3 > len(config):
                raise BitstreamError("hvcC array runs past the record")
            count = int.from_bytes(config[pos + 1 : pos + 3], "big")
            pos += 3
            for _ in range(count):
                size = int.from_bytes(config[pos : pos + 2], "big")
                out.append(config[pos + 2 : pos + 2 + size])
                pos += 2 + size
        return ConfigRecord(length_size, out, config[16] & 3)
    if len(config) < 7:
        raise BitstreamError("avcC record shorter than its 7-byte header")
    length_size, pos = (config[4] & 3) + 1, 5
    for mask in (0x1F, 0xFF):  # SPS count (5 bits), then PPS count
        if pos >= len(config):
            break
        count = config[pos] & mask
        pos += 1
        for _ in range(count):
            size = int.from_bytes(config[pos : pos + 2], "big")
            out.append(config[pos + 2 : pos + 2 + size])
            pos += 2 + size
    chroma = 1
    if config[1] not in (66, 77, 88) and pos < len(config):  # High profiles: the avcC extension
        chroma = config[pos] & 3
    return ConfigRecord(length_size, out, chroma)


def nals_problem(codec: str, nals: Iterator[bytes] | list[bytes], chroma_format: int = 1) -> str | None:
    """The first PPS among `nals` that no honest engine encoder writes, as a reason (None: all fine)."""
    for nal in nals:
        try:
            qp = pps_of(codec, nal)
        except BitstreamError as exc:
            return f"{codec} PPS cannot be parsed: {exc}"
        if qp is not None and (why := qp.problem(chroma_format)) is not None:
            return why
    return None


def config_problem(codec: str, config: bytes) -> str | None:
    """What the sample description's parameter sets signal that no honest encoder writes."""
    try:
        rec = config_nals(codec, config)
    except (BitstreamError, IndexError) as exc:
        return f"{codec} decoder configuration record cannot be read: {exc}"
    return nals_problem(codec, rec.nals, rec.chroma_format)


class InbandScan:
    """Checks the PPS NAL units found in the packets of one stream (for the probe's packet pass).

    Per packet only the length prefixes and NAL headers are read; PPS bodies are parsed, at most
    `MAX_PPS_PER_STREAM` of them (more PPS than that is itself refused: no encoder writes them)."""

    def __init__(self, codec: str, length_size: int, chroma_format: int = 1) -> None:
        self.codec, self.length_size, self.chroma_format = codec, length_size, chroma_format
        self.pps_seen = 0
        self.problem: str | None = None

    @classmethod
    def for_config(cls, codec: str, config: bytes) -> InbandScan:
        rec = config_nals(codec, config)
        return cls(codec, rec.length_size, rec.chroma_format)

    def packet(self, data: bytes) -> None:
        if self.problem is not None:
            return
        for n, nal in enumerate(length_prefixed(data, self.length_size)):
            if n >= MAX_NALS_PER_PACKET:
                self.problem = f"more than {MAX_NALS_PER_PACKET} NAL units in one packet"
                return
            if not nal:
                continue
            is_pps = (nal[0] >> 1) & 0x3F == HEVC_PPS if self.codec == "hevc" else nal[0] & 0x1F == H264_PPS
            if not is_pps:
                continue
            self.pps_seen += 1
            if self.pps_seen > MAX_PPS_PER_STREAM:
                self.problem = f"more than {MAX_PPS_PER_STREAM} in-band {self.codec} PPS"
                return
            why = nals_problem(self.codec, [nal], self.chroma_format)
            if why is not None:
                self.problem = f"in-band {why}"
                return
