// nbrun run dashboard: overview, live Vega charts (bundled, no CDN), click-a-step selection,
// Fork / Rewind / Stop. Python side: nbrun/widgets/_dashboard.py (the contract is documented
// there). Every user-provided string is written with textContent, never as HTML.
import embed, { vega } from "vega-embed";

const CSS = `
.nbrun-dash{font:13px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;color:#222;max-width:100%}
.nbrun-dash .nb-head{display:flex;gap:10px;align-items:baseline;flex-wrap:wrap}
.nbrun-dash .nb-name{font-weight:600;font-size:15px;white-space:pre-wrap;word-break:break-all}
.nbrun-dash .nb-id{color:#777;font-family:monospace}
.nbrun-dash .nb-state{padding:1px 7px;border-radius:9px;background:#eee;font-size:12px}
.nbrun-dash .nb-state[data-state=running]{background:#dff3e3;color:#1b6b2c}
.nbrun-dash .nb-state[data-state=finished]{background:#e3ecf7;color:#234f8a}
.nbrun-dash .nb-state[data-state=failed],.nbrun-dash .nb-state[data-state=crashed]{background:#fde2e1;color:#9b1c1c}
.nbrun-dash .nb-state[data-state=killed]{background:#f4e6d4;color:#8a4b08}
.nbrun-dash .nb-toolbar{display:flex;gap:8px;align-items:center;margin:6px 0;flex-wrap:wrap}
.nbrun-dash button{padding:2px 10px;border:1px solid #bbb;border-radius:4px;background:#fafafa;cursor:pointer}
.nbrun-dash button:disabled{opacity:.45;cursor:default}
.nbrun-dash .nb-selected{font-weight:600;color:#d62728;min-width:90px}
.nbrun-dash .nb-status{color:#555;white-space:pre-wrap}
.nbrun-dash .nb-status[data-status=error]{color:#b00020}
.nbrun-dash .nb-status[data-status=queued]{color:#8a4b08}
.nbrun-dash .nb-panel{border:1px solid #ddd;border-radius:6px;padding:8px;margin:4px 0;background:#fcfcfc}
.nbrun-dash .nb-panel:empty{display:none}
.nbrun-dash .nb-field{display:flex;gap:6px;align-items:center;margin:2px 0}
.nbrun-dash .nb-field label{min-width:120px;font-family:monospace;white-space:pre}
.nbrun-dash .nb-panel textarea{width:100%;min-height:110px;font-family:monospace}
.nbrun-dash .nb-error{color:#b00020;background:#fff5f5;white-space:pre-wrap;max-height:220px;overflow:auto;margin:4px 0;padding:4px}
.nbrun-dash .nb-error:empty{display:none}
.nbrun-dash .nb-legend{display:flex;gap:12px;flex-wrap:wrap;font-size:12px;margin:2px 0}
.nbrun-dash .nb-swatch{display:inline-block;width:14px;height:3px;margin-right:4px;vertical-align:middle}
.nbrun-dash .nb-charts{display:flex;flex-wrap:wrap;gap:8px}
.nbrun-dash .nb-chart{min-width:300px}
.nbrun-dash .nb-chart-controls{font-size:11px;color:#666;display:block;text-align:right;margin-right:16px}
.nbrun-dash .nb-filter{margin:4px 0;width:220px}
.nbrun-dash table{border-collapse:collapse;font-size:12px;margin:2px 12px 6px 0}
.nbrun-dash td{padding:1px 8px 1px 0;vertical-align:top;white-space:pre-wrap;word-break:break-word}
.nbrun-dash td:first-child{color:#666;font-family:monospace}
.nbrun-dash .nb-overview{display:flex;flex-wrap:wrap;gap:4px 18px}
.nbrun-dash h4{margin:6px 0 2px;font-size:12px;color:#444}
`;

const stores = new WeakMap();

function fmt(v) {
  if (v === null || v === undefined) return "—";
  if (typeof v === "number") {
    if (Number.isInteger(v)) return String(v);
    return String(Number(v.toPrecision(6)));
  }
  if (typeof v === "string") return v;
  return JSON.stringify(v);
}

