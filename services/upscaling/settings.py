"""Settings of the miner's upscaling engines (a plain pydantic section; the miner config embeds it)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from services.upscaling.paths import DEFAULT_MODEL_FILE, default_weights_dir

EngineName = Literal["model", "lanczos"]
CodecName = Literal["hevc", "av1", "h264"]

DEFAULT_CRF: dict[str, int] = {"hevc": 20, "av1": 30, "h264": 18}
DEFAULT_PRESET: dict[str, str] = {"hevc": "fast", "av1": "8", "h264": "fast"}


class UpscaleSettings(BaseModel):
    """Configuration of the miner's upscaling engine (a plain pydantic section; the miner config embeds
    it, env prefix `VIDAIO_MINER__UPSCALING__`)."""

    model_config = ConfigDict(extra="forbid")

    engine: EngineName = Field(
        "lanczos",
        description="'lanczos' (ffmpeg scaling; default: runs anywhere in real time) or 'model' (torch SR: "
        "+8 VMAF at x4, on par at x2 in benchmarks/bench_upscaling.py, but ~90 s per 540p frame on 2 CPU cores: GPU only)",
    )
    weights_path: Path | None = Field(
        None,
        description="SR weights (.pth state dict: SRVGGNetCompact or RRDBNet); default: converted animevideov3",
    )
    weights_dir: Path = Field(
        default_factory=default_weights_dir,
        description="cache of converted weights ($VIDAIO_WEIGHTS_DIR or ~/.cache/vidaio/weights)",
    )
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="torch device; auto = CUDA (fp16) if present"
    )
    tile: int = Field(
        512, ge=0, le=8192, description="tile edge in input pixels for the model (0 = whole frame)"
    )
    batch: int = Field(4, ge=1, le=256, description="frames per model batch")
    codec: CodecName = Field(
        "hevc", description="output codec: hevc (libx265), av1 (libsvtav1) or h264 (libx264)"
    )
    crf: int | None = Field(
        None, ge=0, le=63, description="encoder CRF; default per codec (hevc 20, av1 30, h264 18)"
    )
    preset: str | None = Field(
        None, description="encoder preset; default per codec (hevc/h264 'fast', av1 '8')"
    )
    threads: int = Field(0, ge=0, le=1024, description="encoder and torch CPU threads (0 = library default)")
    max_size_ratio_x2: float = Field(
        8.0, gt=0, description="output size cap for x2, as a multiple of the input size"
    )
    max_size_ratio_x4: float = Field(
        20.0, gt=0, description="output size cap for x4, as a multiple of the input size"
    )
    ffmpeg_path: str | None = Field(None, description="ffmpeg binary (default: the imageio-ffmpeg wheel's)")

    @property
    def effective_crf(self) -> int:
        return self.crf if self.crf is not None else DEFAULT_CRF[self.codec]

    @property
    def effective_preset(self) -> str:
        return self.preset if self.preset is not None else DEFAULT_PRESET[self.codec]

    @property
    def model_weights(self) -> Path:
        return self.weights_path if self.weights_path is not None else self.weights_dir / DEFAULT_MODEL_FILE

    def size_ratio(self, scale: int) -> float:
        """Allowed output/input size ratio: x2 and x4 from config, other scales interpolated by pixel count."""
        if scale <= 2:
            return self.max_size_ratio_x2
        if scale >= 4:
            return self.max_size_ratio_x4
        frac = (scale * scale - 4) / 12
        return self.max_size_ratio_x2 + frac * (self.max_size_ratio_x4 - self.max_size_ratio_x2)
