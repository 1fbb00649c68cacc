"""``model`` engine: a super-resolution network in torch, streamed.

PyAV decodes (background thread, bounded queue) -> Y'CbCr to RGB in float with the clip's own
matrix and range -> network in frame batches and overlapping tiles (CUDA + fp16 when present,
CPU float32 otherwise) -> RGB back to 4:2:0 with the same matrix -> raw frames piped into an
ffmpeg encoder. No frame ever touches the disk; memory is a few batches of tiles.
"""

from __future__ import annotations

import os
import pickle
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from loguru import logger
from torch.nn import functional as F  # noqa: N812

from scoring.media.ffmpeg import ffmpeg_exe
from services.upscaling.arch import NetworkSpec, UnknownArchitecture, build_network
from services.upscaling.base import ProgressFn, UpscaleOutcome, validate_request
from services.upscaling.colour import ColourInfo, rgb_to_yuv420, yuv420_to_rgb
from services.upscaling.encode import (
    RawEncoder,
    cap_maxrate,
    codec_args,
    elapsed_since,
    enforce_size_cap,
    partial_output,
)
from services.upscaling.errors import UpscaleError, check_deadline
from services.upscaling.inference import TiledUpscaler
from services.upscaling.outcome import read_outcome
from services.upscaling.paths import DEFAULT_MODEL_FILE
from services.upscaling.settings import UpscaleSettings
from services.upscaling.source import FrameBatches, Planes, inspect_input
from services.upscaling.weights import WeightsUnavailable, ensure_converted


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Use ``n`` intra-op CPU threads inside the block (0 = leave as is); restore afterwards."""
    before = torch.get_num_threads()
    if n > 0:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if n > 0:
            torch.set_num_threads(before)


def resolve_device(requested: str) -> torch.device:
    if requested == "cuda" or (requested == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise UpscaleError("device 'cuda' requested but torch sees no CUDA device")
        return torch.device("cuda")
    return torch.device("cpu")


def load_weights(settings: UpscaleSettings) -> tuple[torch.nn.Module, NetworkSpec, Path]:
    """Load the configured weights file (converting the bundled default on first use)."""
    path = settings.model_weights.expanduser()
    if not path.is_file():
        if settings.weights_path is not None:
            raise UpscaleError(f"configured SR weights {path} do not exist")
        try:
            ensure_converted(settings.weights_dir, only=(DEFAULT_MODEL_FILE,))
        except (WeightsUnavailable, OSError, ValueError) as exc:
            raise UpscaleError(f"default SR weights missing at {path} and conversion failed: {exc}") from exc
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        net, spec = build_network(state)
    except UnknownArchitecture as exc:
        raise UpscaleError(f"SR weights {path}: {exc}") from exc
    except (OSError, RuntimeError, ValueError, EOFError, pickle.UnpicklingError) as exc:
        raise UpscaleError(f"SR weights {path} cannot be read as a torch state dict: {exc}") from exc
    return net, spec, path


class ModelEngine:
    name = "model"

    def __init__(self, settings: UpscaleSettings) -> None:
        self.settings = settings
        self.ffmpeg = ffmpeg_exe(settings.ffmpeg_path)
        self.device = resolve_device(settings.device)
        net, self.spec, self.weights = load_weights(settings)
        dtype = torch.float16 if self.device.type == "cuda" else torch.float32
        self.net = net.to(self.device, dtype)
        overlap = int(getattr(net, "receptive_radius", 16))
        self.upscaler = TiledUpscaler(self.net, self.spec.scale, overlap, tile=settings.tile, dtype=dtype)
        logger.info(
            "model engine: {} x{} ({} feat, depth {}) from {} on {} ({})",
            self.spec.arch, self.spec.scale, self.spec.num_feat, self.spec.depth, self.weights, self.device, dtype,
        )  # fmt: skip

    @torch.inference_mode()
    def process_batch(
        self, planes: list[Planes], scale: int, target: tuple[int, int], colour: ColourInfo
    ) -> list[bytes]:
        """Upscale one batch of 4:2:0 frames; return raw yuv420p frames of ``target`` size."""
        dev = self.device

        def stack(i: int) -> torch.Tensor:
            return torch.from_numpy(np.stack([p[i] for p in planes]))[:, None].to(dev, non_blocking=True)

        rgb = yuv420_to_rgb(stack(0), stack(1), stack(2), colour)
        out = self.upscaler(rgb, scale)
        tw, th = target
        if tuple(out.shape[-2:]) != (th, tw):
            out = F.interpolate(out, size=(th, tw), mode="bicubic", align_corners=False, antialias=True)
        y, u, v = (t.cpu().numpy() for t in rgb_to_yuv420(out, colour))
        return [y[i].tobytes() + u[i].tobytes() + v[i].tobytes() for i in range(len(planes))]

    def upscale(
        self,
        input_path: Path,
        output_path: Path,
        *,
        scale: int,
        target: tuple[int, int],
        deadline: float | None = None,
        progress: ProgressFn | None = None,
    ) -> UpscaleOutcome:
        started = time.monotonic()
        tw, th = validate_request(scale, target)
        check_deadline(deadline, "before starting")
        src = inspect_input(Path(input_path))
        notes: list[str] = []
        if (src.width * scale, src.height * scale) != (tw, th):
            notes.append(f"input {src.width}x{src.height} x{scale} != target {tw}x{th}: resized to target")
        s = self.settings
        cap = int(s.size_ratio(scale) * src.size_bytes)
        tags = src.colour.ffmpeg_tags()
        crf, preset = s.effective_crf, s.effective_preset
        done = 0
        with partial_output(Path(output_path)) as tmp:
            enc = RawEncoder(
                self.ffmpeg, tmp, width=tw, height=th, fps=src.fps, colour_tags=tags,
                codec_opts=codec_args(s.codec, crf, preset, s.threads, cap_maxrate(cap, src.duration_s), src.duration_s),
                queue_frames=2 * s.batch,
            )  # fmt: skip
            try:
                with (
                    torch_threads(s.threads if self.device.type == "cpu" else 0),
                    FrameBatches(src.path, s.batch) as batches,
                ):
                    for planes in batches:
                        check_deadline(deadline, f"after {done}/{src.frames} frames (model)")
                        for raw in self.process_batch(planes, scale, (tw, th), src.colour):
                            enc.write(raw, deadline)
                        done += len(planes)
                        if progress is not None:
                            progress(done, max(src.frames, done))
                enc.finish(deadline)
            except BaseException:
                enc.abort()
                raise
            crf, reencoded = enforce_size_cap(
                self.ffmpeg, tmp, cap_bytes=cap, codec=s.codec, crf=crf, preset=preset,
                threads=s.threads, colour_tags=tags, deadline=deadline,
            )  # fmt: skip
            outcome = read_outcome(
                tmp, Path(output_path), engine=self.name, crf=crf, device=self.device.type,
                started=started, reencoded=reencoded, notes=notes,
            )  # fmt: skip
            if outcome.frames != done:
                raise UpscaleError(f"encoder wrote {outcome.frames} frames, {done} were sent")
            os.replace(tmp, output_path)
        logger.info(
            "model x{} {} -> {}x{} in {:.2f} s ({} frames, {:.2f} fps, {} B)",
            scale, src.path.name, tw, th, elapsed_since(started), done,
            done / max(elapsed_since(started), 1e-6), outcome.size_bytes,
        )  # fmt: skip
        return outcome