function fmtTime(s) {
  if (typeof s !== "number") return "—";
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(Math.floor(s % 60)).padStart(2, "0")}s`;
  return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, "0")}m`;
}

function h(tag, attrs = {}, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else e.setAttribute(k, v);
  }
  if (text !== undefined) e.textContent = text;
  return e;
}

// Model-level chart data shared by every view of the widget: starts from the `_base` snapshot
// and follows the delta messages (sequence-numbered; a gap asks Python for a resync).
function getStore(model) {
  let st = stores.get(model);
  if (st) return st;
  st = { seq: -1, points: {}, forks: {}, listeners: new Set() };
  stores.set(model, st);
  const emit = (ev) => st.listeners.forEach((fn) => fn(ev));
  const applyBase = () => {
    const b = model.get("_base");
    if (!b || typeof b.seq !== "number" || b.seq < st.seq) return;
    st.seq = b.seq;
    st.points = {};
    for (const [m, bySeries] of Object.entries(b.points || {})) {
      st.points[m] = new Map(Object.entries(bySeries));
    }
    st.forks = b.forks || {};
    emit({ type: "base" });
  };
  model.on("change:_base", applyBase);
  model.on("msg:custom", (msg) => {
    if (!msg || msg.type !== "delta" || msg.seq <= st.seq) return;
    if (msg.seq > st.seq + 1) model.send({ action: "resync" });
    st.seq = msg.seq;
    for (const [m, s, from, pts] of msg.changes) {
      const bySeries = (st.points[m] ||= new Map());
      const old = bySeries.get(s) || [];
      bySeries.set(s, old.filter((p) => p[0] < from).concat(pts));
    }
    emit({ type: "delta", changes: msg.changes });
  });
  applyBase();
  return st;
}

function seriesMeta(model) {
  const map = new Map();
  for (const s of model.get("series") || []) map.set(s.key, s);
  return map;
}

// Points are drawn (and clickable one by one) while a series has at most DRAW_POINTS of them;
// above that only its line is drawn and a click selects the nearest step by x.
const DRAW_POINTS = 400;

function tuples(meta, s, pts, total) {
  const m = meta.get(s) || { color: "#888", dash: "own", opacity: 1, pickable: false };
  const draw = !!m.pickable && (total ?? pts.length) <= DRAW_POINTS;
  return pts.map(([i, x, y, step]) => ({
    s, i, x, y, step, c: m.color, g: m.dash, o: m.opacity, p: draw, k: !!m.pickable,
  }));
}

