"""Output validation, first step: what the MP4 header declares, before any decoder opens the file (issue 19).

Only what an honest encoder writes is accepted (`scoring.media.mp4box` reads it):

- an `ftyp` box first (a renamed or missing one is `wrong_container`), not fragmented, not QuickTime;
- exactly one track, a video track (`extra_stream`), with one sample description;
- no edit list, or the single trivial entry an encoder writes (rate 1, media time >= 0 within the
  media): anything else is `edit_list` (one entry per frame makes decoding quadratic, one entry
  repeated makes a small file expand into millions of packets);
- sample tables that agree with each other (stsz = stts = stsc/stco = ctts sample counts) and a
  declared sample count within the expected frame count ± tolerance (`sample_table`,
  `frame_count_mismatch`);
- an identity display matrix (`display_matrix`): rotation/flip metadata is applied by ffmpeg
  (VMAF) but not by PyAV (validation, colour check, PIE-APP), so the stages would score different
  pictures; an honest answer keeps the reference's orientation, so it is refused, not applied;
- a frame no larger than the expected one (`wrong_resolution`, the decompression-bomb check);
- parameter sets in the sample description (`hvcC` / `avcC`) that quantise chroma no coarser than
  an honest engine encoder does (`chroma_qp_offset`: `scoring.media.bitstream`; in-band parameter
  sets are checked by the probe's packet pass, `ProbeInfo.chroma_qp_problem`).

Pure: `header_problems` returns (reason value, detail) pairs; `scoring.validation` makes them failures.
"""

from __future__ import annotations

from scoring.media.bitstream import config_problem
from scoring.media.mp4box import IDENTITY_MATRIX, Mp4Header, Mp4Track

CONFIG_CODECS = {"hvcC": "hevc", "avcC": "h264"}


def _edit_problem(track: Mp4Track) -> str | None:
    edits = track.edits
    if not edits and not track.edit_count:
        return None
    if track.edit_count != 1 or not edits:
        return f"the edit list has {track.edit_count} entries; an encoder writes at most one"
    e = edits[0]
    if e.rate != 1.0:
        return f"the edit list plays the media at rate {e.rate:g}"
    if e.media_time < 0:
        return "the edit list's only entry is an empty edit"
    if track.media_duration and e.media_time >= track.media_duration:
        return f"the edit list starts at media time {e.media_time}, past the media ({track.media_duration})"
    return None


def _table_problem(t: Mp4Track) -> str | None:
    if t.table_error:
        return t.table_error
    if t.stsz_count is None:
        return "no sample size table (stsz)"
    if t.sample_entries != 1:
        return f"{t.sample_entries} sample descriptions (stsd), an encoder writes one"
    for name, count in (("stts", t.stts_count), ("stsc/stco", t.stsc_count), ("ctts", t.ctts_count)):
        if name != "ctts" and count is None:
            return f"no {name} table"
        if count is not None and count != t.stsz_count:
            return f"{name} covers {count} samples, stsz declares {t.stsz_count}"
    return None


def header_problems(
    header: Mp4Header, *, width: int, height: int, frame_count: int, frame_tolerance: int
) -> list[tuple[str, str]]:
    """(reason value, detail) for everything the header declares that an honest answer does not."""
    out: list[tuple[str, str]] = []
    if not header.has_ftyp:
        out.append(("wrong_container", "no ftyp box at the start of the file (missing or renamed)"))
    elif header.major_brand.strip().lower() == "qt":
        out.append(("wrong_container", "QuickTime file (brand 'qt'), expected mp4"))
    if header.fragmented:
        out.append(("wrong_container", "fragmented MP4 (mvex/moof), an encoder's plain MP4 is expected"))
    videos = header.video_tracks
    if len(header.tracks) != 1 or len(videos) != 1:
        kinds = ", ".join(t.handler or "?" for t in header.tracks) or "none"
        out.append(
            ("extra_stream", f"{len(header.tracks)} tracks ({kinds}); exactly one video stream is accepted")
        )
    if not videos:
        return out
    track = videos[0]
    if track.pixels > width * height:
        out.append(
            (
                "wrong_resolution",
                f"resolution is {track.width}x{track.height} (declared by the MP4 header, not decoded), "
                f"expected {width}x{height}",
            )
        )
    edit = _edit_problem(track)
    if edit is not None:
        out.append(("edit_list", edit))
    table = _table_problem(track)
    if table is not None:
        out.append(("sample_table", table))
    elif track.stsz_count is not None and abs(track.stsz_count - frame_count) > frame_tolerance:
        out.append(
            (
                "frame_count_mismatch",
                f"{track.stsz_count} frames, expected {frame_count} ± {frame_tolerance} "
                "(declared by the MP4 header, not decoded)",
            )
        )
    codec = CONFIG_CODECS.get(track.config_box)
    if codec is not None and (qp := config_problem(codec, track.config)) is not None:
        out.append(("chroma_qp_offset", qp))
    if tuple(track.matrix) != IDENTITY_MATRIX:
        out.append(
            ("display_matrix", "the track has a rotation/flip display matrix; frames must be stored upright")
        )
    return out
