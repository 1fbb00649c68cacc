"""The dashboard in a real browser (headless Debian chromium + Playwright) on a DB filled by the Repository.

Leaderboard rows are exactly miner_metadata's, with the right numbers; clicking a miner opens its
page and the chart has drawn; the weights page shows the last split; the tables refresh from the
API without a reload; no console error; a screenshot of each page goes to the test's output folder.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from browser import browser_page
from dashboard_seed import result
from dashboard_support import dashboard_env

from scoring.config import ScoringConfig
from vidaio.db.config import DbConfig
from vidaio.db.repository import Repository

pytestmark = [pytest.mark.slow, pytest.mark.integration]

# Non-transparent pixels of the chart canvas (uPlot draws on a <canvas>).
CANVAS_INK = """() => {
  const c = document.querySelector('#chart canvas');
  if (!c) return -1;
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let n = 0;
  for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
  return n;
}"""


def out_dir(tmp_path: Path) -> Path:
    """Screenshots go to $TEST_ARTIFACTS_DIR/dashboard when set (CI uploads it), else the test's tmp dir."""
    base = os.environ.get("TEST_ARTIFACTS_DIR")
    path = Path(base) / "dashboard" if base else tmp_path / "screenshots"
    path.mkdir(parents=True, exist_ok=True)
    return path


def metadata(db: Path) -> dict[int, sqlite3.Row]:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    con.row_factory = sqlite3.Row
    try:
        return {r["uid"]: r for r in con.execute("SELECT * FROM miner_metadata")}
    finally:
        con.close()


def table_rows(page: Any, selector: str) -> list[dict[str, str]]:
    return page.eval_on_selector(
        selector,
        """t => { const keys = Array.from(t.tHead.rows[0].cells).map(th => th.dataset.key);
                  return Array.from(t.tBodies[0].rows).filter(r => !r.classList.contains('empty')).map(r =>
                    Object.fromEntries(Array.from(r.cells).map((c, i) => [keys[i], c.innerText.trim()]))); }""",
    )


def test_dashboard_in_a_browser(tmp_path: Path, dashboard: Any, seeded_db: Path) -> None:
    db = tmp_path / "validator.db"
    src = sqlite3.connect(seeded_db)
    dst = sqlite3.connect(db)
    src.backup(dst)
    src.close()
    dst.close()
    served = dashboard(db, env=dashboard_env(VIDAIO_DASHBOARD__REFRESH_S="1"))
    shots = out_dir(tmp_path)
    meta = metadata(db)
    with browser_page() as (page, errors):
        # --- leaderboard: exactly the miner_metadata rows, right numbers
        page.goto(served.url)
        page.wait_for_selector("body[data-ready='1']")
        shown = table_rows(page, "#board-compression") + table_rows(page, "#board-upscaling")
        assert sorted(int(r["uid"]) for r in shown) == sorted(meta)
        for r in shown:
            m = meta[int(r["uid"])]
            assert r["accumulate_score"] == f"{m['accumulate_score']:.4f}"
            assert r["total_multiplier"] == f"{m['total_multiplier']:.3f}"
            assert r["total_rounds_completed"] == str(m["total_rounds_completed"])
            assert r["performance_tier"] == m["performance_tier"]
        for pool in ("compression", "upscaling"):
            uids = [int(r["uid"]) for r in table_rows(page, f"#board-{pool}")]
            assert {meta[u]["task_type"] for u in uids} == {pool}
        page.screenshot(path=str(shots / "leaderboard.png"), full_page=True)

        # sorting by uid (click twice: descending) and filtering by task type
        page.click("#board-compression th[data-key='uid']")
        page.click("#board-compression th[data-key='uid']")
        uids = [int(r["uid"]) for r in table_rows(page, "#board-compression")]
        assert uids == sorted(uids, reverse=True)
        page.select_option("#task-filter", "upscaling")
        assert page.is_hidden(".pool[data-pool='compression']") and page.is_visible(".pool[data-pool='upscaling']")
        page.select_option("#task-filter", "")

        # --- the page refreshes from /api/ without a reload: a new result appears
        page.evaluate("window.__same_page = 1")
        repo = Repository.open(DbConfig(path=db), ScoringConfig(), migrate=False)
        try:
            import random

            repo.start_round("round-007", block=700, task_count=1)
            repo.record_result(result(7, 1, "compression", meta[1]["hotkey"], random.Random(7)))
            repo.finish_round("round-007", timings={"prepare_s": 1.0, "wall_s": 9.0})
        finally:
            repo.close()
        new = metadata(db)[1]
        page.wait_for_function(
            "([sel, want]) => Array.from(document.querySelectorAll(sel)).some(td => td.innerText.trim() === want)",
            arg=["#board-compression td.k-int", str(new["total_rounds_completed"])], timeout=30_000,
        )  # fmt: skip
        assert page.evaluate("window.__same_page") == 1  # no reload happened

        # --- click a miner: its page, and the chart has drawn
        page.click("#board-upscaling a.uid:text-is('4')")
        page.wait_for_url("**/miner/4")
        page.wait_for_selector("body[data-ready='1']")
        page.wait_for_selector("#chart canvas")
        assert page.evaluate(CANVAS_INK) > 500
        hist = table_rows(page, "#history")
        assert len(hist) == 6 and any("task type switch" in r["marks"] for r in hist)
        page.screenshot(path=str(shots / "miner.png"), full_page=True)

        # --- rounds
        page.goto(served.url + "rounds")
        page.wait_for_selector("body[data-ready='1']")
        rounds = table_rows(page, "#rounds")
        assert rounds[0]["round_id"] == "round-007" and rounds[0]["timings.prepare_s"] == "1.0s"
        page.screenshot(path=str(shots / "rounds.png"), full_page=True)

        # --- weights: the last split
        page.goto(served.url + "weights")
        page.wait_for_selector("body[data-ready='1']")
        shares = {s.get_attribute("data-pool"): float(s.get_attribute("data-share") or 0)
                  for s in page.query_selector_all("#splitbar .seg")}  # fmt: skip
        assert shares == pytest.approx({"compression": 0.6, "upscaling": 0.4})
        assert "60.0%" in page.inner_text("#splitlegend") and "40.0%" in page.inner_text("#splitlegend")
        page.screenshot(path=str(shots / "weights.png"), full_page=True)

        assert errors == []
    for name in ("leaderboard", "miner", "rounds", "weights"):
        assert (shots / f"{name}.png").stat().st_size > 10_000
