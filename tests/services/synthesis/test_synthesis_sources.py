"""Video sources: synthetic (seeded lavfi), directory, URL list; validity, determinism, errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from synthesis_helpers import frames_hash

from scoring.media.probe import probe
from services.synthesis import ClipSpec, DirectorySource, SynthesisError, SyntheticSource, UrlListSource
from services.synthesis.fonts import drawtext_font, find_font
from services.synthesis.graph import BASES, MOTIONS, synthetic_graph
from tests.media_factory import make_clip


def _features(description: str) -> set[str]:
    base = description.split(",")[0].split("+")[0]
    found = {base}
    found |= {m for m in MOTIONS if f", {m}" in description}
    found |= {f for f in ("text", "noise", "boxes", "hue") if f in description}
    if "+" in description:
        found.add("blend")
    return found


def _covering_seeds(spec_size: tuple[int, int], font: str | None) -> list[int]:
    """Few seeds whose recipes together use every base, every motion, text, noise, boxes, blending."""
    wanted = set(BASES) | set(MOTIONS[1:]) | {"noise", "boxes", "hue", "blend"} | ({"text"} if font else set())
    seeds: list[int] = []
    for seed in range(2000):
        spec = ClipSpec(spec_size[0], spec_size[1], 12, 1.0, seed)
        new = _features(synthetic_graph(spec, font=font).description) & wanted
        if new:
            seeds.append(seed)
            wanted -= new
        if not wanted:
            return seeds
    raise AssertionError(f"no seed uses {wanted}")


def test_synthetic_graph_is_pure_and_seeded() -> None:
    spec = ClipSpec(96, 54, 12, 1.0, 11)
    assert synthetic_graph(spec).graph == synthetic_graph(spec).graph
    graphs = {synthetic_graph(ClipSpec(96, 54, 12, 1.0, s)).graph for s in range(20)}
    assert len(graphs) == 20
    assert synthetic_graph(spec).graph.endswith("[v]")


def test_synthetic_without_font_never_draws_text() -> None:
    assert drawtext_font(("/nonexistent/font.ttf",)) is None
    assert find_font(("/nonexistent/font.ttf", "/bad path/with space.ttf")) is None
    for seed in range(60):
        assert "drawtext" not in synthetic_graph(ClipSpec(96, 54, 12, 1.0, seed), font=None).graph
    with_font = [synthetic_graph(ClipSpec(96, 54, 12, 1.0, s), font="/f.ttf").graph for s in range(60)]
    assert any("drawtext=fontfile=/f.ttf" in g for g in with_font)


def test_large_requests_render_smaller_then_upscale() -> None:
    plan = synthetic_graph(ClipSpec(3840, 2160, 24, 1.0, 1), max_render_pixels=320 * 180)
    assert (plan.width, plan.height) == (3840, 2160)
    assert "scale=3840:2160" in plan.graph


@pytest.mark.slow
def test_synthetic_recipes_produce_valid_clips(tmp_path: Path) -> None:
    """Every base texture, motion and effect renders a clip with exactly the requested format."""
    font = drawtext_font()
    source = SyntheticSource()
    for seed in _covering_seeds((96, 54), font):
        spec = ClipSpec(96, 54, 12, 1.0, seed)
        out = source.produce(spec, tmp_path / f"s{seed}.mp4")
        info = probe(out)
        assert (info.width, info.height, info.pix_fmt, info.sar) == (96, 54, "yuv420p", "1:1"), seed
        assert info.avg_fps == pytest.approx(12, abs=0.01), seed
        assert info.frame_count == 12, seed
        out.unlink()


def test_synthetic_is_deterministic_per_seed(tmp_path: Path) -> None:
    source = SyntheticSource()
    spec = ClipSpec(112, 64, 16, 1.0, 7)
    a = frames_hash(source.produce(spec, tmp_path / "a.mp4"))
    b = frames_hash(source.produce(spec, tmp_path / "b.mp4"))
    c = frames_hash(source.produce(ClipSpec(112, 64, 16, 1.0, 8), tmp_path / "c.mp4"))
    assert a == b
    assert a != c


def test_synthetic_odd_size_is_rounded_up_to_even(tmp_path: Path) -> None:
    out = SyntheticSource(text=False).produce(ClipSpec(97, 55, 12, 0.5, 1), tmp_path / "odd.mp4")
    info = probe(out)
    assert (info.width, info.height, info.frame_count) == (98, 56, 6)


def test_synthetic_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="max_render_pixels"):
        SyntheticSource(max_render_pixels=10)
    with pytest.raises(ValueError, match="clip size"):
        ClipSpec(1, 54, 12, 1.0, 1)
    with pytest.raises(ValueError, match="positive"):
        ClipSpec(96, 54, 12, 0.0, 1)


# ------------------------------------------------------------------------------------ directory
@pytest.fixture(scope="module")
def clip_lib(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three 2 s 160x90 clips (different patterns), a 0.5 s one and a corrupt .mp4."""
    lib = tmp_path_factory.mktemp("clips")
    for name, pattern in (("a.mp4", "testsrc2"), ("b.mkv", "mandelbrot"), ("c.mp4", "smptehdbars")):
        make_clip(lib / name, size=(160, 90), fps=12, frames=24, pattern=pattern, crf=10)
    make_clip(lib / "short.mp4", size=(160, 90), fps=12, frames=6, crf=10)
    (lib / "broken.mp4").write_bytes(b"this is not a video" * 50)
    (lib / "notes.txt").write_text("ignored")
    return lib


