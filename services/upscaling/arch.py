"""Super-resolution network definitions (our own; no basicsr/realesrgan/spandrel dependency).

- ``SRVGGNetCompact``: the Real-ESRGAN "compact" VGG-style net (``realesr-animevideov3``,
  ``realesr-general-x4v3``): conv + PReLU stack at input resolution, pixel shuffle, plus a
  nearest-neighbour upsampled copy of the input as a residual.
- ``RRDBNet``: the ESRGAN / Real-ESRGAN x4plus generator (residual-in-residual dense blocks).

``build_network(state_dict)`` recognises which one a state dict belongs to from its keys and
shapes, builds it and loads the weights (strict), so any compatible ``.pth`` can be configured.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn import functional as F  # noqa: N812


class SRVGGNetCompact(nn.Module):
    """Real-ESRGAN compact network. Layer indices match the upstream ``body.N`` key layout."""

    def __init__(
        self,
        num_in_ch: int = 3,
        num_out_ch: int = 3,
        num_feat: int = 64,
        num_conv: int = 16,
        upscale: int = 4,
    ) -> None:
        super().__init__()
        self.upscale = upscale
        self.num_conv = num_conv
        layers: list[nn.Module] = [nn.Conv2d(num_in_ch, num_feat, 3, 1, 1), nn.PReLU(num_parameters=num_feat)]
        for _ in range(num_conv):
            layers += [nn.Conv2d(num_feat, num_feat, 3, 1, 1), nn.PReLU(num_parameters=num_feat)]
        layers.append(nn.Conv2d(num_feat, num_out_ch * upscale * upscale, 3, 1, 1))
        self.body = nn.ModuleList(layers)
        self.upsampler = nn.PixelShuffle(upscale)

    @property
    def receptive_radius(self) -> int:
        """Input pixels on each side that influence one output pixel (one per 3x3 conv)."""
        return self.num_conv + 2

    def forward(self, x: Tensor) -> Tensor:
        out = x
        for layer in self.body:
            out = layer(out)
        out = self.upsampler(out)
        return out + F.interpolate(x, scale_factor=self.upscale, mode="nearest")


class ResidualDenseBlock(nn.Module):
    """Five densely connected 3x3 convs with LeakyReLU(0.2); output scaled by 0.2 plus input."""

    def __init__(self, num_feat: int = 64, num_grow_ch: int = 32) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(num_feat, num_grow_ch, 3, 1, 1)
        self.conv2 = nn.Conv2d(num_feat + num_grow_ch, num_grow_ch, 3, 1, 1)
        self.conv3 = nn.Conv2d(num_feat + 2 * num_grow_ch, num_grow_ch, 3, 1, 1)
        self.conv4 = nn.Conv2d(num_feat + 3 * num_grow_ch, num_grow_ch, 3, 1, 1)
        self.conv5 = nn.Conv2d(num_feat + 4 * num_grow_ch, num_feat, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(negative_slope=0.2, inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        x1 = self.lrelu(self.conv1(x))
        x2 = self.lrelu(self.conv2(torch.cat((x, x1), 1)))
        x3 = self.lrelu(self.conv3(torch.cat((x, x1, x2), 1)))
        x4 = self.lrelu(self.conv4(torch.cat((x, x1, x2, x3), 1)))
        x5 = self.conv5(torch.cat((x, x1, x2, x3, x4), 1))
        return x5 * 0.2 + x


class RRDB(nn.Module):
    """Residual in residual dense block."""

    def __init__(self, num_feat: int, num_grow_ch: int = 32) -> None:
        super().__init__()
        self.rdb1 = ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb2 = ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb3 = ResidualDenseBlock(num_feat, num_grow_ch)

    def forward(self, x: Tensor) -> Tensor:
        out = self.rdb3(self.rdb2(self.rdb1(x)))
        return out * 0.2 + x


class RRDBNet(nn.Module):
    """ESRGAN generator, x4 (two nearest x2 upsampling stages), Real-ESRGAN key layout."""

    def __init__(
        self,
        num_in_ch: int = 3,
        num_out_ch: int = 3,
        num_feat: int = 64,
        num_block: int = 23,
        num_grow_ch: int = 32,
    ) -> None:
        super().__init__()
        self.upscale = 4
        self.num_block = num_block
        self.conv_first = nn.Conv2d(num_in_ch, num_feat, 3, 1, 1)
        self.body = nn.Sequential(*[RRDB(num_feat, num_grow_ch) for _ in range(num_block)])
        self.conv_body = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_up1 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_up2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_hr = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_last = nn.Conv2d(num_feat, num_out_ch, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(negative_slope=0.2, inplace=True)

    @property
    def receptive_radius(self) -> int:
        """Nominal radius used as tile overlap; the exact one is far larger, contributions fade fast."""
        return 16

    def forward(self, x: Tensor) -> Tensor:
        feat = self.conv_first(x)
        feat = feat + self.conv_body(self.body(feat))
        feat = self.lrelu(self.conv_up1(F.interpolate(feat, scale_factor=2, mode="nearest")))
        feat = self.lrelu(self.conv_up2(F.interpolate(feat, scale_factor=2, mode="nearest")))
        return self.conv_last(self.lrelu(self.conv_hr(feat)))


@dataclass(frozen=True)
class NetworkSpec:
    """What a state dict describes: the architecture name and its hyper-parameters."""

    arch: str  # "compact" | "rrdb"
    scale: int
    num_feat: int
    depth: int  # compact: num_conv; rrdb: num_block
    num_in_ch: int = 3
    num_out_ch: int = 3
    num_grow_ch: int = 32  # rrdb only


class UnknownArchitecture(ValueError):
    """The state dict matches none of the supported architectures."""


def unwrap_state_dict(obj: object) -> dict[str, Tensor]:
    """Accept a bare state dict or the ``{"params_ema"|"params"|"state_dict": ...}`` wrappers."""
    if not isinstance(obj, Mapping):
        raise UnknownArchitecture(f"weights file holds a {type(obj).__name__}, not a state dict")
    for key in ("params_ema", "params", "state_dict"):
        inner = obj.get(key)
        if isinstance(inner, Mapping):
            obj = inner
            break
    sd = {str(k).removeprefix("module."): v for k, v in obj.items()}
    if not sd or not all(isinstance(v, Tensor) for v in sd.values()):
        raise UnknownArchitecture("weights file is not a mapping of parameter names to tensors")
    return sd


def detect_spec(sd: Mapping[str, Tensor]) -> NetworkSpec:
    """Recognise the architecture and its hyper-parameters from a state dict's keys and shapes."""
    if "conv_first.weight" in sd and "conv_last.weight" in sd:
        blocks = {int(k.split(".")[1]) for k in sd if k.startswith("body.") and ".rdb1." in k}
        if not blocks or "body.0.rdb1.conv1.weight" not in sd:
            raise UnknownArchitecture("RRDBNet state dict has no body.N.rdb1 blocks")
        return NetworkSpec(
            "rrdb",
            4,
            int(sd["conv_first.weight"].shape[0]),
            len(blocks),
            num_in_ch=int(sd["conv_first.weight"].shape[1]),
            num_out_ch=int(sd["conv_last.weight"].shape[0]),
            num_grow_ch=int(sd["body.0.rdb1.conv1.weight"].shape[0]),
        )
    if "body.0.weight" in sd:
        indices = sorted({int(k.split(".")[1]) for k in sd if k.startswith("body.")})
        last = sd[f"body.{indices[-1]}.weight"]
        if last.ndim != 4 or len(indices) < 3 or len(indices) % 2 == 0:
            raise UnknownArchitecture("body.* keys do not form an SRVGGNetCompact conv/PReLU stack")
        first = sd["body.0.weight"]
        out_ch = 3
        scale = round((int(last.shape[0]) / out_ch) ** 0.5)
        if scale * scale * out_ch != int(last.shape[0]):
            raise UnknownArchitecture(f"last conv has {last.shape[0]} channels, not 3*scale^2")
        return NetworkSpec(
            "compact", scale, int(first.shape[0]), (len(indices) - 3) // 2, num_in_ch=int(first.shape[1])
        )
    raise UnknownArchitecture(
        "state dict keys match neither SRVGGNetCompact (body.N) nor RRDBNet (conv_first)"
    )


def make_network(spec: NetworkSpec) -> SRVGGNetCompact | RRDBNet:
    if spec.arch == "compact":
        return SRVGGNetCompact(spec.num_in_ch, spec.num_out_ch, spec.num_feat, spec.depth, spec.scale)
    if spec.arch == "rrdb":
        return RRDBNet(spec.num_in_ch, spec.num_out_ch, spec.num_feat, spec.depth, spec.num_grow_ch)
    raise UnknownArchitecture(f"unknown architecture {spec.arch!r}")


def build_network(state: object) -> tuple[SRVGGNetCompact | RRDBNet, NetworkSpec]:
    """Build the network a state dict describes and load it strictly (shape mismatch -> ValueError)."""
    sd = unwrap_state_dict(state)
    spec = detect_spec(sd)
    net = make_network(spec)
    try:
        net.load_state_dict(sd, strict=True)
    except RuntimeError as exc:
        raise UnknownArchitecture(f"state dict does not fit {spec.arch} {spec}: {exc}") from exc
    return net.eval(), spec
