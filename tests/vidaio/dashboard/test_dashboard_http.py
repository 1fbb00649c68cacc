"""The dashboard process over HTTP: pages and API, the bearer token, no secret in any answer, exposure check."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from dashboard_support import Served, dashboard_env

pytestmark = [pytest.mark.slow, pytest.mark.integration]

PAGES = ("/", "/miner/1", "/miner/4", "/rounds", "/weights")
APIS = ("/api/summary", "/api/leaderboard", "/api/leaderboard?task=upscaling", "/api/miner/4", "/api/rounds", "/api/weights")
SECRETS = {
    "VIDAIO_VALIDATOR__SECRET": "sampling-secret-d41d8cd98f00b204e9800998ecf8427e",
    "VIDAIO_STORAGE__ACCESS_KEY_ID": "AKIADASHBOARDTESTKEY",
    "VIDAIO_STORAGE__SECRET_ACCESS_KEY": "s3-secret-key-wJalrXUtnFEMIK7MDENG",
    "VIDAIO_WALLET__PATH": "/home/operator/.bittensor/wallets-private-dir",
    "VIDAIO_WALLET__NAME": "coldkey-name-private",
}
TOKEN = "dashboard-token-9f2c1e7ab3"


def everything(served: Served, headers: dict[str, str] | None = None) -> dict[str, httpx.Response]:
    with httpx.Client(base_url=served.url, headers=headers or {}, timeout=30) as c:
        return {p: c.get(p) for p in (*PAGES, *APIS, "/miner/999", "/api/miner/999", "/static/dashboard.js")}


def test_pages_and_api_answer_and_leak_no_secret(seeded_db: Path, dashboard, tmp_path: Path) -> None:
    secret_file = seeded_db.with_name(seeded_db.name + ".secret")  # where the validator keeps its secret
    secret_file.write_text(SECRETS["VIDAIO_VALIDATOR__SECRET"] + "\n")
    served = dashboard(seeded_db, env=dashboard_env(**SECRETS))
    answers = everything(served)
    for path in (*PAGES, *APIS):
        assert answers[path].status_code == 200, (path, answers[path].text[:300])
    assert answers["/miner/999"].status_code == 404 and "no miner with uid 999" in answers["/miner/999"].text
    assert answers["/api/miner/999"].json() == {"error": "http_error", "reason": "no miner with uid 999"}
    assert answers["/api/leaderboard?task=upscaling"].json()["pools"].keys() == {"upscaling"}
    assert "text/html" in answers["/"].headers["content-type"]
    for path, resp in answers.items():
        for name, value in SECRETS.items():
            assert value not in resp.text, f"{name} leaked in {path}"
        assert str(seeded_db.parent) not in resp.text, f"the DB directory leaked in {path}"
    assert "Traceback" not in served.stderr()


def test_bearer_token_is_required_when_set(seeded_db: Path, dashboard) -> None:
    served = dashboard(seeded_db, env=dashboard_env(VIDAIO_DASHBOARD__TOKEN=TOKEN))
    for path, resp in everything(served).items():
        assert resp.status_code == 401, path
        assert resp.headers.get("www-authenticate", "").startswith("Bearer"), path
        assert TOKEN not in resp.text
    wrong = everything(served, {"Authorization": "Bearer not-the-token"})
    assert {r.status_code for r in wrong.values()} == {401}
    good = everything(served, {"Authorization": f"Bearer {TOKEN}"})
    for path in (*PAGES, *APIS):
        assert good[path].status_code == 200, path
        assert TOKEN not in good[path].text, f"the token is echoed in {path}"
    with httpx.Client(base_url=served.url, timeout=30, follow_redirects=True) as c:  # a browser: /login?token= sets a cookie
        assert c.get("/login", params={"token": "wrong"}).status_code == 401
        assert c.get("/api/summary").status_code == 401
        r = c.get("/login", params={"token": TOKEN})
        assert r.status_code == 200 and "Leaderboard" in r.text  # redirected to / with the cookie
        assert c.get("/api/summary").status_code == 200
    assert httpx.get(served.url + "healthz", timeout=10).status_code == 200


def test_binding_beyond_loopback_needs_a_token(seeded_db: Path, tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "vidaio.cli.main", "dashboard", "--db", str(seeded_db), "--host", "0.0.0.0", "--port", "0"]
    done = subprocess.run(cmd, cwd=tmp_path, env=dashboard_env(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert "not loopback: set VIDAIO_DASHBOARD__TOKEN" in done.stderr


def test_missing_database_is_one_line(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "vidaio.cli.main", "dashboard", "--db", str(tmp_path / "none.db"), "--port", "0"]
    done = subprocess.run(cmd, cwd=tmp_path, env=dashboard_env(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert "error: no database file at" in done.stderr and "Traceback" not in done.stderr
