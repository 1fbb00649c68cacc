"""Run an SR network over frames: reflect-padded borders, overlapping tiles, per-tile resize.

The frame is reflect-padded by ``BORDER_PAD`` input pixels (as Real-ESRGAN and its ncnn build do),
then cut into tiles that overlap by the network's receptive radius, so a tiled run equals an
untiled one (exactly for SRVGGNetCompact). When the requested scale differs from the network's
native scale, each tile's output is resized (bicubic, like the ncnn x2/x3 models) before it is
pasted, so memory stays bounded by the tile size, not by the native-scale frame.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F  # noqa: N812

BORDER_PAD = 10


def _starts(length: int, tile: int) -> list[int]:
    if tile <= 0 or tile >= length:
        return [0]
    return list(range(0, length, tile))


class TiledUpscaler:
    """Apply ``net`` (native scale ``native``) to RGB batches and deliver ``scale``x output."""

    def __init__(self, net: nn.Module, native: int, overlap: int, *, tile: int, dtype: torch.dtype) -> None:
        self.net = net
        self.native = native
        self.overlap = overlap
        self.tile = tile
        self.dtype = dtype

    def _resize(self, x: Tensor, size: tuple[int, int]) -> Tensor:
        if tuple(x.shape[-2:]) == size:
            return x
        return F.interpolate(x.float(), size=size, mode="bicubic", align_corners=False).to(x.dtype)

    @torch.inference_mode()
    def __call__(self, rgb: Tensor, scale: int) -> Tensor:
        """[B,3,H,W] float -> [B,3,H*scale,W*scale] float32 (unclamped)."""
        b, c, h, w = rgb.shape
        pad_h, pad_w = min(BORDER_PAD, h - 1), min(BORDER_PAD, w - 1)
        padded = pad_h > 0 and pad_w > 0
        x = rgb.to(self.dtype)
        if padded:
            x = F.pad(x, (pad_w, pad_w, pad_h, pad_h), mode="reflect")
        ph, pw = x.shape[-2:]
        out = torch.empty((b, c, ph * scale, pw * scale), dtype=self.dtype, device=rgb.device)
        ov = self.overlap
        for y0 in _starts(ph, self.tile):
            y1 = ph if self.tile <= 0 else min(y0 + self.tile, ph)
            ey0, ey1 = max(y0 - ov, 0), min(y1 + ov, ph)
            for x0 in _starts(pw, self.tile):
                x1 = pw if self.tile <= 0 else min(x0 + self.tile, pw)
                ex0, ex1 = max(x0 - ov, 0), min(x1 + ov, pw)
                part = self.net(x[:, :, ey0:ey1, ex0:ex1])
                part = self._resize(part, ((ey1 - ey0) * scale, (ex1 - ex0) * scale))
                oy, ox = (y0 - ey0) * scale, (x0 - ex0) * scale
                out[:, :, y0 * scale : y1 * scale, x0 * scale : x1 * scale] = part[
                    :, :, oy : oy + (y1 - y0) * scale, ox : ox + (x1 - x0) * scale
                ]
        if padded:
            out = out[:, :, pad_h * scale : (pad_h + h) * scale, pad_w * scale : (pad_w + w) * scale]
        return out.float()
