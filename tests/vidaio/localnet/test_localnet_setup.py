"""Localnet set-up without running neurons: env files load into the real daemon configs, the
layout's reset removes only its own files, progress/report readers, the pid lock, the roster."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from vidaio.localnet.config import LocalnetSettings
from vidaio.localnet.envfile import clean_environ, env_name, env_value, render_env, write_env_file
from vidaio.localnet.layout import LocalnetLayout
from vidaio.localnet.prepare import (
    PROFILE_KNOBS,
    prepare_neurons,
    pyiqa_cache_path,
    settings_for,
)
from vidaio.localnet.progress import read_progress
from vidaio.localnet.report import reason_codes
from vidaio.localnet.roster import default_roster
from vidaio.localnet.runner import LocalnetError, _acquire, _release
from vidaio.storage.local import LocalS3


def _s3() -> LocalS3:
    return LocalS3(endpoint_url="http://127.0.0.1:9", buckets=[])


def test_env_names_and_values() -> None:
    assert env_name("miner.upscaling.engine") == "VIDAIO_MINER__UPSCALING__ENGINE"
    assert env_value(True) == "true"
    assert env_value(["127.0.0.1"]) == '["127.0.0.1"]'
    assert env_value({"av1": "8"}) == '{"av1":"8"}'
    assert env_value(None) == ""
    with pytest.raises(ValueError, match="dotted lower-case"):
        env_name("Miner.x")
    with pytest.raises(ValueError, match="quote"):
        render_env({"log.level": "it's"})


def test_write_env_file_is_private_and_complete(tmp_path: Path) -> None:
    path = write_env_file(tmp_path / "a.env", {"log.level": "INFO", "fetch.allow_hosts": ["127.0.0.1"]}, "hi")
    text = path.read_text()
    assert text.splitlines() == [
        "# hi",
        "VIDAIO_FETCH__ALLOW_HOSTS='[\"127.0.0.1\"]'",
        "VIDAIO_LOG__LEVEL='INFO'",
    ]
    assert (path.stat().st_mode & 0o777) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["a.env"]  # no temp file left


def test_clean_environ_drops_settings_keeps_machine_paths() -> None:
    env = clean_environ(
        {"VIDAIO_MINER__TASK_TYPE": "x", "VIDAIO_WEIGHTS_DIR": "/w", "PATH": "/bin"}, PYTHONUNBUFFERED="1"
    )
    assert env == {"VIDAIO_WEIGHTS_DIR": "/w", "PATH": "/bin", "PYTHONUNBUFFERED": "1"}


@pytest.mark.parametrize("profile", ["demo", "tiny"])
def test_env_files_load_into_the_daemon_configs(tmp_path: Path, profile: str) -> None:
    """Every setting the localnet writes exists in the daemon's config and reads back as meant."""
    from vidaio.miner.config import load_miner_config
    from vidaio.validator.config import load_validator_config

    cfg = LocalnetSettings(dir=tmp_path, profile=profile, rounds=4)  # type: ignore[arg-type]
    layout = LocalnetLayout.at(tmp_path)
    roster = default_roster()
    by_name = {s.name: s for s in roster}
    files = {}
    for spec in roster:
        port = 40000 if spec.role == "miner" else None
        files[spec.name] = write_env_file(
            layout.env_file(spec.name), settings_for(spec, cfg, layout, _s3(), roster, port)
        )

    v = load_validator_config(files["validator"])
    assert v.validator.max_rounds == 4 and v.validator.round_interval_s == 0
    assert v.validator.profile.value == profile
    assert v.db.path == layout.db
    assert v.chain.backend == "localnet" and v.chain.localnet_path == layout.chain
    assert v.scoring.weights_interval == 1
    assert v.fetch.allow_hosts == ["127.0.0.1"]
    assert v.storage.create_bucket and v.storage.bucket == "localnet-validator"
    for dotted, value in PROFILE_KNOBS[profile].items():
        section, field = dotted.split(".")
        got = getattr(getattr(v, section), field)
        assert (list(got) if isinstance(got, tuple) else got) == value, dotted

    search = load_miner_config(files["miner-search"])
    lazy = load_miner_config(files["miner-lazy"])
    cheater = load_miner_config(files["miner-cheater"])
    model = load_miner_config(files["miner-model"])
    lanczos = load_miner_config(files["miner-lanczos"])
    assert search.miner.compression_engine == "search" and lazy.miner.compression_engine == "fixed"
    assert search.miner.compression.preset("av1") != lazy.miner.compression.preset("av1")
    assert cheater.miner.compression_engine == "passthrough" and cheater.miner.allow_demo_strategies
    assert model.miner.upscaling.engine == "model" and lanczos.miner.upscaling.engine == "lanczos"
    for m in (search, lazy, cheater, model, lanczos):
        assert m.server.host == "127.0.0.1" and m.server.port == 40000
        assert m.miner.profile.value == profile
        assert m.storage.secret_access_key is not None
    assert {by_name[n].task_type for n in ("miner-search", "miner-lazy", "miner-cheater")} == {"compression"}


