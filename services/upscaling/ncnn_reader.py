"""Reader for ncnn ``.param`` / ``.bin`` model files (the subset Real-ESRGAN models use).

Binary layout (ncnn ``ModelBinFromDataReader``), in layer order of the ``.param`` file:
- ``Convolution``: weights loaded with type 0 = a 4-byte flag, then the data. Flag tag
  ``0x01306B47`` = fp16 values (padded to 4 bytes); an all-zero flag = raw fp32. Then, if
  ``bias_term`` (param 5) is set, ``num_output`` raw fp32 biases (type 1, no flag).
- ``PReLU``: ``num_slope`` (param 0) raw fp32 slopes.
Other layers (Split, Concat, Eltwise, BinaryOp, Interp, PixelShuffle) carry no weights.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

MAGIC = 7767517
FP16_TAG = 0x01306B47


class NcnnFormatError(ValueError):
    """The .param/.bin pair is malformed or uses a feature this reader does not support."""


@dataclass
class NcnnLayer:
    type: str
    name: str
    inputs: list[str]
    outputs: list[str]
    params: dict[int, str] = field(default_factory=dict)

    def int_param(self, key: int, default: int = 0) -> int:
        return int(self.params.get(key, default))

    def float_param(self, key: int, default: float = 0.0) -> float:
        return float(self.params.get(key, default))


@dataclass
class NcnnConv:
    name: str
    weight: np.ndarray  # float32 [out, in, kh, kw]
    bias: np.ndarray | None  # float32 [out]
    activation: int  # ncnn activation_type (0 none, 1 relu, 2 leakyrelu, ...)


@dataclass
class NcnnPReLU:
    name: str
    slopes: np.ndarray  # float32 [num_slope]


def parse_param(path: Path) -> list[NcnnLayer]:
    """Parse a text ``.param`` file into layers (header checked)."""
    lines = [ln.strip() for ln in path.read_text(encoding="ascii").splitlines() if ln.strip()]
    if len(lines) < 2 or lines[0] != str(MAGIC):
        raise NcnnFormatError(
            f"{path.name}: not an ncnn text param file (magic {lines[0] if lines else '-'!r})"
        )
    layer_count = int(lines[1].split()[0])
    layers: list[NcnnLayer] = []
    for ln in lines[2:]:
        tok = ln.split()
        n_in, n_out = int(tok[2]), int(tok[3])
        ins = tok[4 : 4 + n_in]
        outs = tok[4 + n_in : 4 + n_in + n_out]
        params: dict[int, str] = {}
        for kv in tok[4 + n_in + n_out :]:
            key, _, value = kv.partition("=")
            params[int(key)] = value
        layers.append(NcnnLayer(tok[0], tok[1], ins, outs, params))
    if len(layers) != layer_count:
        raise NcnnFormatError(f"{path.name}: header says {layer_count} layers, found {len(layers)}")
    return layers


class _BinCursor:
    def __init__(self, data: bytes, name: str) -> None:
        self.data = data
        self.pos = 0
        self.name = name

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise NcnnFormatError(f"{self.name}: truncated at byte {self.pos} (need {n} more)")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def raw_f32(self, count: int) -> np.ndarray:
        return np.frombuffer(self.take(4 * count), dtype="<f4").copy()

    def tagged(self, count: int) -> np.ndarray:
        (tag,) = struct.unpack("<I", self.take(4))
        if tag == FP16_TAG:
            values = np.frombuffer(self.take(2 * count), dtype="<f2").astype(np.float32)
            self.take((-2 * count) % 4)  # data is padded to 4 bytes
            return values
        if tag == 0:
            return self.raw_f32(count)
        raise NcnnFormatError(
            f"{self.name}: unsupported weight storage tag 0x{tag:08X} at byte {self.pos - 4}"
        )


def read_weights(param_path: Path, bin_path: Path) -> tuple[list[NcnnLayer], list[NcnnConv | NcnnPReLU]]:
    """Read every weighted layer, in file order; the .bin must be consumed exactly."""
    layers = parse_param(param_path)
    cur = _BinCursor(bin_path.read_bytes(), bin_path.name)
    weighted: list[NcnnConv | NcnnPReLU] = []
    for layer in layers:
        if layer.type == "Convolution":
            out_ch = layer.int_param(0)
            kw = layer.int_param(1)
            kh = layer.int_param(11, kw)
            size = layer.int_param(6)
            if layer.int_param(2, 1) != 1 or layer.int_param(3, 1) != 1 or layer.int_param(8) != 0:
                raise NcnnFormatError(f"{layer.name}: dilation/stride/int8 convolutions are not supported")
            if out_ch <= 0 or size % (out_ch * kh * kw):
                raise NcnnFormatError(f"{layer.name}: weight size {size} does not fit {out_ch}x?x{kh}x{kw}")
            weight = cur.tagged(size).reshape(out_ch, size // (out_ch * kh * kw), kh, kw)
            bias = cur.raw_f32(out_ch) if layer.int_param(5) else None
            weighted.append(NcnnConv(layer.name, weight, bias, layer.int_param(9)))
        elif layer.type == "PReLU":
            weighted.append(NcnnPReLU(layer.name, cur.raw_f32(layer.int_param(0, 1))))
        elif layer.type in {"Input", "Split", "Concat", "Eltwise", "BinaryOp", "Interp", "PixelShuffle"}:
            continue
        else:
            raise NcnnFormatError(
                f"{param_path.name}: layer type {layer.type!r} ({layer.name}) is not supported"
            )
    if cur.pos != len(cur.data):
        raise NcnnFormatError(
            f"{bin_path.name}: {len(cur.data) - cur.pos} trailing bytes after the last layer"
        )
    return layers, weighted