def test_directory_empty_or_missing_is_a_clear_error(tmp_path: Path) -> None:
    spec = ClipSpec(96, 54, 12, 1.0, 1)
    (tmp_path / "readme.txt").write_text("no clips here")
    with pytest.raises(SynthesisError, match="no video clips in"):
        DirectorySource(tmp_path).produce(spec, tmp_path / "out.mp4")
    with pytest.raises(SynthesisError, match="does not exist"):
        DirectorySource(tmp_path / "missing").produce(spec, tmp_path / "out.mp4")


def test_directory_unreadable_and_short_clips_are_named(tmp_path: Path, clip_lib: Path) -> None:
    lib = tmp_path / "lib"
    lib.mkdir()
    shutil.copy(clip_lib / "broken.mp4", lib)
    shutil.copy(clip_lib / "short.mp4", lib)
    with pytest.raises(SynthesisError) as err:
        DirectorySource(lib).produce(ClipSpec(96, 54, 12, 1.0, 1), tmp_path / "out.mp4")
    message = str(err.value)
    assert "broken.mp4: unreadable" in message
    assert "short.mp4: too short (0.50 s < 1 s needed)" in message
    assert not (tmp_path / "out.mp4").exists()


def test_directory_picks_a_usable_clip_deterministically(clip_lib: Path, tmp_path: Path) -> None:
    source = DirectorySource(clip_lib)
    usable = {clip_lib / n for n in ("a.mp4", "b.mkv", "c.mp4")}
    picks = [source.produce(ClipSpec(96, 54, 12, 1.0, seed), tmp_path / "out.mp4") for seed in range(12)]
    assert set(picks) <= usable  # never the broken or too-short clip, never a copy
    assert len(set(picks)) >= 2  # the seed varies the choice
    again = [source.produce(ClipSpec(96, 54, 12, 1.0, seed), tmp_path / "out.mp4") for seed in range(12)]
    assert again == picks
    assert not (tmp_path / "out.mp4").exists()


def test_directory_prefers_large_enough_clips(tmp_path: Path) -> None:
    make_clip(tmp_path / "small.mp4", size=(64, 36), fps=12, frames=24)
    make_clip(tmp_path / "large.mp4", size=(160, 90), fps=12, frames=24)
    source = DirectorySource(tmp_path)
    assert {source.produce(ClipSpec(120, 68, 12, 1.0, s), tmp_path / "o.mp4").name for s in range(6)} == {"large.mp4"}
    (tmp_path / "large.mp4").unlink()
    # Only a smaller clip left: used anyway (with a warning), preparation will upscale it.
    assert source.produce(ClipSpec(120, 68, 12, 1.0, 1), tmp_path / "o.mp4").name == "small.mp4"


# ------------------------------------------------------------------------------------ URL list
def test_url_source_retries_and_names_failures(clip_lib: Path, tmp_path: Path) -> None:
    served = {
        "https://clips.example/good.mp4": clip_lib / "a.mp4",
        "https://clips.example/broken.mp4": clip_lib / "broken.mp4",
    }

    def fetch(url: str, dest: Path) -> None:
        if url not in served:
            raise ConnectionError("host unreachable")
        shutil.copy(served[url], dest)

    urls = ["https://clips.example/missing.mp4", "https://clips.example/broken.mp4", "https://clips.example/good.mp4"]
    source = UrlListSource(urls, fetch, max_attempts=3)
    out = source.produce(ClipSpec(96, 54, 12, 1.0, 3), tmp_path / "dl.mp4")
    assert out == tmp_path / "dl.mp4"
    assert probe(out).frame_count == 24

    bad = UrlListSource(urls[:2], fetch)
    with pytest.raises(SynthesisError) as err:
        bad.produce(ClipSpec(96, 54, 12, 1.0, 3), tmp_path / "dl2.mp4")
    assert "missing.mp4: download failed (ConnectionError: host unreachable)" in str(err.value)
    assert "broken.mp4: unreadable" in str(err.value)
    assert not (tmp_path / "dl2.mp4").exists()


def test_url_source_accepts_a_coroutine_fetcher(clip_lib: Path, tmp_path: Path) -> None:
    async def fetch(url: str, dest: Path) -> None:
        shutil.copy(clip_lib / "c.mp4", dest)

    out = UrlListSource(["https://clips.example/c.mp4"], fetch).produce(ClipSpec(96, 54, 12, 1.0, 1), tmp_path / "x.mp4")
    assert probe(out).width == 160


def test_url_source_list_must_not_be_empty(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="empty"):
        UrlListSource(["", "  ", "# comment"], lambda u, p: None)
    (tmp_path / "urls.txt").write_text("# nothing\n\n")
    with pytest.raises(SynthesisError, match="URL list .*urls.txt: the URL list is empty"):
        UrlListSource.from_file(tmp_path / "urls.txt", lambda u, p: None)
    with pytest.raises(SynthesisError, match="cannot read URL list"):
        UrlListSource.from_file(tmp_path / "absent.txt", lambda u, p: None)
