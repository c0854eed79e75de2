// The dashboard's charts: one Vega view per metric (embedded once, fed through the named
// datasets rows / forks / selected / ckpts), the legend, the metric filter, click-a-step
// selection and the throttled redraw of the series that deltas touched.
import embed, { vega } from "vega-embed";
import { h } from "../lib/dom.js";
import { vegaConfig } from "../lib/theme.js";
import { markDirty } from "./store.js";
import {
  checkpointTuples,
  nearestPickable,
  seriesMeta,
  snapToCheckpoint,
  tuples,
} from "./points.js";

const replaceAll = (rows) => vega.changeset().remove(vega.truthy).insert(rows);

// `onSelect()` runs after a click set `selected_step`; `reportError(text)` shows an error.
export function createCharts({ model, store, root, onSelect, reportError }) {
  const legend = h("div", { class: "nb-legend" });
  const chartsEl = h("div", { class: "nb-charts" });
  const filterEl = h("input", { type: "search", class: "nb-filter", placeholder: "filter metrics", "data-action": "filter" });
  filterEl.oninput = () => applyFilter();

  const views = new Map(); // metric -> {view, div, log}
  let meta = seriesMeta(model.get("series"));
  let alive = true;

  const checkpoints = (metric) => checkpointTuples(store, meta, metric, model.get("checkpoints") || []);

  function selectedTuple(metric) {
    const step = model.get("selected_step");
    if (step === null || step === undefined) return [];
    const p = nearestPickable(store, meta, metric, 3, step);
    return p ? [{ x: p[1], y: p[2] }] : [];
  }

  function fill(metric, v) {
    const bySeries = store.points[metric] || new Map();
    const all = [];
    for (const [s, pts] of bySeries) all.push(...tuples(meta, s, pts, pts.length));
    const forks = (store.forks[metric] || []).map(([x, y, c, label]) => ({ x, y, c, label }));
    v.change("rows", replaceAll(all));
    v.change("forks", replaceAll(forks));
    v.change("selected", replaceAll(selectedTuple(metric)));
    v.change("ckpts", replaceAll(checkpoints(metric)));
    return v.runAsync();
  }

  function showCheckpoints() {
    for (const [metric, { view }] of views) {
      if (!view) continue;
      view.change("ckpts", replaceAll(checkpoints(metric)));
      view.runAsync();
    }
  }

  function showSelection() {
    for (const [metric, { view }] of views) {
      if (!view) continue;
      view.change("selected", replaceAll(selectedTuple(metric)));
      view.runAsync();
    }
  }

  function select(step) {
    model.set("selected_step", snapToCheckpoint(step, model.get("checkpoints") || []));
    model.save_changes();
    onSelect();
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
        const p = nearestPickable(store, meta, metric, 1, xv);
        if (p) step = p[3];
      }
      if (step !== null) select(step);
    };
  }

  // Embedding happens once per chart; only the user's "log y" toggle embeds a chart again.
  function embedChart(c, entry, div) {
    let spec = c.spec;
    if (entry.log) {
      const positive = [...(store.points[c.metric] || new Map()).values()]
        .every((pts) => pts.every((p) => p[2] > 0));
      spec = JSON.parse(JSON.stringify(c.spec));
      for (const layer of spec.layer || []) {
        const y = layer.encoding && layer.encoding.y;
        if (y && y.field) y.scale = { ...(y.scale || {}), type: positive ? "log" : "symlog", zero: false };
      }
    }
    if (entry.view) { entry.view.finalize(); entry.view = null; }
    const opts = { renderer: "svg", actions: false, mode: "vega-lite", config: vegaConfig(root) };
    return embed(div, spec, opts).then(async (res) => {
      if (!alive) { res.finalize(); return; }
      entry.view = res.view;
      entry.div.__nbrunView = res.view; // a hook for tests: the Vega view of this chart
      res.view.addEventListener("click", onClick(c.metric, res.view));
      await fill(c.metric, res.view);
    }).catch((err) => {
      reportError(`chart ${c.metric}: ${err && err.message ? err.message : err}`);
    });
  }

  function applyFilter() {
    const text = filterEl.value.trim().toLowerCase();
    filterEl.style.display = views.size > 4 ? "" : "none";
    for (const [metric, entry] of views) {
      entry.div.style.display = !text || metric.toLowerCase().includes(text) ? "" : "none";
    }
  }

  async function sync() {
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
        const pts = store.series(m, s);
        ins.push(...tuples(meta, s, from === 0 ? pts : pts.filter((p) => p[0] >= from), pts.length));
      }
      entry.view.change("rows", vega.changeset()
        .remove((t) => bySeries.has(t.s) && t.i >= bySeries.get(t.s)).insert(ins));
      entry.view.change("selected", replaceAll(selectedTuple(m)));
      entry.view.change("ckpts", replaceAll(checkpoints(m)));
      entry.view.runAsync();
    }
    dirty.clear();
    renders += 1;
    root.setAttribute("data-renders", String(renders));
  }

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

  function onSeries() {
    meta = seriesMeta(model.get("series"));
    renderLegend();
  }

  const unsubscribe = store.subscribe((ev) => {
    if (ev.type === "base") {
      onSeries();
      dirty.clear();
      for (const [metric, { view }] of views) if (view) fill(metric, view);
    } else {
      markDirty(dirty, store, ev.changes);
      root.setAttribute("data-seq", String(store.seq));
      if (flushTimer === null) flushTimer = setTimeout(flush, 100);
    }
  });

  // The theme changed: embed every chart again with the new colours (see lib/theme.js).
  function retheme() {
    for (const c of model.get("charts") || []) {
      const entry = views.get(c.metric);
      const div = entry && entry.div.querySelector(".nb-vega");
      if (div) embedChart(c, entry, div);
    }
  }

  function dispose() {
    alive = false;
    if (flushTimer !== null) clearTimeout(flushTimer);
    unsubscribe();
    for (const { view } of views.values()) if (view) view.finalize();
  }

  return { legend, filterEl, chartsEl, sync, showSelection, showCheckpoints, renderLegend, onSeries, retheme, dispose };
}
