/* vidaio dashboard: refresh tables and charts from the JSON API (no page reload), sort, filter.
   The cell kinds mirror vidaio/dashboard/views.py. uPlot is vendored under /static/vendor/. */
(function () {
  "use strict";
  const body = document.body;
  const page = body.dataset.page;
  const api = body.dataset.api;
  const refreshMs = Math.max(1000, parseFloat(body.dataset.refresh || "5") * 1000);
  const GOOD = new Set(["ok", "finished", "success"]);

  const esc = (v) => String(v).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
  const statusClass = (s) => (GOOD.has(String(s)) ? "good" : String(s) === "running" ? "live" : "bad");
  const valueOf = (row, key) => key.split(".").reduce((v, k) => (v && typeof v === "object" ? v[k] : undefined), row);
  function fmtDur(s) {
    s = Number(s);
    if (s < 60) return s.toFixed(1) + "s";
    if (s < 3600) return Math.floor(s / 60) + "m " + String(Math.floor(s % 60)).padStart(2, "0") + "s";
    return Math.floor(s / 3600) + "h " + String(Math.floor((s % 3600) / 60)).padStart(2, "0") + "m";
  }
  const fmtTime = (v) => String(v).replace("T", " ").replace(/Z$/, "").replace(/\.\d+$/, "");

  function cell(row, key, kind) {
    const v = valueOf(row, key);
    if (kind === "marks") return (v || []).map((m) => `<span class="mark">${esc(m)}</span>`).join("");
    if (v === null || v === undefined || v === "") return '<span class="na">–</span>';
    switch (kind) {
      case "int": return esc(Math.trunc(Number(v)));
      case "f2": case "f3": case "f4": return esc(Number(v).toFixed(Number(kind[1])));
      case "pct": return esc((Number(v) * 100).toFixed(1) + "%");
      case "dur": return esc(fmtDur(v));
      case "time": return esc(fmtTime(v));
      case "uid": return `<a class="uid" href="/miner/${Number(v)}">${Number(v)}</a>`;
      case "hotkey": { const t = String(v); const s = t.length <= 12 ? t : t.slice(0, 6) + "…" + t.slice(-4); return `<span class="mono" title="${esc(t)}">${esc(s)}</span>`; }
      case "status": return `<span class="badge ${statusClass(v)}">${esc(v)}</span>`;
      case "tier": return `<span class="tier tier-${esc(String(v).toLowerCase())}">${esc(v)}</span>`;
      case "bool": return `<span class="badge ${v ? "good" : "bad"}">${v ? "yes" : "no"}</span>`;
      case "count": return esc(typeof v === "object" ? Object.keys(v).length : v);
      case "counts": return Object.keys(v).sort().map((k) => `<span class="badge ${statusClass(k)} small">${esc(k)} ${esc(v[k])}</span>`).join(" ");
      case "reason": { const t = String(v); const s = t.length <= 80 ? t : t.slice(0, 79) + "…"; return `<span class="reason" title="${esc(t)}">${esc(s)}</span>`; }
      case "mono": return `<span class="mono">${esc(v)}</span>`;
      default: return esc(v);
    }
  }

  // ---- tables: render, sort ------------------------------------------------------------------
  function columnsOf(table) {
    return Array.from(table.tHead.rows[0].cells).map((th) => ({ key: th.dataset.key, kind: th.dataset.kind }));
  }
  function sortValue(row, col) {
    const v = valueOf(row, col.key);
    if (v === null || v === undefined) return null;
    if (typeof v === "number" || typeof v === "boolean") return Number(v);
    if (typeof v === "object") return Object.keys(v).length;
    return String(v);
  }
  function renderTable(table, rows, emptyText) {
    if (!table) return;
    table._rows = rows;
    const cols = columnsOf(table);
    let shown = rows.slice();
    const sk = table.dataset.sortKey;
    if (sk !== undefined) {
      const col = cols[Number(sk)];
      const dir = table.dataset.sortDir === "desc" ? -1 : 1;
      shown.sort((a, b) => {
        const x = sortValue(a, col), y = sortValue(b, col);
        if (x === y) return 0;
        if (x === null) return 1;
        if (y === null) return -1;
        return (x < y ? -1 : 1) * dir;
      });
    }
    const tbody = table.tBodies[0];
    if (!shown.length) {
      tbody.innerHTML = `<tr class="empty"><td colspan="${cols.length}">${esc(emptyText || tbody.textContent.trim() || "no rows")}</td></tr>`;
      return;
    }
    tbody.innerHTML = shown.map((r) => `<tr${r.marks && r.marks.length ? ' class="marked"' : ""}>` +
      cols.map((c) => `<td class="k-${c.kind}">${cell(r, c.key, c.kind)}</td>`).join("") + "</tr>").join("");
  }
  function makeSortable(table, initialRows) {
    table._rows = initialRows;
    Array.from(table.tHead.rows[0].cells).forEach((th, i) => {
      th.addEventListener("click", () => {
        const same = table.dataset.sortKey === String(i);
        table.dataset.sortDir = same && table.dataset.sortDir === "asc" ? "desc" : "asc";
        table.dataset.sortKey = String(i);
        Array.from(th.parentNode.cells).forEach((o) => o.classList.remove("asc", "desc"));
        th.classList.add(table.dataset.sortDir);
        renderTable(table, table._rows || []);
      });
    });
  }

  // ---- charts (uPlot) -------------------------------------------------------------------------
  const hasPlot = typeof window.uPlot === "function";
  const INT_INCRS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000];
  function markerPlugin(getMarkers) {
    return {
      hooks: {
        draw: [(u) => {
          const ctx = u.ctx;
          ctx.save();
          ctx.strokeStyle = "#b45309";
          ctx.fillStyle = "#b45309";
          ctx.setLineDash([5, 4]);
          ctx.lineWidth = 1.5 * devicePixelRatio;
          ctx.font = `${11 * devicePixelRatio}px system-ui, sans-serif`;
          for (const m of getMarkers()) {
            const x = Math.round(u.valToPos(m.n, "x", true));
            ctx.beginPath();
            ctx.moveTo(x, u.bbox.top);
            ctx.lineTo(x, u.bbox.top + u.bbox.height);
            ctx.stroke();
            ctx.fillText(m.label, x + 4 * devicePixelRatio, u.bbox.top + 12 * devicePixelRatio);
          }
          ctx.restore();
        }],
      },
    };
  }
  function sizeOf(el, h) { return { width: Math.max(300, el.clientWidth), height: h }; }
  function onResize(plot, el, h) {
    window.addEventListener("resize", () => plot.setSize(sizeOf(el, h)));
  }

  let minerPlot = null, minerMarkers = [];
  function minerData(m) {
    const h = m.history || [];
    return [h.map((r) => r.n), h.map((r) => r.s_f), h.map((r) => r.accumulate_score), h.map((r) => r.applied_multiplier)];
  }
  function drawMinerChart(m) {
    const el = document.getElementById("chart");
    if (!el || !hasPlot) return;
    minerMarkers = m.markers || [];
    const data = minerData(m);
    if (minerPlot) { minerPlot.setData(data); return; }
    const opts = Object.assign(sizeOf(el, 300), {
      plugins: [markerPlugin(() => minerMarkers)],
      legend: { live: false },
      scales: {
        x: { time: false, range: (u, lo, hi) => [lo - 0.3, hi + 0.3] },
        y: { range: (u, lo, hi) => [0, Math.max(hi || 0, 0.01) * 1.1] },
        mult: { auto: true },
      },
      axes: [
        { label: "result #", incrs: INT_INCRS, values: (u, v) => v.map((x) => (Number.isInteger(x) ? x : "")) },
        { label: "score" },
        { scale: "mult", side: 1, label: "multiplier", grid: { show: false } },
      ],
      series: [
        { label: "result" },
        { label: "S (round score)", stroke: "#2563eb", width: 2, points: { show: true, size: 6 } },
        { label: "accumulate score", stroke: "#16a34a", width: 2 },
        { label: "multiplier", stroke: "#9333ea", width: 1.5, dash: [6, 3], scale: "mult" },
      ],
    });
    minerPlot = new uPlot(opts, data, el);
    onResize(minerPlot, el, 300);
  }

  let roundsPlot = null;
  const STAGES = ["prepare_s", "dispatch_s", "download_s", "validate_s", "metrics_s", "db_s"];
  const STAGE_COLORS = ["#0ea5e9", "#6366f1", "#14b8a6", "#f59e0b", "#ef4444", "#64748b"];
  function roundsData(d) {
    const rs = (d.rounds || []).slice().reverse();
    const xs = rs.map((_, i) => i + 1);
    const series = [xs, rs.map((r) => (r.duration_s === null || r.duration_s === undefined ? null : r.duration_s))];
    for (const s of STAGES) series.push(rs.map((r) => (r.timings && r.timings[s] !== undefined ? r.timings[s] : null)));
    return series;
  }
  function drawRoundsChart(d) {
    const el = document.getElementById("rounds-chart");
    if (!el || !hasPlot) return;
    const data = roundsData(d);
    if (roundsPlot) { roundsPlot.setData(data); return; }
    const bars = uPlot.paths && uPlot.paths.bars ? uPlot.paths.bars({ size: [0.6, 40] }) : undefined;
    const opts = Object.assign(sizeOf(el, 240), {
      legend: { live: false },
      scales: { x: { time: false, range: (u, lo, hi) => [lo - 0.6, hi + 0.6] } },
      axes: [{ label: "round (oldest left)", incrs: INT_INCRS, values: (u, v) => v.map((x) => (Number.isInteger(x) ? x : "")) }, { label: "seconds" }],
      series: [{ label: "round" }, { label: "wall", stroke: "#94a3b8", fill: "rgba(148,163,184,0.35)", paths: bars, points: { show: false } }]
        .concat(STAGES.map((s, i) => ({ label: s.replace(/_s$/, ""), stroke: STAGE_COLORS[i], width: 2 }))),
    });
    roundsPlot = new uPlot(opts, data, el);
    onResize(roundsPlot, el, 240);
  }

  // ---- pages ----------------------------------------------------------------------------------
  const initial = (() => { const s = document.getElementById("initial"); return s ? JSON.parse(s.textContent) : null; })();
  function setText(sel, text) { const el = document.querySelector(sel); if (el) el.textContent = text; }

  const pages = {
    leaderboard: {
      init() {
        document.querySelectorAll("table.sortable").forEach((t) => makeSortable(t, null));
        const sel = document.getElementById("task-filter");
        if (sel) sel.addEventListener("change", () => {
          document.querySelectorAll(".pool").forEach((p) => { p.hidden = !!sel.value && p.dataset.pool !== sel.value; });
        });
      },
      async refresh() {
        const [board, summary] = await Promise.all([getJSON(api), getJSON("/api/summary")]);
        for (const [t, rows] of Object.entries(board.pools)) {
          renderTable(document.getElementById("board-" + t), rows, "no " + t + " miner yet");
          setText("#count-" + t, rows.length);
        }
        document.querySelectorAll("[data-summary]").forEach((el) => {
          const v = valueOf(summary, el.dataset.summary);
          el.textContent = v === null || v === undefined ? "–" : v;
        });
      },
    },
    miner: {
      init() {
        document.querySelectorAll("table.sortable").forEach((t) => makeSortable(t, initial ? initial.history.slice().reverse() : null));
        if (initial) drawMinerChart(initial);
      },
      async refresh() {
        const m = await getJSON(api);
        renderTable(document.getElementById("history"), m.history.slice().reverse(), "no result yet");
        drawMinerChart(m);
        document.querySelectorAll("[data-meta]").forEach((el) => { el.innerHTML = cell(m.meta || {}, el.dataset.meta, el.dataset.kind); });
        const mk = document.getElementById("markers");
        if (mk) mk.innerHTML = (m.markers || []).map((x) => `<span class="mark">#${x.n}: ${esc(x.label)}</span>`).join("");
      },
    },
    rounds: {
      init() {
        document.querySelectorAll("table.sortable").forEach((t) => makeSortable(t, initial ? initial.rounds : null));
        if (initial) drawRoundsChart(initial);
      },
      async refresh() {
        const d = await getJSON(api);
        renderTable(document.getElementById("rounds"), d.rounds, "no round yet");
        drawRoundsChart(d);
        const box = document.getElementById("running");
        const r = d.running;
        if (box) box.innerHTML = r
          ? `<div class="runbox"><span class="badge live">running</span> round <b>${esc(r.round_id)}</b> · <span id="run-count">${r.recorded} / ${r.task_count}</span> results recorded · started ${cell(r, "started_at", "time")}` +
            `<div class="bar"><div class="fill" id="run-fill" style="width: ${r.task_count ? (100 * r.recorded) / r.task_count : 0}%"></div></div></div>`
          : '<div class="runbox idle">no round in progress</div>';
      },
    },
    weights: {
      init() {
        document.querySelectorAll("table.sortable").forEach((t) => makeSortable(t, initial ? initial.weight_sets : null));
      },
      async refresh() {
        const d = await getJSON(api);
        renderTable(document.getElementById("weights"), d.weight_sets, "no attempt yet");
        const last = d.last_success;
        const bar = document.getElementById("splitbar");
        if (last && bar) {
          bar.innerHTML = Object.entries(last.pool_split).filter(([, v]) => v > 0)
            .map(([t, v]) => `<div class="seg seg-${esc(t)}" style="width: ${v * 100}%" data-pool="${esc(t)}" data-share="${v}"><span>${esc(t)} ${(v * 100).toFixed(1)}%</span></div>`).join("");
          document.querySelectorAll("[data-split]").forEach((el) => { el.textContent = ((last.pool_split[el.dataset.split] || 0) * 100).toFixed(1) + "%"; });
          const meta = document.getElementById("split-meta");
          if (meta) meta.innerHTML = `id ${esc(last.id)} · block ${last.block === null ? "–" : esc(last.block)} · ${cell(last, "created_at", "time")} · split ${esc(last.split_source)}` +
            (last.split_note ? ` · <b class="warntext">${esc(last.split_note)}</b>` : "");
        }
      },
    },
  };

  async function getJSON(url) {
    const r = await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin", cache: "no-store" });
    if (!r.ok) throw new Error("HTTP " + r.status + " from " + url);
    return r.json();
  }

  const live = document.getElementById("live");
  const updated = document.getElementById("updated");
  async function tick() {
    const p = pages[page];
    if (!p || !api) return;
    try {
      await p.refresh();
      live.classList.remove("stale");
      updated.textContent = "updated " + new Date().toLocaleTimeString();
      body.dataset.refreshed = String(Number(body.dataset.refreshed || "0") + 1);
    } catch (e) {
      live.classList.add("stale");
      updated.textContent = "refresh failed: " + e.message;
    }
  }
  if (pages[page]) {
    pages[page].init();
    setInterval(tick, refreshMs);
  }
  body.dataset.ready = "1";
})();
