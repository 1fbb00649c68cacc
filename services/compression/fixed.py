"""The lazy baseline engine: one CRF per threshold tier and codec."""

from __future__ import annotations

from pathlib import Path

from .common import CompressionOutcome, Progress, TaskScope, check_task, publish
from .encoder import encode
from .errors import CompressionFailed
from .settings import CompressionSettings


class FixedCrfEngine:
    """The lazy baseline: one CRF per threshold tier and codec, no search, no verification."""

    name = "fixed"

    def __init__(self, settings: CompressionSettings | None = None) -> None:
        self.settings = settings or CompressionSettings()

    def compress(
        self,
        input_path: Path,
        output_path: Path,
        *,
        codec: str,
        vmaf_threshold: float,
        deadline: float | None = None,
        progress: Progress | None = None,
    ) -> CompressionOutcome:
        info = check_task(Path(input_path), codec, vmaf_threshold)
        s = self.settings
        crf = s.tier_crf(codec, vmaf_threshold)
        task = TaskScope(s, deadline, progress)
        try:
            out = task.dir / "final.mp4"
            task.say(f"fixed: {codec} CRF {crf} for threshold {vmaf_threshold:g}")
            encode(
                Path(input_path), out, codec, crf, preset=s.preset(codec), threads=s.threads, deadline=task.deadline,
                **s.encoder_options(codec),
            )
            size = out.stat().st_size
            if size >= info.size_bytes:
                raise CompressionFailed(f"CRF {crf} output ({size} B) is not smaller than the input ({info.size_bytes} B)")
            publish(out, Path(output_path))
            return CompressionOutcome(
                engine=self.name, codec=codec, crf=crf, vmaf=None, vmaf_harmonic_mean=None,
                size_bytes=size, input_size_bytes=info.size_bytes, probes=[],
                seconds=task.elapsed(), fell_back=False, verified=False,
            )  # fmt: skip
        finally:
            task.close()

