// The dashboard's charts: one Vega view per metric (embedded once, fed through the named
// datasets rows / forks / selected / ckpts / hover), the interactive legend (click hides a
// run, alt-click isolates it, hover highlights it), the chart tools (EMA smoothing, "ignore
// outliers", x axis), per chart zoom / pan / reset, log y and PNG / SVG downloads, the
// nearest-step read-out under the pointer, click-a-step selection and the throttled redraw
// of the series that deltas touched. This module puts them together; the parts are modules
// of their own, unit-tested without a DOM: the chart state (chartstate.js), embedding and
// theme (chartembed.js), the pointer (pointer.js), the legend (legend.js) and the arithmetic
// (chartmath.js, points.js).
// Vega is not in this module: each chart is first drawn as plain SVG lines (preview.js) from
// the store, and Vega (vegaload.js) is loaded after that frame is painted; its view then
// replaces the preview, one chart at a time.
import { h } from "../lib/dom.js";
import { vegaConfig } from "../lib/theme.js";
import { downloadName, embedOptions, errorText, previewLines, queueEmbed, specFor, xTitle } from "./chartembed.js";
import { hoverAt, X_AXES } from "./chartmath.js";
import {
  axisChoices,
  diffLines,
  focusDomain,
  forkTuples as forkTuplesOf,
  newChartState,
  lineRowsOf as rowsOf,
  selectedTuple as selectedOf,
  startsOnLog,
  tuplesFor as tuplesOf,
  visibleLines as visibleOf,
  xDomain as xDomainOf,
  yDomain as yDomainOf,
} from "./chartstate.js";
import { eventTuples } from "./events.js";
import { renderLegend as drawLegend, legendClick } from "./legend.js";
import { bindPointer, hoverHead, hoverPosition, hoverRows, invertX, plotX, pointStep } from "./pointer.js";
import { checkpointTuples, nearestPickable, seriesMeta, snapToCheckpoint } from "./points.js";
import { previewSvg, previewX } from "./preview.js";
import { markDirty } from "./store.js";
import { afterPaint, loadVega } from "./vegaload.js";

/**
 * @typedef {import("vega").View} View
 * @typedef {import("./chartstate.js").Row} Row
 * @typedef {{ metric: string, x: string, spec: any }} ChartSpec
 * @typedef {{ c: ChartSpec, view: View | null, div: HTMLElement & { __nbrunView?: View }, pdiv: HTMLElement, vdiv: HTMLElement, hoverEl: HTMLElement, brushEl: HTMLElement, log: boolean, logAuto: boolean, logBox: HTMLInputElement, xdom: number[] | null, whole: boolean, wholeBtn: HTMLElement, lines: Map<string, Row[]>, dragged: boolean, cleanups: (() => void)[], job?: Promise<any> | null, queued?: boolean }} Entry
 * @typedef {Entry & { view: View }} DrawnEntry
 */

/**
 * The dashboard's charts. `onSelect(clicked)` runs after a click on step `clicked` set
 * `selected_step` (that step, or the checkpoint at or before it);
 * `reportError(text, key)` shows an error (kept under `key` until reported empty).
 * @param {{ model: import("@anywidget/types").AnyModel, store: any, root: HTMLElement, onSelect: (clicked: number) => void, reportError: (text: string, key?: string) => void }} opts
 */
