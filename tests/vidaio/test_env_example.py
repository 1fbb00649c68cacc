"""`.env.example` documents every setting of every daemon with its default."""

from pathlib import Path

import pytest
from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from typer.testing import CliRunner

from vidaio.cli.main import app
from vidaio.config import DAEMON_MODELS, env_example
from vidaio.envdoc import iter_settings, render_env_example

ROOT = Path(__file__).resolve().parents[2]


def test_committed_env_example_is_current() -> None:
    committed = (ROOT / ".env.example").read_text()
    assert committed == env_example(), "regenerate with: vidaio config env-example > .env.example"


@pytest.mark.parametrize("daemon", sorted(DAEMON_MODELS))
def test_every_setting_is_listed(daemon: str) -> None:
    text = (ROOT / ".env.example").read_text()
    names = [env for env, _, _ in iter_settings(DAEMON_MODELS[daemon])]
    assert names, daemon
    missing = [n for n in names if f"# {n}=" not in text]
    assert missing == []


def test_every_setting_has_a_description() -> None:
    undocumented = [env for m in DAEMON_MODELS.values() for env, _, desc in iter_settings(m) if not desc]
    assert undocumented == []


class _Inner(BaseModel):
    size: int = Field(3, description="How big.")
    tags: tuple[str, ...] = Field(("a", "b"), description="Labels.")


class _Daemon(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VIDAIO_", env_nested_delimiter="__")
    inner: _Inner = Field(default_factory=_Inner)
    home: Path = Field(Path.home() / "x", description="A path under home.")


def test_render_flattens_sections_and_is_portable() -> None:
    text = render_env_example([("demo", _Daemon)])
    assert "# How big.\n# VIDAIO_INNER__SIZE=3\n" in text
    assert '# VIDAIO_INNER__TAGS=["a", "b"]' in text
    assert "# VIDAIO_HOME=~/x" in text


def test_cli_check_detects_drift(tmp_path: Path) -> None:
    runner = CliRunner()
    stale = tmp_path / "env"
    stale.write_text("# old\n")
    result = runner.invoke(app, ["config", "env-example", "--check", str(stale)])
    assert result.exit_code == 1 and "out of date" in result.output
    ok = runner.invoke(app, ["config", "env-example", "--check", str(ROOT / ".env.example")])
    assert ok.exit_code == 0, ok.output


def test_cli_show_reports_bad_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIDAIO_SCORING__HISTORY_WINDOW", "12")
    result = CliRunner().invoke(app, ["config", "show", "validator"])
    assert result.exit_code == 2
    assert "history_window" in result.output and "Traceback" not in result.output