def test_prepare_registers_validator_first_and_is_idempotent(tmp_path: Path) -> None:
    from vidaio.chain.localnet import LocalnetChain

    cfg = LocalnetSettings(dir=tmp_path, validator_stake=5000)
    layout = LocalnetLayout.at(tmp_path)
    roster = default_roster(cfg.validator_stake)
    first = prepare_neurons(cfg, layout, _s3(), roster)
    again = prepare_neurons(cfg, layout, _s3(), roster)  # --resume: same wallets, same uids
    assert [p.uid for p in first] == list(range(6)) == [p.uid for p in again]
    assert [p.hotkey for p in first] == [p.hotkey for p in again]
    snap = LocalnetChain(layout.chain, hotkey=first[0].hotkey).snapshot()
    validators = [n for n in snap.neurons if n.validator_permit]
    assert [(n.uid, n.stake) for n in validators] == [(0, 5000.0)]
    ports = [p.port for p in first if p.spec.role == "miner"]
    assert None not in ports and len(set(ports)) == 5
    assert all(p.env_file.is_file() for p in first)


def test_reset_removes_only_localnet_files(tmp_path: Path) -> None:
    layout = LocalnetLayout.at(tmp_path)
    layout.make_dirs()
    for f in (layout.chain, layout.db, Path(str(layout.db) + "-wal"), layout.summary, layout.log_file("x")):
        f.write_text("x")
    mine = tmp_path / "notes.txt"
    mine.write_text("keep me")
    (layout.pieapp).mkdir()
    layout.reset()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "pieapp"]


def test_pyiqa_cache_path_matches_torch_hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from scoring.metrics.pieapp_backends import default_weights_path

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "th"))
    assert pyiqa_cache_path() == default_weights_path("pyiqa")
    monkeypatch.delenv("TORCH_HOME")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert pyiqa_cache_path() == default_weights_path("pyiqa")


def test_read_progress_counts_results_per_round(tmp_path: Path) -> None:
    from scoring.config import ScoringConfig
    from vidaio.db.config import DbConfig
    from vidaio.db.repository import Repository

    db = tmp_path / "v.db"
    assert read_progress(db).rounds == []
    repo = Repository.open(DbConfig(path=db), ScoringConfig())
    try:
        repo.start_round("r1", task_count=3)
        repo.finish_round("r1")
        repo.start_round("r2", task_count=2)
    finally:
        repo.close()
    snap = read_progress(db)
    assert [(r.round_id, r.status, r.task_count, r.results, r.done) for r in snap.rounds] == [
        ("r1", "finished", 3, 0, True),
        ("r2", "running", 2, 0, False),
    ]
    assert [r.round_id for r in snap.started_since({"r1"})] == ["r2"]


@pytest.mark.parametrize(
    ("reason", "codes"),
    [
        (None, []),
        ("vmaf_below_threshold: VMAF 84.22 < 93", ["vmaf_below_threshold"]),
        (
            "wrong_codec: codec is h264, expected av1; oversized: file is 5 bytes; same_as_reference: byte-identical",
            ["wrong_codec", "oversized", "same_as_reference"],
        ),
        ("some free text without a code", []),
    ],
)
def test_reason_codes(reason: str | None, codes: list[str]) -> None:
    assert reason_codes(reason) == codes


def test_one_localnet_per_directory(tmp_path: Path) -> None:
    layout = LocalnetLayout.at(tmp_path)
    layout.lock.write_text(f"{os.getppid()}\n")  # a live process that is not us
    with pytest.raises(LocalnetError, match="another vidaio localnet"):
        _acquire(layout)
    layout.lock.write_text("999999999\n")  # stale: taken over
    _acquire(layout)
    assert layout.lock.read_text().strip() == str(os.getpid())
    _release(layout)
    assert not layout.lock.exists()


def test_roster_is_the_spec_cast() -> None:
    roster = default_roster(1234.0)
    assert [s.role for s in roster] == ["validator"] + ["miner"] * 5
    assert roster[0].stake == 1234.0 and roster[0].validator_permit
    labels = {s.name: s.label for s in roster}
    assert labels["miner-cheater"].startswith("compression/cheater")
    assert sum(1 for s in roster if s.task_type == "upscaling") == 2
