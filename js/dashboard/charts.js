// The dashboard's charts: one Vega view per metric (embedded once, fed through the named
// datasets rows / forks / selected / ckpts / hover), the interactive legend (click hides a
// run, alt-click isolates it, hover highlights it), the chart tools (EMA smoothing, "ignore
// outliers", x axis), per chart zoom / pan / reset, log y and PNG / SVG downloads, the
// nearest-step read-out under the pointer, click-a-step selection and the throttled redraw
// of the series that deltas touched. The arithmetic is in chartmath.js (pure, unit-tested).
// Vega is not in this module: each chart is first drawn as plain SVG lines (preview.js) from
// the store, and Vega (vegaload.js) is loaded after that frame is painted; its view then
// replaces the preview, one chart at a time.
import { h } from "../lib/dom.js";
import { vegaConfig } from "../lib/theme.js";
import { previewSvg } from "./preview.js";
import { markDirty } from "./store.js";
import { afterPaint, loadVega } from "./vegaload.js";
import { checkpointTuples, lineRows, nearestPickable, seriesMeta, snapToCheckpoint, tuples } from "./points.js";
import {
  X_AXES,
  extentDomain,
  groupForks,
  hoverAt,
  panRange,
  robustUnion,
  seriesLabel,
  sig4,
  zoomRange,
} from "./chartmath.js";

const DRAG_PX = 4; // a press that moves less than this is a click (it selects a step)

