"""The synthetic generator's recipe: a seeded ffmpeg lavfi filtergraph (pure, no I/O).

`synthetic_graph(spec, font=...)` draws, from `random.Random(seed)` only:
- a base texture: mandelbrot zoom, testsrc2, cellular automaton, game of life, moving gradients,
  SMPTE HD bars, sierpinski, perlin noise; sometimes blended with a second layer;
- a motion: none (the base moves by itself), an oscillating rotation, a panning crop, a slow
  zoompan or a scroll (static bases always get one);
- effects: hue drift, contrast/saturation, grain (seeded `noise`), moving boxes, moving text
  (only when `font` is given: `drawtext` may lack fonts, see `fonts.py`).
The graph has no inputs and ends in the label `[v]`: exactly `spec.width` x `spec.height` (rounded
up to even), yuv420p with BT.709 limited-range values, SAR 1:1, timestamps `N/fps`. Sizes above
`max_render_pixels` are rendered smaller and upscaled, so 4K requests stay affordable.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from services.synthesis.spec import ClipSpec, even_ceil

DEFAULT_MAX_RENDER_PIXELS = 1920 * 1088
OVERSIZE = 1.25
"""Render this much larger before rotate/pan/zoompan so no border ever shows."""

BASES: tuple[str, ...] = (
    "mandelbrot",
    "testsrc2",
    "cellauto",
    "life",
    "gradients",
    "smptehdbars",
    "sierpinski",
    "perlin",
)
STATIC_BASES = frozenset({"smptehdbars"})
LAYERS: tuple[str, ...] = ("gradients", "perlin", "cellauto", "life")
BLEND_MODES: tuple[str, ...] = ("overlay", "softlight", "screen", "multiply", "average", "lighten", "darken")
MOTIONS: tuple[str, ...] = ("none", "rotate", "pan", "zoompan", "scroll")
_MANDEL_POINTS: tuple[tuple[float, float], ...] = (
    (-0.743643887037151, 0.13182590420533),
    (-0.7453, 0.1127),
    (0.001643721971153, -0.822467633298876),
    (-1.25066, 0.02012),
    (-0.235125, 0.827215),
    (-0.16, 1.0405),
)
_WORDS: tuple[str, ...] = ("VIDAIO", "ROUND", "SCORE", "MINER", "FRAME", "SUBNET", "VMAF", "TAO", "CLIP", "TEST")


@dataclass(frozen=True)
class SyntheticPlan:
    """A filtergraph (`graph`, output label `[v]`) and a short human description of its recipe."""

    graph: str
    description: str
    width: int
    height: int


def _colour(rng: random.Random) -> str:
    return f"0x{rng.randrange(0x1000000):06x}"


def _base(name: str, w: int, h: int, fps: int, seconds: float, rng: random.Random) -> str:
    """A lavfi source chain producing `w` x `h` at `fps`."""
    size = f"s={w}x{h}:r={fps}"
    seed = rng.randrange(2**31)
    if name == "mandelbrot":
        x, y = rng.choice(_MANDEL_POINTS)
        start = rng.uniform(0.5, 3.0)
        end = start * rng.uniform(0.005, 0.2)
        outer = rng.choice(("iteration_count", "normalized_iteration_count"))
        return (
            f"mandelbrot={size}:maxiter={rng.choice((128, 192, 256))}:start_x={x}:start_y={y}"
            f":start_scale={start:.4f}:end_scale={end:.5f}:end_pts={seconds * rng.uniform(2, 6):.2f}:outer={outer}"
        )
    if name == "testsrc2":
        return f"testsrc2={size}"
    if name == "smptehdbars":
        return f"smptehdbars={size}"
    if name == "gradients":
        # Colours and end points explicitly: gradients' "random" defaults ignore `seed`.
        kind = rng.choice(("linear", "radial", "circular", "spiral", "square"))
        n = rng.randint(2, 8)
        colours = "".join(f":c{i}={_colour(rng)}" for i in range(n))
        points = f":x0={rng.randrange(w)}:y0={rng.randrange(h)}:x1={rng.randrange(w)}:y1={rng.randrange(h)}"
        return f"gradients={size}:n={n}{colours}{points}:seed={seed}:speed={rng.uniform(0.005, 0.04):.4f}:type={kind}"
    if name == "sierpinski":
        return f"sierpinski={size}:seed={seed}:jump={rng.randint(1, 40)}:type={rng.choice(('carpet', 'triangle'))}"
    if name == "perlin":
        scale = rng.uniform(1.5, 6.0)  # features across the frame
        return (
            f"perlin={size}:octaves={rng.randint(2, 5)}:persistence={rng.uniform(0.4, 0.8):.3f}"
            f":xscale={scale:.4f}:yscale={scale * rng.uniform(0.4, 0.8):.4f}:tscale={rng.uniform(0.1, 0.6):.3f}"
            f":random_mode=seed:random_seed={seed},format=yuv444p"
            f",lutyuv=y='clip((val-128)*{rng.uniform(2.0, 4.0):.2f}+128\\,16\\,235)'"
            f":u={rng.randint(70, 186)}:v={rng.randint(70, 186)}"
        )
    cell = rng.randint(2, 4)
    cw, ch = max(8, math.ceil(w / cell)), max(8, math.ceil(h / cell))
    if name == "cellauto":
        rule = rng.choice((18, 30, 45, 73, 90, 105, 110, 150))
        return (
            f"cellauto=s={cw}x{ch}:r={fps}:rule={rule}:seed={seed}:random_fill_ratio={rng.uniform(0.2, 0.7):.3f}"
            f",scale={w}:{h}:flags=neighbor,format=yuv444p"
            f",lutyuv=y='val*{rng.uniform(0.5, 0.8):.3f}+{rng.randint(20, 60)}':u={rng.randint(70, 186)}:v={rng.randint(70, 186)}"
        )
    if name == "life":
        return (
            f"life=s={cw}x{ch}:r={fps}:seed={seed}:ratio={rng.uniform(0.1, 0.5):.3f}:mold={rng.randint(0, 40)}"
            f":life_color={_colour(rng)}:death_color={_colour(rng)}:mold_color={_colour(rng)}"
            f",scale={w}:{h}:flags=neighbor"
        )
    raise ValueError(f"unknown synthetic base {name!r}")


def _motion(name: str, w: int, h: int, fps: int, frames: int, rng: random.Random) -> str:
    """A chain taking the (oversized, for rotate/pan/zoompan) base to exactly `w` x `h`."""
    if name == "rotate":
        amp, period = rng.uniform(0.03, 0.09), rng.uniform(1.5, 6.0)
        return f"rotate=a='{amp:.4f}*sin(2*PI*t/{period:.3f})':ow=iw:oh=ih,crop={w}:{h}"
    if name == "pan":
        ax, ay = rng.uniform(0.3, 1.0), rng.uniform(0.3, 1.0)
        px, py = rng.uniform(1.5, 6.0), rng.uniform(1.5, 6.0)
        phx, phy = rng.uniform(0, 6.28), rng.uniform(0, 6.28)
        return (
            f"crop={w}:{h}:x='(iw-ow)/2*(1+{ax:.3f}*sin(2*PI*t/{px:.3f}+{phx:.3f}))'"
            f":y='(ih-oh)/2*(1+{ay:.3f}*sin(2*PI*t/{py:.3f}+{phy:.3f}))'"
        )
    if name == "zoompan":
        zoom = rng.uniform(0.1, 0.4)
        drift = rng.uniform(-0.3, 0.3)
        return (
            f"zoompan=z='1+{zoom:.3f}*on/{frames}':x='iw/2-iw/zoom/2+{drift:.3f}*on'"
            f":y='ih/2-ih/zoom/2':d=1:s={w}x{h}:fps={fps}"
        )
    if name == "scroll":
        hs = rng.choice((-1, 1)) * rng.uniform(0.001, 0.006)
        vs = rng.choice((-1, 1)) * rng.uniform(0.0, 0.004)
        return f"scroll=h={hs:.5f}:v={vs:.5f}"
    return ""


def _effects(w: int, h: int, rng: random.Random, font: str | None) -> tuple[list[str], list[str]]:
    """Post-motion filters (in yuv420p) and their names."""
    chain: list[str] = []
    names: list[str] = []
    if rng.random() < 0.4:
        chain.append(f"hue=H='{rng.uniform(-0.8, 0.8):.3f}*t':s={rng.uniform(0.8, 1.3):.3f}")
        names.append("hue")
    if rng.random() < 0.3:
        chain.append(f"eq=contrast={rng.uniform(0.85, 1.2):.3f}:saturation={rng.uniform(0.7, 1.4):.3f}")
        names.append("eq")
    if rng.random() < 0.4:
        for _ in range(rng.randint(1, 3)):
            bw, bh = max(2, int(w * rng.uniform(0.05, 0.2))), max(2, int(h * rng.uniform(0.05, 0.2)))
            x0, y0 = rng.uniform(0, w), rng.uniform(0, h)
            vx, vy = rng.uniform(-0.3, 0.3) * w, rng.uniform(-0.2, 0.2) * h
            chain.append(
                f"drawbox=x='{x0:.1f}+{vx:.1f}*t':y='{y0:.1f}+{vy:.1f}*t':w={bw}:h={bh}"
                f":color={_colour(rng)}@{rng.uniform(0.5, 1.0):.2f}:t=fill"
            )
        names.append("boxes")
    if font is not None and rng.random() < 0.5:
        text = f"{rng.choice(_WORDS)} {rng.randrange(10000):04d}"
        size = max(8, int(h / rng.uniform(5, 12)))
        speed = rng.uniform(0.1, 0.5) * w
        chain.append(
            f"drawtext=fontfile={font}:text='{text}':fontsize={size}:fontcolor={_colour(rng)}"
            f":borderw={rng.randint(0, 2)}:bordercolor=black"
            f":x='mod({rng.uniform(0, w):.1f}+{speed:.1f}*t\\,w+tw)-tw'"
            f":y='{rng.uniform(0, max(1, h - size)):.1f}+{rng.uniform(0, h / 8):.1f}*sin({rng.uniform(0.5, 3):.2f}*t)'"
        )
        names.append("text")
    if rng.random() < 0.5:
        strength = rng.randint(2, 12)
        chain.append(f"noise=alls={strength}:allf=t+u:all_seed={rng.randrange(2**31)}")
        names.append(f"noise{strength}")
    return chain, names


def _render_size(width: int, height: int, max_pixels: int) -> tuple[int, int]:
    if width * height <= max_pixels:
        return width, height
    k = math.sqrt(max_pixels / (width * height))
    return max(2, even_ceil(width * k)), max(2, even_ceil(height * k))


def synthetic_graph(
    spec: ClipSpec, *, font: str | None = None, max_render_pixels: int = DEFAULT_MAX_RENDER_PIXELS
) -> SyntheticPlan:
    """The seeded lavfi filtergraph for `spec` (same spec and font → same graph)."""
    rng = random.Random(f"synthetic:{spec.seed}")
    out_w, out_h = even_ceil(spec.width), even_ceil(spec.height)
    rw, rh = _render_size(out_w, out_h, max_render_pixels)
    frames = spec.frames
    base_name = rng.choice(BASES)
    motion = rng.choice(MOTIONS[1:] if base_name in STATIC_BASES else MOTIONS)
    oversized = motion in ("rotate", "pan", "zoompan")
    bw, bh = (even_ceil(rw * OVERSIZE), even_ceil(rh * OVERSIZE)) if oversized else (rw, rh)
    parts: list[str] = [f"{_base(base_name, bw, bh, spec.fps, spec.seconds, rng)},format=gbrp[base]"]
    description = [base_name]
    current = "[base]"
    if rng.random() < 0.45:
        layer = rng.choice(LAYERS)
        mode = rng.choice(BLEND_MODES)
        parts.append(f"{_base(layer, bw, bh, spec.fps, spec.seconds, rng)},format=gbrp[layer]")
        parts.append(f"[base][layer]blend=all_mode={mode}:all_opacity={rng.uniform(0.3, 0.7):.3f}[mixed]")
        description.append(f"+{layer}/{mode}")
        current = "[mixed]"
    chain: list[str] = []
    motion_chain = _motion(motion, rw, rh, spec.fps, frames, rng)
    if motion_chain:
        chain.append(motion_chain)
        description.append(f", {motion}")
    if (rw, rh) != (out_w, out_h):
        chain.append(f"scale={out_w}:{out_h}:flags=bicubic")
    chain.append("scale=out_color_matrix=bt709:out_range=tv,format=yuv420p")
    effects, effect_names = _effects(out_w, out_h, rng, font)
    chain.extend(effects)
    if effect_names:
        description.append(", " + ", ".join(effect_names))
    chain.append(f"setsar=1,setpts=N/({spec.fps}*TB)")
    parts.append(f"{current}{','.join(chain)}[v]")
    return SyntheticPlan(graph=";".join(parts), description="".join(description), width=out_w, height=out_h)