export function createCharts({ model, store, root, onSelect, reportError }) {
  const legend = h("div", { class: "nb-legend" });
  const chartsEl = h("div", { class: "nb-charts" });
  const filterEl = /** @type {HTMLInputElement} */ (
    h("input", { type: "search", class: "nb-filter", placeholder: "filter metrics", "data-action": "filter" })
  );
  filterEl.oninput = () => applyFilter();

  // what the user chose, for every chart of the dashboard (chartstate.js)
  const state = newChartState();
  const tools = h("div", { class: "nb-chart-tools" });
  const smoothIn = /** @type {HTMLInputElement} */ (
    h("input", { type: "range", min: "0", max: "0.99", step: "0.01", value: "0", "data-action": "smooth" })
  );
  const smoothOut = h("span", { class: "nb-smooth-value" }, "0");
  const outliersIn = /** @type {HTMLInputElement} */ (h("input", { type: "checkbox", "data-action": "outliers" }));
  outliersIn.checked = state.outliers;
  const axisIn = /** @type {HTMLSelectElement} */ (h("select", { "data-action": "x-axis" }));
  const smoothLabel = h("label", { title: "exponential moving average; the raw line stays faint behind" });
  smoothLabel.append(document.createTextNode("smoothing "), smoothIn, smoothOut);
  const outLabel = h("label", { title: "y range from the quartiles, so the first steps do not flatten the curve" });
  outLabel.append(outliersIn, document.createTextNode(" ignore outliers"));
  const axisLabel = h("label");
  axisLabel.append(document.createTextNode("x "), axisIn);
  // each fork as its difference from its parent at the same step (rule 67)
  const diffIn = /** @type {HTMLInputElement} */ (h("input", { type: "checkbox", "data-action": "diff" }));
  const diffLabel = h("label", { title: "each fork minus its parent at the same step (the parent is the zero line)" });
  diffLabel.append(diffIn, document.createTextNode(" fork − parent"));
  // the grey triangles on the x axis, named (issue 25)
  const ckptKey = h(
    "span",
    {
      class: "nb-ckpt-key",
      title: "a checkpoint: Fork and Rewind continue from the checkpoint at or before the clicked step",
    },
    "▲ checkpoint",
  );
  tools.append(smoothLabel, outLabel, axisLabel, diffLabel, ckptKey);

  smoothIn.oninput = () => {
    state.smooth = Number(smoothIn.value);
    smoothOut.textContent = smoothIn.value;
    tools.setAttribute("data-smooth", smoothIn.value);
    refillAll();
  };
  outliersIn.onchange = () => {
    state.outliers = outliersIn.checked;
    for (const entry of views.values()) {
      if (entry.view) {
        setDomains(/** @type {DrawnEntry} */ (entry));
        entry.view.runAsync();
      }
    }
  };
  diffIn.onchange = () => {
    state.diff = diffIn.checked;
    root.setAttribute("data-diff", state.diff ? "1" : "0");
    for (const entry of views.values()) {
      drawPreview(entry);
      if (entry.view || entry.job) embedChart(entry); // linear y for differences
    }
  };
  axisIn.onchange = () => {
    state.axis = axisIn.value;
    root.setAttribute("data-x-axis", state.axis);
    for (const entry of views.values()) {
      entry.xdom = null;
      embedChart(entry);
    }
  };

  /** @type {{ embed: typeof import("vega-embed").default, vega: typeof import("vega") } | null} */
  let V = null; // the Vega module once loaded
  const vega = () => /** @type {NonNullable<typeof V>} */ (V).vega;
  /** @param {object[]} rows */
  const replaceAll = (rows) => vega().changeset().remove(vega().truthy).insert(rows);
  /** @type {Map<string, Entry>} */
  const views = new Map(); // metric -> its chart
  // Shown at once, until the first chart has a line (issue 15: a placeholder at once).
  const placeholder = h("div", { class: "nb-placeholder", "data-placeholder": "1" }, "waiting for the first metrics…");
  chartsEl.appendChild(placeholder);
  let meta = seriesMeta(model.get("series"));
  let alive = true;

  // -- what is drawn (chartstate.js) -------------------------------------------------------
  /** @param {string} metric @param {string} s */
  const lineRowsOf = (metric, s) => rowsOf(store, state, metric, s);
  // a chart's lines from the store: each series' rows, or with `state.diff` the differences
  /** @param {string} metric @returns {Map<string, Row[]>} */
  function linesOf(metric) {
    const lines = new Map();
    for (const s of (store.points[metric] || new Map()).keys()) lines.set(s, lineRowsOf(metric, s));
    return state.diff ? diffLines(meta, lines) : lines;
  }
  /** @param {string} s @param {Row[]} rows */
  const tuplesFor = (s, rows) => tuplesOf(state, meta, s, rows);
  /** @param {Entry} entry */
  const selectedTuple = (entry) => selectedOf(entry.lines, meta, model.get("selected_step"));
  /** @param {Entry} entry */
  const checkpoints = (entry) => checkpointTuples(entry.lines, meta, model.get("checkpoints") || []);
  /** @param {Entry} entry */
  const forkTuples = (entry) => forkTuplesOf(state, meta, entry.lines, store.forks[entry.c.metric] || []);
  /** @param {Entry} entry PBT exploits and recoveries (rule 70) */
  const events = (entry) => eventTuples(state, meta, entry.lines, store.events?.[entry.c.metric] || []);
  // The x range shown: the user's zoom, else (rule 66) the range after the earliest fork until
  // "whole run" is clicked, else the whole extent (null); the y range is fitted to it.
  /** @param {Entry} entry @returns {number[] | null} */
  function shownX(entry) {
    const focus = focusDomain(state, meta, entry.lines);
    entry.wholeBtn.style.display = focus ? "" : "none";
    entry.wholeBtn.textContent = entry.whole ? "after the fork" : "whole run";
    entry.div.setAttribute("data-focus", focus && !entry.whole && !entry.xdom ? "1" : "0");
    return entry.xdom || (entry.whole ? null : focus);
  }
  /** @param {Entry} entry */
  const yDomain = (entry) => yDomainOf(state, entry.lines, shownX(entry), entry.log && !state.diff);

  /** @param {DrawnEntry} entry */
  function setDomains(entry) {
    entry.view.signal("xdom", xDomainOf(state, entry.lines, shownX(entry)));
    entry.view.signal("ydom", yDomain(entry));
    entry.div.setAttribute("data-zoomed", entry.xdom ? "1" : "0");
  }

  /** @param {DrawnEntry} entry */
  function fill(entry) {
    const v = entry.view;
    const metric = entry.c.metric;
    entry.lines = linesOf(metric);
    const all = [];
    for (const [s, rows] of entry.lines) all.push(...tuplesFor(s, rows));
    v.change("rows", replaceAll(all));
    v.change("forks", replaceAll(forkTuples(entry)));
    v.change("events", replaceAll(events(entry)));
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
  /** @param {Entry} entry */
  function drawPreview(entry) {
    if (entry.view || !entry.vdiv.classList.contains("nb-pending")) return;
    const metric = entry.c.metric;
    entry.lines = linesOf(metric);
    const lines = previewLines(state, meta, entry.lines);
    const svg = lines.length
      ? previewSvg({
          spec: entry.c.spec,
          lines,
          xdom: shownX(entry),
          ydom: yDomain(entry),
          xTitle: xTitle(state.axis, entry.c.x),
          config: vegaConfig(root),
        })
      : null;
    if (!svg) {
      entry.pdiv.replaceChildren();
      return;
    }
    entry.pdiv.replaceChildren(svg);
    svg.addEventListener("click", (ev) => {
      // a click on the plain chart (before Vega draws, or where it cannot load) selects the
      // nearest step a click may pick (rule 72)
      const x = previewX(svg, ev.clientX);
      const row = x === null ? null : nearestPickable(entry.lines, meta, "x", x);
      if (row) select(row.step);
    });
    markDrawn(metric, false);
  }

  // A chart drew its first line (as a preview, or `interactive`: its Vega view): the
  // placeholder goes; the dashboard's first one is stamped (`data-first-chart`, epoch ms:
  // bench/first_chart.py measures from `run.display()` to it); `data-drawn` marks a chart
  // whose Vega view has drawn.
  /** @param {string} metric @param {boolean} [interactive] */
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
      if (entry.view) fill(/** @type {DrawnEntry} */ (entry));
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

  /** @param {number} step the clicked step; the selection is the checkpoint at or before it */
  function select(step) {
    model.set("selected_step", snapToCheckpoint(step, model.get("checkpoints") || []));
    model.save_changes();
    onSelect(step);
  }

  // -- pointer (pointer.js): hover read-out, click to select, drag to zoom, shift-drag / wheel
  /** @param {Entry} entry */
  function onClick(entry) {
    /** @param {any} event @param {any} item */
    return (event, item) => {
      if (entry.dragged) {
        entry.dragged = false;
        return;
      }
      // a point's item is its row; a line's item is only its first row: invert x instead
      let step = pointStep(item);
      if (step === null) {
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

  /** @param {Entry} entry */
  function clearHover(entry) {
    entry.hoverEl.style.display = "none";
    entry.hoverEl.replaceChildren();
    entry.div.removeAttribute("data-hover-x");
    if (entry.view) {
      entry.view.change("hover", replaceAll([]));
      entry.view.runAsync();
    }
  }

  /** @param {Entry} entry @param {number} clientX @param {number} clientY */
  function showHover(entry, clientX, clientY) {
    const px = plotX(entry, clientX);
    const width = entry.view ? entry.view.width() : 0;
    if (px === null || px < 0 || px > width || !entry.view) {
      clearHover(entry);
      return;
    }
    const xv = invertX(entry, px);
    const hv = xv === null ? null : hoverAt(visibleOf(state, meta, entry.lines), xv);
    if (!hv?.items.length) {
      clearHover(entry);
      return;
    }
    entry.view.change("hover", replaceAll(hv.items.map((t) => ({ x: t.x, y: t.y, c: t.color }))));
    entry.view.runAsync();
    const box = entry.hoverEl;
    const axisTitle = state.axis !== "default" ? X_AXES[state.axis].title || "x" : "x";
    const head = hoverHead(state.axis, entry.c.x, axisTitle, hv.x, hv.items[0].step);
    box.replaceChildren(...hoverRows(head, hv.items, state.smooth));
    const outer = entry.div.getBoundingClientRect();
    box.style.display = "block";
    const at = hoverPosition(clientX, clientY, outer, box.offsetWidth);
    box.style.left = `${at.left}px`;
    box.style.top = `${at.top}px`;
    entry.div.setAttribute("data-hover-x", String(hv.x));
  }

  // log y on or off, the checkbox showing it (a chart whose values span decades starts on
  // log y until the user chooses: chartstate.startsOnLog, issue 25)
  /** @param {Entry} entry @param {boolean} on */
  function setLog(entry, on) {
    entry.log = on;
    entry.logBox.checked = on;
    entry.div.setAttribute("data-log", on ? "1" : "0");
  }

  /** @param {Entry} entry @param {number[] | null} dom */
  function setX(entry, dom) {
    entry.xdom = dom;
    if (!entry.view) return;
    setDomains(/** @type {DrawnEntry} */ (entry));
    entry.view.runAsync();
  }

  // -- embedding (chartembed.js) -------------------------------------------------------------
  // Embed the chart's Vega view (again); one embed at a time per chart, and one asked for
  // while another waits to start is that one (it reads the choices when it starts).
  /** @param {Entry} entry */
  function embedChart(entry) {
    return queueEmbed(entry, () => embedOnce(entry));
  }

  /** @param {Entry} entry */
  async function embedOnce(entry) {
    const c = entry.c;
    try {
      V = await loadVega(model);
      reportError("", "vega");
    } catch (err) {
      // the plain chart stays, and clicks on it still select a step (rule 72)
      reportError(
        `charts: Vega did not load (the plain charts stay; click them to select a step): ${errorText(err)}`,
        "vega",
      );
      return;
    }
    if (!alive) return;
    if (entry.view) {
      entry.view.finalize();
      entry.view = null;
    }
    const points = store.points[c.metric] || new Map();
    if (entry.logAuto && startsOnLog(points)) setLog(entry, true);
    const log = entry.log && !state.diff; // differences change sign: a linear y
    return /** @type {NonNullable<typeof V>} */ (V)
      .embed(entry.vdiv, specFor(c.spec, points, state.axis, log), embedOptions(root))
      .then(async (res) => {
        if (!alive) {
          res.finalize();
          return;
        }
        entry.view = res.view;
        if (!root.hasAttribute("data-t-embed")) root.setAttribute("data-t-embed", String(Date.now()));
        entry.div.__nbrunView = res.view; // a hook for tests: the Vega view of this chart
        res.view.addEventListener("click", onClick(entry));
        await fill(/** @type {DrawnEntry} */ (entry));
      })
      .catch((err) => {
        reportError(`chart ${c.metric}: ${errorText(err)}`);
      });
  }

  /** @param {Entry} entry @param {"png" | "svg"} fmt */
  function download(entry, fmt) {
    if (!entry.view) return;
    entry.view
      .toImageURL(fmt, fmt === "png" ? 2 : 1)
      .then((url) => {
        const a = h("a", { href: url, download: downloadName(entry.c.metric, fmt) });
        a.style.display = "none";
        entry.div.appendChild(a);
        a.click();
        a.remove();
      })
      .catch((err) => reportError(`download ${entry.c.metric}: ${errorText(err)}`));
  }

  function applyFilter() {
    const text = filterEl.value.trim().toLowerCase();
    filterEl.style.display = views.size > 4 ? "" : "none";
    for (const [metric, entry] of views) {
      entry.div.style.display = !text || metric.toLowerCase().includes(text) ? "" : "none";
    }
  }

  /** @param {ChartSpec[]} charts */
  function renderAxisChoices(charts) {
    const { choices, axis } = axisChoices(charts, state.axis);
    axisIn.replaceChildren(...choices.map(([v, t]) => h("option", { value: v }, t)));
    state.axis = axis;
    axisIn.value = state.axis;
  }

  async function sync() {
    const charts = /** @type {ChartSpec[]} */ (model.get("charts") || []);
    renderAxisChoices(charts);
    const wanted = new Set(charts.map((c) => c.metric));
    for (const [metric, entry] of views) {
      if (!wanted.has(metric)) {
        if (entry.view) entry.view.finalize();
        for (const f of entry.cleanups) f();
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
      const logBox = /** @type {HTMLInputElement} */ (
        h("input", {
          type: "checkbox",
          "data-action": "log-y",
          title: "log scale y (on at first when values span decades)",
        })
      );
      logLabel.append(logBox, document.createTextNode(" log y"));
      const reset = h(
        "button",
        {
          type: "button",
          "data-action": "reset-zoom",
          title: "drag on the chart to zoom x; shift-drag or shift-wheel pans; ctrl-wheel zooms; double-click resets",
        },
        "reset zoom",
      );
      // rule 66: a chart with forks starts on the steps after the earliest one
      const wholeBtn = h(
        "button",
        { type: "button", "data-action": "whole-run", title: "the whole run, or the steps from the first fork on" },
        "whole run",
      );
      wholeBtn.style.display = "none";
      const png = h("button", { type: "button", "data-action": "png", title: "download as PNG" }, "PNG");
      const svgB = h("button", { type: "button", "data-action": "svg", title: "download as SVG" }, "SVG");
      controls.append(logLabel, reset, wholeBtn, png, svgB);
      const pdiv = h("div", { class: "nb-preview-box" });
      const vdiv = h("div", { class: "nb-vega nb-pending" });
      const hoverEl = h("div", { class: "nb-hover" });
      const brushEl = h("div", { class: "nb-brush" });
      box.append(controls, pdiv, vdiv, hoverEl, brushEl);
      if (placeholder.isConnected) placeholder.textContent = "drawing charts…";
      chartsEl.appendChild(box);
      const entry = {
        c,
        view: null,
        div: box,
        pdiv,
        vdiv,
        hoverEl,
        brushEl,
        log: false,
        logAuto: true,
        logBox,
        xdom: null,
        whole: false,
        wholeBtn,
        lines: new Map(),
        dragged: false,
        cleanups: [],
      };
      views.set(c.metric, entry);
      logBox.onchange = () => {
        entry.logAuto = false; // the user chose: no more automatic switch
        setLog(entry, logBox.checked);
        embedChart(entry);
      };
      reset.onclick = () => setX(entry, null);
      wholeBtn.onclick = () => {
        entry.whole = !entry.whole;
        setX(entry, null);
        drawPreview(entry);
      };
      png.onclick = () => download(entry, "png");
      svgB.onclick = () => download(entry, "svg");
      bindPointer(entry, {
        showHover: (x, y) => showHover(entry, x, y),
        clearHover: () => clearHover(entry),
        setX: (dom) => setX(entry, dom),
      });
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
  /** @type {ReturnType<typeof setTimeout> | null} */
  let flushTimer = null;
  let renders = 0;
  function flush() {
    flushTimer = null;
    for (const [m, bySeries] of dirty) {
      const entry = views.get(m);
      if (!entry) continue;
      if (!entry.view) {
        drawPreview(entry);
        continue;
      }
      if (entry.logAuto && !entry.log && startsOnLog(store.points[m] || new Map())) {
        embedChart(entry); // the values now span decades: on log y (embedOnce switches it)
        continue;
      }
      if (state.diff) {
        fill(/** @type {DrawnEntry} */ (entry)); // a parent's new rows change its forks' lines
        continue;
      }
      const ins = [];
      for (const s of bySeries.keys()) {
        const rows = lineRowsOf(m, s);
        entry.lines.set(s, rows);
        ins.push(...tuplesFor(s, rows));
      }
      entry.view.change(
        "rows",
        vega()
          .changeset()
          .remove((/** @type {{ s: string }} */ t) => bySeries.has(t.s))
          .insert(ins),
      );
      entry.view.change("selected", replaceAll(selectedTuple(entry)));
      entry.view.change("ckpts", replaceAll(checkpoints(entry)));
      setDomains(/** @type {DrawnEntry} */ (entry));
      entry.view.runAsync().then(() => {
        if (ins.length) markDrawn(m);
      });
    }
    dirty.clear();
    renders += 1;
    root.setAttribute("data-renders", String(renders));
  }

  // -- legend (legend.js) ------------------------------------------------------------------
  function renderLegend() {
    const all = model.get("series") || [];
    drawLegend(legend, all, state.hidden, {
      onClick(key, alt) {
        state.hidden = legendClick(
          state.hidden,
          all.map((/** @type {{ key: string }} */ o) => o.key),
          key,
          alt,
        );
        renderLegend();
        refillAll();
      },
      onHover: highlight,
    });
  }

  // the run chosen elsewhere (a node of the family tree): highlighted until another is chosen;
  // a legend hover highlights its run meanwhile and falls back to it
  let pinned = "";

  /** @param {string} runId */
  function pin(runId) {
    pinned = runId || "";
    highlight(pinned);
  }

  /** @param {string} runId */
  function highlight(runId) {
    state.hl = runId || pinned;
    legend.setAttribute("data-highlight", state.hl);
    for (const entry of views.values()) {
      if (entry.view) {
        entry.view.signal("hl", state.hl);
        entry.view.runAsync();
      }
    }
  }

  function onSeries() {
    meta = seriesMeta(model.get("series"));
    renderLegend();
  }

  const unsubscribe = store.subscribe((/** @type {{ type: string, changes?: any[] }} */ ev) => {
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
      for (const f of entry.cleanups) f();
    }
  }

  return {
    legend,
    tools,
    filterEl,
    chartsEl,
    sync,
    showSelection,
    showCheckpoints,
    renderLegend,
    onSeries,
    pin,
    retheme,
    dispose,
  };
}