// `onSelect()` runs after a click set `selected_step`; `reportError(text)` shows an error.
export function createCharts({ model, store, root, onSelect, reportError }) {
  const legend = h("div", { class: "nb-legend" });
  const chartsEl = h("div", { class: "nb-charts" });
  const filterEl = h("input", { type: "search", class: "nb-filter", placeholder: "filter metrics", "data-action": "filter" });
  filterEl.oninput = () => applyFilter();

  // what the user chose, for every chart of the dashboard
  const state = { hidden: new Set(), hl: "", smooth: 0, outliers: true, axis: "default" };
  const tools = h("div", { class: "nb-chart-tools" });
  const smoothIn = h("input", { type: "range", min: "0", max: "0.99", step: "0.01", value: "0", "data-action": "smooth" });
  const smoothOut = h("span", { class: "nb-smooth-value" }, "0");
  const outliersIn = h("input", { type: "checkbox", "data-action": "outliers" });
  outliersIn.checked = true;
  const axisIn = h("select", { "data-action": "x-axis" });
  const smoothLabel = h("label", { title: "exponential moving average; the raw line stays faint behind" });
  smoothLabel.append(document.createTextNode("smoothing "), smoothIn, smoothOut);
  const outLabel = h("label", { title: "y range from the quartiles, so the first steps do not flatten the curve" });
  outLabel.append(outliersIn, document.createTextNode(" ignore outliers"));
  const axisLabel = h("label");
  axisLabel.append(document.createTextNode("x "), axisIn);
  tools.append(smoothLabel, outLabel, axisLabel);

  smoothIn.oninput = () => {
    state.smooth = Number(smoothIn.value);
    smoothOut.textContent = smoothIn.value;
    tools.setAttribute("data-smooth", smoothIn.value);
    refillAll();
  };
  outliersIn.onchange = () => {
    state.outliers = outliersIn.checked;
    for (const entry of views.values()) if (entry.view) { setDomains(entry); entry.view.runAsync(); }
  };
  axisIn.onchange = () => {
    state.axis = axisIn.value;
    root.setAttribute("data-x-axis", state.axis);
    for (const entry of views.values()) {
      entry.xdom = null;
      embedChart(entry);
    }
  };

  let V = null; // the Vega module ({embed, vega}) once loaded
  const replaceAll = (rows) => V.vega.changeset().remove(V.vega.truthy).insert(rows);
  const views = new Map(); // metric -> entry {c, view, div (box), pdiv, vdiv, log, xdom, lines}
  // Shown at once, until the first chart has a line (issue 15: a placeholder at once).
  const placeholder = h("div", { class: "nb-placeholder", "data-placeholder": "1" }, "waiting for the first metrics…");
  chartsEl.appendChild(placeholder);
  let meta = seriesMeta(model.get("series"));
  let alive = true;

  // -- what is drawn ---------------------------------------------------------------------
  const lineRowsOf = (metric, s) => lineRows(store.series(metric, s), state.axis, state.smooth);
  const metaOf = (s) => meta.get(s) || { color: "#888", run_id: s, pickable: false };
  // the Vega rows of a series: none while the legend hides it
  const tuplesFor = (s, rows) => (state.hidden.has(s) ? [] : tuples(meta.get(s), s, rows, state.smooth));

  function visibleLines(entry) {
    const out = [];
    for (const [s, rows] of entry.lines) {
      if (state.hidden.has(s) || !rows.length) continue;
      const m = metaOf(s);
      out.push({ key: s, label: seriesLabel(m) || s, color: m.color, rows, pickable: !!m.pickable });
    }
    return out;
  }

  function selectedTuple(entry) {
    const step = model.get("selected_step");
    if (step === null || step === undefined) return [];
    const r = nearestPickable(entry.lines, meta, "step", step);
    return r ? [{ x: r.x, y: r.y }] : [];
  }

  function checkpoints(entry) {
    return checkpointTuples(entry.lines, meta, model.get("checkpoints") || []);
  }

  // Fork marks where they are drawn now (axis, smoothing), without those of hidden runs;
  // marks on one point are combined with a count.
  function forkTuples(entry) {
    const marks = [];
    for (const [x, y, c, label, step, runId] of store.forks[entry.c.metric] || []) {
      const keys = [...entry.lines.keys()].filter((s) => metaOf(s).run_id === runId);
      if (keys.length && keys.every((s) => state.hidden.has(s))) continue;
      let at = null;
      for (const s of keys) {
        const rows = entry.lines.get(s);
        const r = rows.find((t) => t.step === step);
        if (r) { at = r; break; }
      }
      if (at) marks.push({ x: at.x, y: at.y, c, label });
      else if (state.axis === "default" && state.smooth === 0) marks.push({ x, y, c, label });
    }
    return groupForks(marks);
  }

  // The y domain: outlier-free (quartile fences of each line, then their union) or, when
  // zoomed, the extent of what is in the x range; null leaves it to Vega.
  function yDomain(entry) {
    if (!state.outliers && !entry.xdom) return null;
    const [a, b] = entry.xdom || [-Infinity, Infinity];
    const perLine = [];
    for (const [s, rows] of entry.lines) {
      if (state.hidden.has(s)) continue;
      let ys = [];
      for (const r of rows) if (r.x >= a && r.x <= b) ys.push(r.y);
      if (entry.log) ys = ys.filter((v) => v > 0).map(Math.log10);
      perLine.push(ys);
    }
    const d = state.outliers ? robustUnion(perLine, 1.5, entry.log ? 0.02 : 0.04)
      : extentDomain(perLine.flat(), entry.log ? 0.02 : 0.04);
    return d && entry.log ? d.map((v) => 10 ** v) : d;
  }

  function setDomains(entry) {
    entry.view.signal("xdom", entry.xdom);
    entry.view.signal("ydom", yDomain(entry));
    entry.div.setAttribute("data-zoomed", entry.xdom ? "1" : "0");
  }

  function fill(entry) {
    const v = entry.view;
    const metric = entry.c.metric;
    entry.lines = new Map();
    const all = [];
    for (const s of (store.points[metric] || new Map()).keys()) {
      const rows = lineRowsOf(metric, s);
      entry.lines.set(s, rows);
      all.push(...tuplesFor(s, rows));
    }
    v.change("rows", replaceAll(all));
    v.change("forks", replaceAll(forkTuples(entry)));
    v.change("selected", replaceAll(selectedTuple(entry)));
    v.change("ckpts", replaceAll(checkpoints(entry)));
    v.change("hover", replaceAll([]));
    v.signal("hl", state.hl);
    setDomains(entry);
    return v.runAsync().then((r) => {
      // the Vega view takes the preview's place
      entry.pdiv.replaceChildren();
      entry.vdiv.classList.remove("nb-pending");
      if (all.length) markDrawn(metric, true);
      return r;
    });
  }

  // The chart as plain SVG lines (preview.js) until its Vega view is drawn.
  function drawPreview(entry) {
    if (entry.view || !entry.vdiv.classList.contains("nb-pending")) return;
    const metric = entry.c.metric;
    entry.lines = new Map();
    const lines = [];
    for (const s of (store.points[metric] || new Map()).keys()) {
      const rows = lineRowsOf(metric, s);
      entry.lines.set(s, rows);
      if (state.hidden.has(s) || rows.length < 2) continue;
      const m = metaOf(s);
      lines.push({ rows, color: m.color, dash: m.dash, opacity: m.opacity, width: m.width });
    }
    const xTitle = state.axis !== "default" ? X_AXES[state.axis].title : entry.c.x;
    const svg = lines.length ? previewSvg({ spec: entry.c.spec, lines, ydom: yDomain(entry), xTitle, config: vegaConfig(root) }) : null;
    if (!svg) { entry.pdiv.replaceChildren(); return; }
    entry.pdiv.replaceChildren(svg);
    markDrawn(metric, false);
  }

  // A chart drew its first line (as a preview, or `interactive`: its Vega view): the
  // placeholder goes; the dashboard's first one is stamped (`data-first-chart`, epoch ms:
  // bench/first_chart.py measures from `run.display()` to it); `data-drawn` marks a chart
  // whose Vega view has drawn.
  function markDrawn(metric, interactive) {
    const entry = views.get(metric);
    if (interactive && entry && entry.div.getAttribute("data-drawn") !== "1") entry.div.setAttribute("data-drawn", "1");
    if (!root.hasAttribute("data-first-chart")) {
      root.setAttribute("data-first-chart", String(Date.now()));
      placeholder.remove();
    }
  }

  function refillAll() {
    for (const entry of views.values()) {
      if (entry.view) fill(entry);
      else drawPreview(entry);
    }
  }

  function showCheckpoints() {
    for (const entry of views.values()) {
      if (!entry.view) continue;
      entry.view.change("ckpts", replaceAll(checkpoints(entry)));
      entry.view.runAsync();
    }
  }

  function showSelection() {
    for (const entry of views.values()) {
      if (!entry.view) continue;
      entry.view.change("selected", replaceAll(selectedTuple(entry)));
      entry.view.runAsync();
    }
  }

  function select(step) {
    model.set("selected_step", snapToCheckpoint(step, model.get("checkpoints") || []));
    model.save_changes();
    onSelect();
  }

  // -- pointer: hover read-out, click to select, drag to zoom, shift-drag / wheel ---------
  function plotX(entry, clientX) {
    const svg = entry.vdiv.querySelector("svg");
    if (!svg || !entry.view) return null;
    const rect = svg.getBoundingClientRect();
    return clientX - rect.left - entry.view.origin()[0];
  }

  function invertX(entry, px) {
    try { return entry.view.scale("x").invert(px); } catch (e) { return null; }
  }

  function onClick(entry) {
    return (event, item) => {
      if (entry.dragged) { entry.dragged = false; return; }
      let step = null;
      // a point's item is its row; a line's item is only its first row: invert x instead
      const isPoint = item && item.mark && item.mark.marktype === "symbol";
      if (isPoint && item.datum && item.datum.k && typeof item.datum.step === "number") {
        step = item.datum.step;
      } else {
        const px = plotX(entry, event.clientX);
        if (px === null) return;
        const xv = invertX(entry, px);
        if (xv === null) return;
        const r = nearestPickable(entry.lines, meta, "x", xv);
        if (r) step = r.step;
      }
      if (step !== null) select(step);
    };
  }

  function xAxisName() {
    if (state.axis !== "default") return X_AXES[state.axis].title;
    return "x";
  }

  function clearHover(entry) {
    entry.hoverEl.style.display = "none";
    entry.hoverEl.replaceChildren();
    entry.div.removeAttribute("data-hover-x");
    if (entry.view) { entry.view.change("hover", replaceAll([])); entry.view.runAsync(); }
  }

  function showHover(entry, clientX, clientY) {
    const px = plotX(entry, clientX);
    const width = entry.view ? entry.view.width() : 0;
    if (px === null || px < 0 || px > width) { clearHover(entry); return; }
    const xv = invertX(entry, px);
    const hv = xv === null ? null : hoverAt(visibleLines(entry), xv);
    if (!hv || !hv.items.length) { clearHover(entry); return; }
    entry.view.change("hover", replaceAll(hv.items.map((t) => ({ x: t.x, y: t.y, c: t.color }))));
    entry.view.runAsync();
    const box = entry.hoverEl;
    box.replaceChildren();
    const step = hv.items[0].step;
    const head = state.axis === "_timestamp" ? new Date(hv.x).toLocaleString()
      : state.axis === "default" && entry.c.x === "_step" ? `step ${step}`
        : `${state.axis === "default" ? entry.c.x : xAxisName()} ${sig4(hv.x)} · step ${step}`;
    box.appendChild(h("div", { class: "nb-hover-head" }, head));
    for (const t of hv.items) {
      const row = h("div", { class: "nb-hover-row", "data-series": t.key });
      const sw = h("span", { class: "nb-swatch" });
      sw.style.background = t.color;
      const val = state.smooth > 0 && t.raw !== t.y ? `${sig4(t.y)} (raw ${sig4(t.raw)})` : sig4(t.y);
      row.append(sw, h("span", { class: "nb-hover-label" }, t.label), h("span", { class: "nb-hover-value" }, val));
      box.appendChild(row);
    }
    const outer = entry.div.getBoundingClientRect();
    box.style.display = "block";
    const left = clientX - outer.left + 14;
    box.style.left = `${Math.min(left, Math.max(0, outer.width - box.offsetWidth - 4))}px`;
    box.style.top = `${Math.max(0, clientY - outer.top + 14)}px`;
    entry.div.setAttribute("data-hover-x", String(hv.x));
  }

  function setX(entry, dom) {
    entry.xdom = dom;
    if (!entry.view) return;
    setDomains(entry);
    entry.view.runAsync();
  }

  function currentX(entry) {
    return entry.xdom || entry.view.scale("x").domain();
  }

  function bindPointer(entry) {
    const el = entry.vdiv;
    let press = null; // {x0 (client), px0, dom, pan}
    let frame = null;
    let last = null;
    el.addEventListener("pointermove", (e) => {
      if (press) {
        const dx = e.clientX - press.x0;
        if (Math.abs(dx) > DRAG_PX) press.moved = true;
        if (!press.moved) return;
        if (press.pan) {
          const a = invertX(entry, press.px0);
          const b = invertX(entry, press.px0 + dx);
          if (a !== null && b !== null) setX(entry, panRange(press.dom, a - b));
        } else {
          const outer = entry.div.getBoundingClientRect();
          const lo = Math.min(e.clientX, press.x0) - outer.left;
          entry.brushEl.style.display = "block";
          entry.brushEl.style.left = `${lo}px`;
          entry.brushEl.style.width = `${Math.abs(dx)}px`;
        }
        return;
      }
      last = e;
      if (frame === null) {
        frame = requestAnimationFrame(() => { frame = null; if (last) showHover(entry, last.clientX, last.clientY); });
      }
    });
    el.addEventListener("pointerleave", () => { last = null; if (!press) clearHover(entry); });
    el.addEventListener("pointerdown", (e) => {
      if (e.button !== 0 || !entry.view) return;
      entry.dragged = false;
      const px0 = plotX(entry, e.clientX);
      if (px0 === null) return;
      press = { x0: e.clientX, px0, dom: currentX(entry).slice(), pan: e.shiftKey, moved: false };
    });
    const release = (e) => {
      if (!press) return;
      const p = press;
      press = null;
      entry.brushEl.style.display = "none";
      if (!p.moved) return;
      entry.dragged = true; // the click that follows is not a selection
      if (!p.pan) {
        const a = invertX(entry, p.px0);
        const b = invertX(entry, p.px0 + (e.clientX - p.x0));
        if (a !== null && b !== null && a !== b) setX(entry, [Math.min(a, b), Math.max(a, b)]);
      }
    };
    window.addEventListener("pointerup", release);
    entry.cleanups.push(() => window.removeEventListener("pointerup", release));
    // wheel with ctrl / alt / cmd (a trackpad pinch) zooms x about the pointer; with shift,
    // or sideways, it pans; a plain wheel scrolls the notebook
    el.addEventListener("wheel", (e) => {
      if (!entry.view) return;
      const sideways = Math.abs(e.deltaX) > Math.abs(e.deltaY);
      if (!(e.ctrlKey || e.altKey || e.metaKey || e.shiftKey || sideways)) return;
      e.preventDefault();
      const px = plotX(entry, e.clientX);
      const at = px === null ? null : invertX(entry, px);
      const dom = currentX(entry);
      if (e.shiftKey || sideways) {
        const delta = sideways ? e.deltaX : e.deltaY;
        setX(entry, panRange(dom, ((dom[1] - dom[0]) * delta) / 500));
      } else if (at !== null) {
        setX(entry, zoomRange(dom, at, Math.pow(1.0015, e.deltaY)));
      }
    }, { passive: false });
    el.addEventListener("dblclick", () => setX(entry, null));
  }

  // -- embedding ---------------------------------------------------------------------------
  // The chart's spec as the user's choices want it: x axis title and format, log y.
  function specFor(entry) {
    const c = entry.c;
    const spec = JSON.parse(JSON.stringify(c.spec));
    const positive = [...(store.points[c.metric] || new Map()).values()]
      .every((pts) => pts.every((p) => p[2] > 0));
    const axis = X_AXES[state.axis];
    for (const layer of spec.layer || []) {
      const enc = layer.encoding || {};
      if (entry.log && enc.y && enc.y.field) {
        enc.y.scale = { ...(enc.y.scale || {}), type: positive ? "log" : "symlog", zero: false };
      }
      if (state.axis !== "default" && enc.x && enc.x.field === "x") {
        enc.x.title = axis.title;
        if (axis.time) enc.x.axis = { ...(enc.x.axis || {}), formatType: "time", labelAngle: 0 };
      }
    }
    return spec;
  }

  // Embed the chart's Vega view (again); one embed at a time per chart, and one asked for
  // while another waits to start is that one (it reads the choices when it starts).
  function embedChart(entry) {
    if (entry.queued) return entry.job;
    entry.queued = true;
    entry.job = (entry.job || Promise.resolve()).then(() => {
      entry.queued = false;
      return embedOnce(entry);
    });
    return entry.job;
  }

  async function embedOnce(entry) {
    const c = entry.c;
    try {
      V = await loadVega(model);
    } catch (err) {
      reportError(`chart ${c.metric}: Vega did not load: ${err && err.message ? err.message : err}`);
      return;
    }
    if (!alive) return;
    if (entry.view) { entry.view.finalize(); entry.view = null; }
    const opts = { renderer: "svg", actions: false, mode: "vega-lite", config: vegaConfig(root) };
    return V.embed(entry.vdiv, specFor(entry), opts).then(async (res) => {
      if (!alive) { res.finalize(); return; }
      entry.view = res.view;
      if (!root.hasAttribute("data-t-embed")) root.setAttribute("data-t-embed", String(Date.now()));
      entry.div.__nbrunView = res.view; // a hook for tests: the Vega view of this chart
      res.view.addEventListener("click", onClick(entry));
      await fill(entry);
    }).catch((err) => {
      reportError(`chart ${c.metric}: ${err && err.message ? err.message : err}`);
    });
  }

  function download(entry, fmt) {
    if (!entry.view) return;
    const name = entry.c.metric.replace(/[^A-Za-z0-9_.-]+/g, "_") || "chart";
    entry.view.toImageURL(fmt, fmt === "png" ? 2 : 1).then((url) => {
      const a = h("a", { href: url, download: `${name}.${fmt}` });
      a.style.display = "none";
      entry.div.appendChild(a);
      a.click();
      a.remove();
    }).catch((err) => reportError(`download ${entry.c.metric}: ${err && err.message ? err.message : err}`));
  }

  function applyFilter() {
    const text = filterEl.value.trim().toLowerCase();
    filterEl.style.display = views.size > 4 ? "" : "none";
    for (const [metric, entry] of views) {
      entry.div.style.display = !text || metric.toLowerCase().includes(text) ? "" : "none";
    }
  }

  function renderAxisChoices(charts) {
    const stepMetric = charts.some((c) => c.x && c.x !== "_step");
    const choices = [["default", stepMetric ? "step metric" : "step"]];
    if (stepMetric) choices.push(["_step", "global step"]);
    choices.push(["_runtime", "relative time"], ["_timestamp", "wall time"]);
    axisIn.replaceChildren(...choices.map(([v, t]) => h("option", { value: v }, t)));
    if (!choices.some(([v]) => v === state.axis)) state.axis = "default";
    axisIn.value = state.axis;
  }

  async function sync() {
    const charts = model.get("charts") || [];
    renderAxisChoices(charts);
    const wanted = new Set(charts.map((c) => c.metric));
    for (const [metric, entry] of views) {
      if (!wanted.has(metric)) {
        if (entry.view) entry.view.finalize();
        entry.cleanups.forEach((f) => f());
        entry.div.remove();
        views.delete(metric);
      }
    }
    const jobs = [];
    let chain = Promise.resolve(); // one embed at a time: the first chart draws first
    for (const c of charts) {
      if (views.has(c.metric)) continue;
      const box = h("div", { class: "nb-chart", "data-metric": c.metric, "data-zoomed": "0" });
      const controls = h("div", { class: "nb-chart-controls" });
      const logLabel = h("label");
      const logBox = h("input", { type: "checkbox", "data-action": "log-y" });
      logLabel.append(logBox, document.createTextNode(" log y"));
      const reset = h("button", { type: "button", "data-action": "reset-zoom", title: "drag on the chart to zoom x; shift-drag or shift-wheel pans; ctrl-wheel zooms; double-click resets" }, "reset zoom");
      const png = h("button", { type: "button", "data-action": "png", title: "download as PNG" }, "PNG");
      const svgB = h("button", { type: "button", "data-action": "svg", title: "download as SVG" }, "SVG");
      controls.append(logLabel, reset, png, svgB);
      const pdiv = h("div", { class: "nb-preview-box" });
      const vdiv = h("div", { class: "nb-vega nb-pending" });
      const hoverEl = h("div", { class: "nb-hover" });
      const brushEl = h("div", { class: "nb-brush" });
      box.append(controls, pdiv, vdiv, hoverEl, brushEl);
      if (placeholder.isConnected) placeholder.textContent = "drawing charts…";
      chartsEl.appendChild(box);
      const entry = { c, view: null, div: box, pdiv, vdiv, hoverEl, brushEl, log: false, xdom: null, lines: new Map(), dragged: false, cleanups: [] };
      views.set(c.metric, entry);
      logBox.onchange = () => { entry.log = logBox.checked; embedChart(entry); };
      reset.onclick = () => setX(entry, null);
      png.onclick = () => download(entry, "png");
      svgB.onclick = () => download(entry, "svg");
      bindPointer(entry);
      drawPreview(entry);
      // Vega starts after the previews are painted, then one chart per frame
      chain = chain.then(afterPaint).then(() => embedChart(entry));
      jobs.push(chain);
    }
    applyFilter();
    await Promise.all(jobs);
    // an embed queued meanwhile (the theme check once attached) is the one the chart shows:
    // wait until no chart has a newer job than the ones waited for
    for (;;) {
      const jobsNow = [...views.values()].map((e) => e.job);
      await Promise.all(jobsNow);
      if ([...views.values()].every((e, i) => e.job === jobsNow[i])) break;
    }
    root.setAttribute("data-charts", String(views.size));
    root.setAttribute("data-ready", "1");
  }

  // Deltas only mark series dirty; a flush at most every 100 ms re-reads the touched series
  // from the store (one changeset per chart), so a busy run never floods the main thread.
  const dirty = new Map(); // metric -> Map(series -> lowest changed index)
  let flushTimer = null;
  let renders = 0;
  function flush() {
    flushTimer = null;
    for (const [m, bySeries] of dirty) {
      const entry = views.get(m);
      if (!entry) continue;
      if (!entry.view) { drawPreview(entry); continue; }
      const ins = [];
      for (const s of bySeries.keys()) {
        const rows = lineRowsOf(m, s);
        entry.lines.set(s, rows);
        ins.push(...tuplesFor(s, rows));
      }
      entry.view.change("rows", V.vega.changeset().remove((t) => bySeries.has(t.s)).insert(ins));
      entry.view.change("selected", replaceAll(selectedTuple(entry)));
      entry.view.change("ckpts", replaceAll(checkpoints(entry)));
      entry.view.signal("ydom", yDomain(entry));
      entry.view.runAsync().then(() => { if (ins.length) markDrawn(m); });
    }
    dirty.clear();
    renders += 1;
    root.setAttribute("data-renders", String(renders));
  }

  // -- legend ------------------------------------------------------------------------------
  function renderLegend() {
    legend.replaceChildren();
    const all = model.get("series") || [];
    for (const s of all) {
      const hidden = state.hidden.has(s.key);
      const item = h("span", {
        class: "nb-legend-item",
        "data-series": s.key,
        "data-role": s.role,
        "data-run": s.run_id,
        "data-hidden": hidden ? "1" : "0",
        title: "click: hide / show · alt-click: show only this · hover: highlight",
      });
      const sw = h("span", { class: "nb-swatch" });
      sw.style.background = s.color;
      sw.style.height = `${Math.max(2, Math.round(s.width || 1.5))}px`;
      if (s.dash === "inherited") sw.style.background = `repeating-linear-gradient(90deg, ${s.color} 0 5px, transparent 5px 8px)`;
      if (s.dash === "ghost") sw.style.background = `repeating-linear-gradient(90deg, ${s.color} 0 2px, transparent 2px 5px)`;
      item.append(sw, document.createTextNode(seriesLabel(s) || s.label));
      item.onclick = (e) => {
        if (e.altKey) {
          const others = all.filter((o) => o.key !== s.key).map((o) => o.key);
          const isolated = !state.hidden.has(s.key) && others.every((k) => state.hidden.has(k));
          state.hidden = isolated ? new Set() : new Set(others);
        } else if (state.hidden.has(s.key)) state.hidden.delete(s.key);
        else state.hidden.add(s.key);
        renderLegend();
        refillAll();
      };
      item.onmouseenter = () => highlight(s.run_id);
      item.onmouseleave = () => highlight("");
      legend.appendChild(item);
    }
  }

  function highlight(runId) {
    state.hl = runId || "";
    legend.setAttribute("data-highlight", state.hl);
    for (const entry of views.values()) if (entry.view) { entry.view.signal("hl", state.hl); entry.view.runAsync(); }
  }

  function onSeries() {
    meta = seriesMeta(model.get("series"));
    renderLegend();
  }

  const unsubscribe = store.subscribe((ev) => {
    if (ev.type === "base") {
      onSeries();
      dirty.clear();
      refillAll();
    } else {
      markDirty(dirty, store, ev.changes);
      root.setAttribute("data-seq", String(store.seq));
      if (flushTimer === null) flushTimer = setTimeout(flush, 100);
    }
  });

  // The theme changed: embed every chart again with the new colours (see lib/theme.js).
  function retheme() {
    for (const entry of views.values()) {
      if (!entry.view) drawPreview(entry);
      if (entry.view || entry.job) embedChart(entry);
    }
  }

  function dispose() {
    alive = false;
    if (flushTimer !== null) clearTimeout(flushTimer);
    unsubscribe();
    for (const entry of views.values()) {
      if (entry.view) entry.view.finalize();
      entry.cleanups.forEach((f) => f());
    }
  }

  return { legend, tools, filterEl, chartsEl, sync, showSelection, showCheckpoints, renderLegend, onSeries, retheme, dispose };
}
