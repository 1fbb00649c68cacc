"""Read a finished encode back (PyAV probe) into an ``UpscaleOutcome``."""

from __future__ import annotations

import time
from pathlib import Path

from scoring.media.probe import ProbeError, probe
from services.upscaling.base import UpscaleOutcome
from services.upscaling.errors import UpscaleError


def read_outcome(
    produced: Path,
    final_path: Path,
    *,
    engine: str,
    crf: int,
    device: str,
    started: float,
    reencoded: bool = False,
    notes: list[str] | None = None,
) -> UpscaleOutcome:
    """Probe ``produced`` (the temp file) and describe it as it will be at ``final_path``."""
    try:
        info = probe(produced, count_frames=True)
    except ProbeError as exc:
        raise UpscaleError(f"the encoder produced an unreadable file: {exc}") from exc
    return UpscaleOutcome(
        output_path=final_path,
        engine=engine,
        width=info.width,
        height=info.height,
        frames=info.frame_count,
        fps=info.avg_fps,
        codec=info.codec,
        size_bytes=info.size_bytes,
        elapsed_s=round(time.monotonic() - started, 3),
        crf=crf,
        device=device,
        reencoded=reencoded,
        notes=list(notes or []),
    )
