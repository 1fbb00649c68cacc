"""`vidaio score compression|upscaling REF DIST` through the real top-level app."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.media_factory import make_clip, reencode
from vidaio.cli.main import app

runner = CliRunner()
ABSENT_WEIGHTS = "/nonexistent/vidaio-tests/pieapp-absent.pth"  # same as tests/scoring/test_evaluate.py


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env
    for key in list(os.environ):
        if key.startswith(("VIDAIO_SCORING__", "VIDAIO_METRICS__")):
            monkeypatch.delenv(key)


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("cli")
    ref = make_clip(d / "ref.mp4", (128, 72), fps=24, frames=24, crf=12)
    inp = reencode(ref, d / "in.mp4", crf=18, vf="scale=64:36:flags=area")
    return {
        "ref": ref,
        "good": reencode(ref, d / "good.mp4", crf=30),
        "hevc": reencode(ref, d / "hevc.mp4", "hevc", crf=30),
        "input": inp,
        "up": reencode(inp, d / "up.mp4", "hevc", crf=20, vf="scale=128:72:flags=lanczos"),
    }


def test_compression_json(clips: dict[str, Path]) -> None:
    r = runner.invoke(
        app, ["score", "compression", str(clips["ref"]), str(clips["good"]), "--threshold", "40", "--json"]
    )
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["status"] == "ok" and data["ok"] is True and data["reasons"] == []
    assert data["codec"] == "h264"  # taken from the output when --codec is not given
    assert data["vmaf_model"] == "vmaf_v0.6.1neg" and len(data["vmaf_indices"]) == 5
    assert 0 < data["compression_rate"] < 1
    assert data["score"] == pytest.approx(data["compression_term"] + data["quality_term"])
    assert data["score"] > 0


def test_compression_refused_output_exits_1_with_reasons(clips: dict[str, Path]) -> None:
    args = [
        "score",
        "compression",
        str(clips["ref"]),
        str(clips["hevc"]),
        "--threshold",
        "40",
        "--codec",
        "av1",
    ]
    r = runner.invoke(app, [*args, "--json"])
    assert r.exit_code == 1
    data = json.loads(r.stdout)
    assert data["reasons"] == ["wrong_codec"] and data["score"] == 0.0
    table = runner.invoke(app, args)
    assert table.exit_code == 1
    assert "wrong_codec: codec is hevc, expected av1" in table.stdout


def test_compression_table(clips: dict[str, Path]) -> None:
    r = runner.invoke(
        app, ["score", "compression", str(clips["ref"]), str(clips["good"]), "--threshold", "40"]
    )
    assert r.exit_code == 0, r.output
    assert "Compression verdict" in r.stdout and "compression rate C" in r.stdout and "score" in r.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.mp4", "{good}", "--threshold", "40"], "error: reference missing.mp4: no such file"),
        (["{ref}", "missing.mp4", "--threshold", "40"], "error: output missing.mp4: no such file"),
        (["{ref}", "{good}", "--threshold", "100"], "error: --threshold must be in [0, 100), got 100.0"),
        (["{bad_ref}", "{good}", "--threshold", "40"], "error: reference cannot be used"),
    ],
)
def test_compression_bad_input_is_one_line(
    clips: dict[str, Path], tmp_path: Path, args: list[str], message: str
) -> None:
    bad_ref = tmp_path / "bad.mp4"
    bad_ref.write_text("not a video")
    filled = [a.format(good=clips["good"], ref=clips["ref"], bad_ref=bad_ref) for a in args]
    r = runner.invoke(app, ["score", "compression", *filled])
    assert r.exit_code == 2
    assert r.stderr.startswith(message), r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert "Traceback" not in r.output and r.stdout == ""


@pytest.mark.slow
def test_upscaling_json_with_random_weights(clips: dict[str, Path]) -> None:
    args = ["score", "upscaling", str(clips["ref"]), str(clips["up"]), "--input", str(clips["input"])]
    args += ["--length", "5", "--pieapp-weights", ABSENT_WEIGHTS, "--device", "cpu"]
    r = runner.invoke(app, [*args, "--random-weights", "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["status"] == "ok" and data["scale"] == 2  # inferred from 128 / 64
    assert data["vmaf_passed"] is True and data["pieapp_random_weights"] is True
    assert len(data["pieapp_per_frame"]) == 4
    assert data["s_l"] == pytest.approx(0.3105, abs=1e-4) and data["score"] == data["s_f"] > 0
    assert "runs on CPU" in r.stderr and "RANDOM weights" in r.stderr


def test_upscaling_without_weights_is_one_line_error(clips: dict[str, Path], tmp_path: Path) -> None:
    args = ["score", "upscaling", str(clips["ref"]), str(clips["up"]), "--input", str(clips["input"])]
    r = runner.invoke(app, [*args, "--length", "5", "--pieapp-weights", str(tmp_path / "absent.pth")])
    assert r.exit_code == 2
    assert r.stderr.startswith("error: PIE-APP weights for backend 'pyiqa' not available")
    assert len(r.stderr.strip().splitlines()) == 1


def test_upscaling_scale_cannot_be_inferred(clips: dict[str, Path]) -> None:
    r = runner.invoke(
        app,
        [
            "score",
            "upscaling",
            str(clips["ref"]),
            str(clips["up"]),
            "--input",
            str(clips["ref"]),
            "--length",
            "5",
        ],
    )
    assert r.exit_code == 2
    assert "cannot infer --scale" in r.stderr


@pytest.mark.slow
def test_upscaling_json_stdout_is_only_json_when_pieapp_prints(
    clips: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """pyiqa prints its download/loading line with print(): it must not land ahead of the JSON."""
    import scoring.metrics.pieapp as pieapp

    real = pieapp.get_metric

    def chatty(cfg):  # noqa: ANN001, ANN202 - stands in for pyiqa's print() during weight loading
        print('Downloading: "https://example.invalid/PieAPPv0.1.pth" to /cache/PieAPPv0.1.pth')
        metric = real(cfg)
        print("Loading pretrained model PieAPP from /cache/PieAPPv0.1.pth")
        return metric

    monkeypatch.setattr(pieapp, "get_metric", chatty)
    args = ["score", "upscaling", str(clips["ref"]), str(clips["up"]), "--input", str(clips["input"])]
    args += ["--length", "5", "--pieapp-weights", ABSENT_WEIGHTS, "--device", "cpu", "--random-weights", "--json"]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["status"] == "ok"  # the whole of stdout is the verdict
    assert "Downloading:" in r.stderr and "Loading pretrained model" in r.stderr
