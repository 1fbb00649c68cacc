"""Colour handling for the model engine: the clip's own matrix and range, float precision.

A careless RGB round trip (wrong matrix, full vs limited range, 8-bit RGB rounding) costs VMAF
points on its own (media notes §4: ~8 points). Here Y'CbCr -> RGB -> model -> RGB -> Y'CbCr runs in
float32 on the device with the matrix and range read from the input stream, and the output is
tagged with the same colour properties. With an identity model the luma plane survives the
round trip to within rounding (tested), so any loss is the model's, not the plumbing's.

Chroma siting: 4:2:0 "left" (MPEG-2/H.264/HEVC default): chroma samples are horizontally
co-sited with even luma columns and vertically halfway between luma rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor
from torch.nn import functional as F  # noqa: N812

# AVColorSpace value -> (Kr, Kb, ffmpeg -colorspace name)
_MATRICES: dict[int, tuple[float, float, str]] = {
    1: (0.2126, 0.0722, "bt709"),
    4: (0.30, 0.11, "fcc"),
    5: (0.299, 0.114, "bt470bg"),
    6: (0.299, 0.114, "smpte170m"),
    7: (0.212, 0.087, "smpte240m"),
    9: (0.2627, 0.0593, "bt2020nc"),
}
_PRIMARIES = {1: "bt709", 4: "bt470m", 5: "bt470bg", 6: "smpte170m", 7: "smpte240m", 8: "film", 9: "bt2020"}
_TRC = {
    1: "bt709",
    4: "gamma22",
    5: "gamma28",
    6: "smpte170m",
    7: "smpte240m",
    8: "linear",
    13: "iec61966-2-1",
    14: "bt2020-10",
    15: "bt2020-12",
    16: "smpte2084",
    18: "arib-std-b67",
}
AVCOL_RANGE_JPEG = 2


@dataclass(frozen=True)
class ColourInfo:
    """Colour properties of a stream: AVColor* codes as PyAV reports them (2 = unspecified)."""

    matrix: int = 2
    primaries: int = 2
    trc: int = 2
    range: int = 0
    height: int = 0  # used to guess the matrix when it is unspecified

    @property
    def full_range(self) -> bool:
        return self.range == AVCOL_RANGE_JPEG

    @property
    def coefficients(self) -> tuple[float, float]:
        """(Kr, Kb) of the matrix; unspecified -> BT.709 for HD (>= 720 lines), else BT.601."""
        if self.matrix in _MATRICES:
            kr, kb, _ = _MATRICES[self.matrix]
            return kr, kb
        return (0.2126, 0.0722) if self.height >= 720 else (0.299, 0.114)

    def ffmpeg_tags(self) -> list[str]:
        """Output options that tag the encode with the same colour properties as the input."""
        args = ["-color_range", "pc" if self.full_range else "tv"]
        if self.matrix in _MATRICES:
            args += ["-colorspace", _MATRICES[self.matrix][2]]
        if self.primaries in _PRIMARIES:
            args += ["-color_primaries", _PRIMARIES[self.primaries]]
        if self.trc in _TRC:
            args += ["-color_trc", _TRC[self.trc]]
        return args


def _code_scale(full: bool) -> tuple[float, float, float]:
    """(luma offset, luma span, chroma span) of 8-bit code values."""
    return (0.0, 255.0, 255.0) if full else (16.0, 219.0, 224.0)


def upsample_chroma(c: Tensor, height: int, width: int) -> Tensor:
    """[B,1,h,w] 4:2:0 chroma -> [B,1,height,width], bilinear, left siting."""
    # vertical: centred between rows -> standard half-pixel bilinear
    c = F.interpolate(c, size=(height, c.shape[-1]), mode="bilinear", align_corners=False)
    # horizontal: co-sited with even columns -> even = sample, odd = mean of the two neighbours
    right = torch.cat([c[..., 1:], c[..., -1:]], dim=-1)
    out = torch.stack([c, (c + right) * 0.5], dim=-1).flatten(-2)
    return out[..., :width]


def downsample_chroma(c: Tensor) -> Tensor:
    """[B,1,H,W] full-resolution chroma -> 4:2:0 (left siting): [1,2,1]/4 on even columns, row pairs averaged."""
    if c.shape[-2] % 2 or c.shape[-1] % 2:
        c = F.pad(c, (0, c.shape[-1] % 2, 0, c.shape[-2] % 2), mode="replicate")
    c = (c[..., 0::2, :] + c[..., 1::2, :]) * 0.5
    left = torch.cat([c[..., :1], c[..., :-1]], dim=-1)
    return (left[..., 0::2] + 2 * c[..., 0::2] + c[..., 1::2]) * 0.25


def yuv420_to_rgb(y: Tensor, u: Tensor, v: Tensor, info: ColourInfo) -> Tensor:
    """uint8/float code values [B,1,H,W], [B,1,h,w] x2 -> RGB float [B,3,H,W] nominally in [0,1] (unclamped)."""
    kr, kb = info.coefficients
    kg = 1.0 - kr - kb
    off, ys, cs = _code_scale(info.full_range)
    h, w = y.shape[-2:]
    yf = (y.float() - off) / ys
    pb = (upsample_chroma(u.float(), h, w) - 128.0) / cs
    pr = (upsample_chroma(v.float(), h, w) - 128.0) / cs
    r = yf + 2.0 * (1.0 - kr) * pr
    b = yf + 2.0 * (1.0 - kb) * pb
    g = (yf - kr * r - kb * b) / kg
    return torch.cat([r, g, b], dim=1)


def rgb_to_yuv420(rgb: Tensor, info: ColourInfo) -> tuple[Tensor, Tensor, Tensor]:
    """RGB float [B,3,H,W] -> uint8 code values (Y [B,1,H,W], U, V [B,1,ceil(H/2),ceil(W/2)])."""
    kr, kb = info.coefficients
    kg = 1.0 - kr - kb
    off, ys, cs = _code_scale(info.full_range)
    rgb = rgb.float()
    r, g, b = rgb[:, 0:1], rgb[:, 1:2], rgb[:, 2:3]
    yf = kr * r + kg * g + kb * b
    pb = (b - yf) / (2.0 * (1.0 - kb))
    pr = (r - yf) / (2.0 * (1.0 - kr))

    def q(t: Tensor) -> Tensor:
        return t.round().clamp(0, 255).to(torch.uint8)

    return q(off + ys * yf), q(128.0 + cs * downsample_chroma(pb)), q(128.0 + cs * downsample_chroma(pr))