function render({ model, el }) {
  const st = getStore(model);
  const root = h("div", { class: "nbrun-dash", "data-ready": "0" });
  root.appendChild(h("style", {}, CSS));
  const head = h("div", { class: "nb-head" });
  const nameEl = h("span", { class: "nb-name" });
  const stateEl = h("span", { class: "nb-state" });
  const idEl = h("span", { class: "nb-id" });
  const stepEl = h("span", { class: "nb-step" });
  const progress = h("progress", { class: "nb-progress" });
  head.append(nameEl, stateEl, idEl, stepEl, progress);
  const toolbar = h("div", { class: "nb-toolbar" });
  const selEl = h("span", { class: "nb-selected", "data-selected-step": "" }, "click a point");
  const forkBtn = h("button", { "data-action": "fork", title: "fork a new run from the selected step" }, "Fork");
  const rewindBtn = h("button", { "data-action": "rewind", title: "rewind this run to the selected step" }, "Rewind");
  const stopBtn = h("button", { "data-action": "stop", title: "stop the running run" }, "Stop");
  const statusEl = h("span", { class: "nb-status", "data-status": "" });
  toolbar.append(selEl, forkBtn, rewindBtn, stopBtn, statusEl);
  const panel = h("div", { class: "nb-panel" });
  const errorEl = h("pre", { class: "nb-error" });
  const legend = h("div", { class: "nb-legend" });
  const chartsEl = h("div", { class: "nb-charts" });
  const filterEl = h("input", { type: "search", class: "nb-filter", placeholder: "filter metrics", "data-action": "filter" });
  filterEl.oninput = () => applyFilter();
  const overviewEl = h("div", { class: "nb-overview" });
  root.append(head, toolbar, panel, errorEl, legend, filterEl, chartsEl, overviewEl);
  el.appendChild(root);

  const views = new Map(); // metric -> {view, div}
  let meta = seriesMeta(model);
  let reqCounter = Math.floor(Math.random() * 1e6);
  let pending = null;
  let alive = true;

  // ---- charts -----------------------------------------------------------------------
  function fill(metric, v) {
    const bySeries = st.points[metric] || new Map();
    const all = [];
    for (const [s, pts] of bySeries) all.push(...tuples(meta, s, pts, pts.length));
    const forks = (st.forks[metric] || []).map(([x, y, c, label]) => ({ x, y, c, label }));
    v.change("rows", vega.changeset().remove(vega.truthy).insert(all));
    v.change("forks", vega.changeset().remove(vega.truthy).insert(forks));
    v.change("selected", vega.changeset().remove(vega.truthy).insert(selectedTuple(metric)));
    v.change("ckpts", vega.changeset().remove(vega.truthy).insert(checkpointTuples(metric)));
    return v.runAsync();
  }

  function checkpointTuples(metric) {
    const cps = model.get("checkpoints") || [];
    const bySeries = st.points[metric];
    if (!cps.length || !bySeries) return [];
    const xOf = new Map();
    for (const [s, pts] of bySeries) {
      const m = meta.get(s);
      if (m && m.pickable) for (const p of pts) xOf.set(p[3], p[1]);
    }
    return cps.filter((c) => xOf.has(c)).map((step) => ({ x: xOf.get(step), step }));
  }

  function showCheckpoints() {
    for (const [metric, { view }] of views) {
      if (!view) continue;
      view.change("ckpts", vega.changeset().remove(vega.truthy).insert(checkpointTuples(metric)));
      view.runAsync();
    }
  }

  function nearestPickable(metric, key, value) {
    const bySeries = st.points[metric];
    if (!bySeries) return null;
    let best = null;
    let bestD = Infinity;
    for (const [s, pts] of bySeries) {
      const m = meta.get(s);
      if (!m || !m.pickable) continue;
      for (const p of pts) {
        const d = Math.abs(p[key] - value);
        if (d < bestD) { bestD = d; best = p; }
      }
    }
    return best;
  }

  function selectedTuple(metric) {
    const step = model.get("selected_step");
    if (step === null || step === undefined) return [];
    const p = nearestPickable(metric, 3, step);
    return p ? [{ x: p[1], y: p[2] }] : [];
  }

  function onClick(metric, v) {
    return (event, item) => {
      let step = null;
      // a point's item is its row; a line's item is only its first row: invert x instead
      const isPoint = item && item.mark && item.mark.marktype === "symbol";
      if (isPoint && item.datum && item.datum.k && typeof item.datum.step === "number") {
        step = item.datum.step;
      } else {
        const svg = v.container() && v.container().querySelector("svg");
        if (!svg) return;
        const rect = svg.getBoundingClientRect();
        const px = event.clientX - rect.left - v.origin()[0];
        let xv;
        try { xv = v.scale("x").invert(px); } catch (e) { return; }
        const p = nearestPickable(metric, 1, xv);
        if (p) step = p[3];
      }
      if (step !== null) select(step);
    };
  }

  function select(step) {
    const cps = model.get("checkpoints") || [];
    if (cps.length) {
      const before = cps.filter((c) => c <= step);
      if (before.length) step = before[before.length - 1];
    }
    model.set("selected_step", step);
    model.save_changes();
    showSelection();
  }

  function showSelection() {
    const step = model.get("selected_step");
    const has = step !== null && step !== undefined;
    selEl.textContent = has ? `step ${step}` : "click a point";
    selEl.setAttribute("data-selected-step", has ? String(step) : "");
    for (const [metric, { view }] of views) {
      if (!view) continue;
      view.change("selected", vega.changeset().remove(vega.truthy).insert(selectedTuple(metric)));
      view.runAsync();
    }
    updateButtons();
  }

  // Embedding happens once per chart; only the user's "log y" toggle embeds a chart again.
  function embedChart(c, entry, div) {
    let spec = c.spec;
    if (entry.log) {
      const positive = [...(st.points[c.metric] || new Map()).values()]
        .every((pts) => pts.every((p) => p[2] > 0));
      spec = JSON.parse(JSON.stringify(c.spec));
      for (const layer of spec.layer || []) {
        const y = layer.encoding && layer.encoding.y;
        if (y && y.field) y.scale = { ...(y.scale || {}), type: positive ? "log" : "symlog", zero: false };
      }
    }
    if (entry.view) { entry.view.finalize(); entry.view = null; }
    return embed(div, spec, { renderer: "svg", actions: false, mode: "vega-lite" }).then(async (res) => {
      if (!alive) { res.finalize(); return; }
      entry.view = res.view;
      entry.div.__nbrunView = res.view; // a hook for tests: the Vega view of this chart
      res.view.addEventListener("click", onClick(c.metric, res.view));
      await fill(c.metric, res.view);
    }).catch((err) => {
      errorEl.textContent = `chart ${c.metric}: ${err && err.message ? err.message : err}`;
    });
  }

  function applyFilter() {
    const text = filterEl.value.trim().toLowerCase();
    filterEl.style.display = views.size > 4 ? "" : "none";
    for (const [metric, entry] of views) {
      entry.div.style.display = !text || metric.toLowerCase().includes(text) ? "" : "none";
    }
  }

  async function syncCharts() {
    const charts = model.get("charts") || [];
    const wanted = new Set(charts.map((c) => c.metric));
    for (const [metric, entry] of views) {
      if (!wanted.has(metric)) {
        if (entry.view) entry.view.finalize();
        entry.div.remove();
        views.delete(metric);
      }
    }
    const jobs = [];
    for (const c of charts) {
      if (views.has(c.metric)) continue;
      const box = h("div", { class: "nb-chart", "data-metric": c.metric });
      const controls = h("label", { class: "nb-chart-controls" });
      const logBox = h("input", { type: "checkbox", "data-action": "log-y" });
      controls.append(logBox, document.createTextNode(" log y"));
      const div = h("div", { class: "nb-vega" });
      box.append(controls, div);
      chartsEl.appendChild(box);
      const entry = { view: null, div: box, log: false };
      views.set(c.metric, entry);
      logBox.onchange = () => {
        entry.log = logBox.checked;
        embedChart(c, entry, div);
      };
      jobs.push(embedChart(c, entry, div));
    }
    applyFilter();
    await Promise.all(jobs);
    root.setAttribute("data-charts", String(views.size));
    root.setAttribute("data-ready", "1");
  }

  // Deltas only mark series dirty; a flush at most every 100 ms re-reads them from the store
  // (one changeset per chart), so a busy run never floods the browser's main thread.
  const dirty = new Map(); // metric -> Map(series -> lowest changed index)
  let flushTimer = null;
  let renders = 0;
  function flush() {
    flushTimer = null;
    for (const [m, bySeries] of dirty) {
      const entry = views.get(m);
      if (!entry || !entry.view) continue;
      const ins = [];
      for (const [s, from] of bySeries) {
        const pts = (st.points[m] && st.points[m].get(s)) || [];
        ins.push(...tuples(meta, s, from === 0 ? pts : pts.filter((p) => p[0] >= from), pts.length));
      }
      entry.view.change("rows", vega.changeset()
        .remove((t) => bySeries.has(t.s) && t.i >= bySeries.get(t.s)).insert(ins));
      entry.view.change("selected", vega.changeset().remove(vega.truthy).insert(selectedTuple(m)));
      entry.view.change("ckpts", vega.changeset().remove(vega.truthy).insert(checkpointTuples(m)));
      entry.view.runAsync();
    }
    dirty.clear();
    renders += 1;
    root.setAttribute("data-renders", String(renders));
  }
  const onStore = (ev) => {
    if (ev.type === "base") {
      meta = seriesMeta(model);
      renderLegend();
      dirty.clear();
      for (const [metric, { view }] of views) if (view) fill(metric, view);
    } else {
      for (const [m, s, from, pts] of ev.changes) {
        if (!dirty.has(m)) dirty.set(m, new Map());
        const bySeries = dirty.get(m);
        const all = (st.points[m] && st.points[m].get(s)) || [];
        // a series that crosses the point-drawing limit is redrawn whole
        const crossed = all.length > DRAW_POINTS && all.length - pts.length <= DRAW_POINTS;
        const f = crossed ? 0 : from;
        bySeries.set(s, Math.min(f, bySeries.has(s) ? bySeries.get(s) : Infinity));
      }
      root.setAttribute("data-seq", String(st.seq));
      if (flushTimer === null) flushTimer = setTimeout(flush, 100);
    }
  };
  st.listeners.add(onStore);

  function renderLegend() {
    legend.replaceChildren();
    for (const s of model.get("series") || []) {
      const item = h("span", { class: "nb-legend-item", "data-series": s.key, "data-role": s.role });
      const sw = h("span", { class: "nb-swatch" });
      sw.style.background = s.color;
      sw.style.opacity = String(s.opacity);
      if (s.dash !== "own") sw.style.background = `repeating-linear-gradient(90deg, ${s.color} 0 4px, transparent 4px 7px)`;
      item.append(sw, document.createTextNode(s.label));
      legend.appendChild(item);
    }
  }

  // ---- overview ---------------------------------------------------------------------
  function table(title, rows, attrs = {}) {
    const box = h("div", attrs);
    box.appendChild(h("h4", {}, title));
    const t = h("table");
    for (const [k, v] of rows) {
      const tr = h("tr");
      tr.append(h("td", {}, k), h("td", {}, v));
      t.appendChild(tr);
    }
    if (!rows.length) box.appendChild(h("div", {}, "—"));
    else box.appendChild(t);
    return box;
  }

  function renderOverview() {
    const ov = model.get("overview") || {};
    nameEl.textContent = ov.name ?? "";
    stateEl.textContent = ov.state ?? "";
    stateEl.setAttribute("data-state", ov.state ?? "");
    root.setAttribute("data-run-id", ov.id ?? "");
    root.setAttribute("data-state", ov.state ?? "");
    idEl.textContent = `${ov.project ?? ""}/${ov.id ?? ""}`;
    stepEl.textContent = `step ${Math.max(0, (ov.step ?? 0) - 1)} · ${fmtTime(ov.runtime)}`;
    if (typeof ov.total === "number" && ov.total > 0) {
      progress.max = ov.total;
      progress.value = Math.min(ov.step ?? 0, ov.total);
      progress.style.display = "";
      progress.title = `${ov.step ?? 0} / ${ov.total}`;
    } else progress.style.display = "none";
    const info = [
      ["id", ov.id], ["state", ov.state], ["runtime", fmtTime(ov.runtime)],
      ["step", fmt(ov.step)], ["tags", (ov.tags || []).join(", ") || "—"], ["notes", fmt(ov.notes)],
    ];
    if (ov.group) info.push(["group", ov.group]);
    if (ov.job_type) info.push(["job_type", ov.job_type]);
    if (ov.forked_from) info.push(["forked from", `${ov.forked_from.run_id} at step ${ov.forked_from.step}`]);
    const blocks = [table("run", info, { class: "nb-info" })];
    if (ov.forked_from) {
      const diff = Object.entries(ov.config_diff || {}).map(([k, d]) => [k, `${fmt(d.from)} → ${fmt(d.to)}`]);
      blocks.push(table(`config changed vs parent ${ov.forked_from.run_id}`, diff, { class: "nb-config", "data-diff": "1" }));
    } else {
      blocks.push(table("config", Object.entries(ov.config || {}).map(([k, v]) => [k, fmt(v)]), { class: "nb-config" }));
    }
    blocks.push(table("summary", Object.entries(ov.summary || {}).map(([k, v]) => [k, fmt(v)]), { class: "nb-summary" }));
    if ((ov.children || []).length) {
      blocks.push(table("forks", ov.children.map((c) => [c.id, `${c.name} · at step ${c.step} · ${c.state}`]), { class: "nb-children" }));
    }
    if ((ov.archives || []).length) {
      blocks.push(table("archived segments", ov.archives.map((a) => [`#${a.index}`, `steps ${a.from_step}–${a.to_step} · ${a.rows ?? "?"} rows · ${a.reason}`]), { class: "nb-archives" }));
    }
    if ((ov.alerts || []).length) {
      blocks.push(table("alerts", ov.alerts.map((a) => [String(a.level ?? ""), `${a.title ?? ""}: ${String(a.text ?? "").slice(0, 300)}`]), { class: "nb-alerts" }));
    }
    overviewEl.replaceChildren(...blocks);
    renderErrors();
    updateButtons();
  }

  function renderErrors() {
    const ov = model.get("overview") || {};
    const parts = [];
    if (ov.restore_warning) parts.push(`note: ${ov.restore_warning}`);
    if (ov.training_error) parts.push(`training failed:\n${ov.training_error}`);
    if (model.get("error")) parts.push(model.get("error"));
    errorEl.textContent = parts.join("\n\n");
  }

  function updateButtons() {
    const ov = model.get("overview") || {};
    const step = model.get("selected_step");
    const busy = pending !== null;
    const has = step !== null && step !== undefined;
    forkBtn.disabled = busy || !has;
    rewindBtn.disabled = busy || !has;
    stopBtn.disabled = busy || !(ov.state === "running" || ov.state === "preempting");
  }

  // ---- actions ----------------------------------------------------------------------
  function setStatus(kind, text) {
    statusEl.setAttribute("data-status", kind);
    statusEl.textContent = text;
  }

  function send(action, extra, what) {
    const req = ++reqCounter;
    pending = { req, action, what };
    model.send({ action, req, ...extra });
    setStatus("pending", `${what}: sent…`);
    updateButtons();
    setTimeout(() => {
      if (pending && pending.req === req) {
        setStatus("queued", `${what}: queued, the kernel is busy (a cell is running); it happens when the cell finishes`);
      }
    }, 800);
  }

  function onResult() {
    const r = model.get("result") || {};
    if (!pending || r.req !== pending.req) return;
    pending = null;
    setStatus(r.ok ? "ok" : "error", r.message || (r.ok ? "done" : "failed"));
    if (r.ok && r.run_id) statusEl.setAttribute("data-run-id", r.run_id);
    panel.replaceChildren();
    updateButtons();
  }

  function configEditor(step) {
    const ov = model.get("overview") || {};
    const config = ov.config || {};
    panel.replaceChildren();
    panel.setAttribute("data-panel", "fork");
    panel.appendChild(h("div", {}, `Fork from step ${step}: edit the config of the new run`));
    const fields = h("div", { class: "nb-fields" });
    const inputs = [];
    for (const [k, v] of Object.entries(config)) {
      const row = h("div", { class: "nb-field" });
      const id = `nbf-${reqCounter}-${inputs.length}`;
      row.appendChild(h("label", { for: id }, k));
      let input;
      if (typeof v === "boolean") {
        input = h("input", { type: "checkbox", id, "data-key": k });
        input.checked = v;
      } else if (typeof v === "number") {
        input = h("input", { type: "number", step: "any", id, "data-key": k });
        input.value = String(v);
      } else if (typeof v === "string") {
        input = h("input", { type: "text", id, "data-key": k });
        input.value = v;
      } else {
        input = h("input", { type: "text", id, "data-key": k, "data-json": "1" });
        input.value = JSON.stringify(v);
      }
      inputs.push([k, v, input]);
      row.appendChild(input);
      fields.appendChild(row);
    }
    const area = h("textarea", { class: "nb-json", "data-key": "__json__" });
    area.value = JSON.stringify(config, null, 2);
    area.style.display = "none";
    const toggle = h("button", { "data-action": "toggle-json" }, "edit as JSON");
    let jsonMode = false;
    toggle.onclick = () => {
      jsonMode = !jsonMode;
      area.style.display = jsonMode ? "" : "none";
      fields.style.display = jsonMode ? "none" : "";
      toggle.textContent = jsonMode ? "edit as fields" : "edit as JSON";
    };
    const msg = h("div", { class: "nb-status", "data-status": "" });
    const ok = h("button", { "data-action": "confirm-fork" }, `Fork at step ${step}`);
    const cancel = h("button", { "data-action": "cancel" }, "Cancel");
    cancel.onclick = () => panel.replaceChildren();
    ok.onclick = () => {
      let out;
      try {
        if (jsonMode) {
          out = JSON.parse(area.value);
          if (typeof out !== "object" || out === null || Array.isArray(out)) throw new Error("the config must be a JSON object");
        } else {
          out = {};
          for (const [k, v, input] of inputs) {
            if (input.type === "checkbox") out[k] = input.checked;
            else if (input.type === "number") {
              const n = Number(input.value);
              if (input.value.trim() === "" || !Number.isFinite(n)) throw new Error(`${k}: ${JSON.stringify(input.value)} is not a number`);
              out[k] = n;
            } else if (input.getAttribute("data-json")) {
              try { out[k] = JSON.parse(input.value); } catch (e) { throw new Error(`${k}: not valid JSON`); }
            } else out[k] = input.value;
            void v;
          }
        }
      } catch (e) {
        msg.setAttribute("data-status", "error");
        msg.textContent = e.message;
        return;
      }
      send("fork", { step, config: out }, `fork at step ${step}`);
    };
    const buttons = h("div", { class: "nb-toolbar" });
    buttons.append(ok, cancel, toggle);
    panel.append(fields, area, buttons, msg);
  }

  function rewindConfirm(step) {
    const ov = model.get("overview") || {};
    panel.replaceChildren();
    panel.setAttribute("data-panel", "rewind");
    panel.appendChild(h("div", {}, `Rewind run ${ov.id} to step ${step}? Its rows after step ${step} move to an archived segment (kept, drawn faded) and the run continues at step ${step + 1}.`));
    const ok = h("button", { "data-action": "confirm-rewind" }, `Rewind to step ${step}`);
    const cancel = h("button", { "data-action": "cancel" }, "Cancel");
    cancel.onclick = () => panel.replaceChildren();
    ok.onclick = () => send("rewind", { step }, `rewind to step ${step}`);
    const buttons = h("div", { class: "nb-toolbar" });
    buttons.append(ok, cancel);
    panel.appendChild(buttons);
  }

  forkBtn.onclick = () => configEditor(model.get("selected_step"));
  rewindBtn.onclick = () => rewindConfirm(model.get("selected_step"));
  stopBtn.onclick = () => send("stop", {}, "stop");

  // ---- wiring -----------------------------------------------------------------------
  const handlers = [
    ["change:overview", renderOverview],
    ["change:error", renderErrors],
    ["change:result", onResult],
    ["change:selected_step", showSelection],
    ["change:charts", syncCharts],
    ["change:checkpoints", showCheckpoints],
    ["change:series", () => { meta = seriesMeta(model); renderLegend(); }],
  ];
  for (const [ev, fn] of handlers) model.on(ev, fn);
  renderOverview();
  renderLegend();
  showSelection();
  syncCharts();

  return () => {
    alive = false;
    if (flushTimer !== null) clearTimeout(flushTimer);
    st.listeners.delete(onStore);
    for (const [ev, fn] of handlers) model.off(ev, fn);
    for (const { view } of views.values()) if (view) view.finalize();
  };
}

export default {
  initialize({ model }) {
    getStore(model);
  },
  render,
};
