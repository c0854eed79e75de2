// The project view's sweeps (rule 69): one collapsible section per sweep (name, method, state,
// number of runs, best value of its metric per its goal) with the sweep's parallel coordinates
// (drawn by the project view's own `parallel`, passed in) and its best-so-far chart, and a
// small table of its trials. Python side: nbrun/widgets/_sweeps.py (the `sweeps` trait). Run
// and sweep data go in as text nodes only (h(), textContent, SVG <title> text).

import CSS from "../sweeps.css";
import { h } from "./dom.js";
import { fmt as fmtDigits } from "./format.js";

const SVG = "http://www.w3.org/2000/svg";
/** @param {unknown} v */
const fmt = (v) => fmtDigits(v, 4);

/**
 * @typedef {{ n: number, key: string, name: string, color: string, state: string,
 *   params: Record<string, unknown>, value: number | null, best: number | null }} Trial
 * @typedef {{ key: string, id: string, project: string, name: string, method: string,
 *   state: string, metric: string | null, goal: string | null, axes: string[], count: number,
 *   best: Trial | null, trials: Trial[] }} SweepGroup
 * @typedef {{ name: string, get: (r: any) => unknown }} Axis
 * @typedef {(runs: any[], axes: Axis[], metric: string) => Element} ParallelFn
 */

/**
 * An SVG element with attributes and, optionally, its text.
 * @param {string} tag
 * @param {Record<string, string | number>} [attrs]
 * @param {string} [text]
 * @returns {SVGElement}
 */
function s(tag, attrs = {}, text) {
  const e = /** @type {SVGElement} */ (document.createElementNS(SVG, tag));
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

/**
 * The one-line summary of a sweep: `name · method · state · N runs · best loss 0.1`.
 * @param {SweepGroup} g
 * @returns {string}
 */
export function sweepLabel(g) {
  let text = `${g.name} · ${g.method} · ${g.state} · ${g.count} run(s)`;
  if (g.best) text += ` · best ${g.metric} ${fmt(g.best.value)} (${g.goal}, ${g.best.name})`;
  return text;
}

/**
 * The best-so-far step line's points `[trial number, best]` (a step at each improvement).
 * @param {Trial[]} trials
 * @returns {number[][]}
 */
export function bestSteps(trials) {
  /** @type {number[][]} */
  const out = [];
  for (const t of trials) {
    if (t.best === null || t.best === undefined) continue;
    if (out.length) out.push([t.n, out[out.length - 1][1]]);
    out.push([t.n, t.best]);
  }
  return out;
}

/**
 * The best-so-far chart: each trial's value a dot (its run's colour; hover: trial, name,
 * value, best so far) and the best value so far a step line, against the trial number.
 * @param {SweepGroup} g
 * @returns {SVGElement}
 */
export function bestChart(g) {
  const W = 380,
    H = 240,
    L = 56,
    R = 12,
    T = 24,
    B = 32;
  const svg = s("svg", { width: W, height: H, class: "nb-sweep-best" });
  svg.appendChild(s("text", { x: L, y: 14, class: "nb-ctitle" }, `best ${g.metric ?? "—"} so far (${g.goal ?? "—"})`));
  const ys = g.trials.flatMap((t) => [t.value, t.best]).filter((v) => typeof v === "number");
  if (!ys.length) {
    svg.appendChild(s("text", { x: L, y: 60, class: "nb-tick" }, "no values yet"));
    return svg;
  }
  let y0 = Math.min(...ys);
  let y1 = Math.max(...ys);
  // a log y when the values span a decade or more (one diverging trial would flatten the rest)
  const log = y0 > 0 && y1 / y0 >= 10;
  if (y0 === y1) {
    const d = Math.abs(y0) * 0.05 || 0.5;
    y0 -= d;
    y1 += d;
  }
  /** @param {number} v */
  const f = (v) => (log ? Math.log10(v) : v);
  const n = Math.max(2, g.trials.length);
  /** @param {number} i */
  const X = (i) => L + ((i - 1) / (n - 1)) * (W - L - R);
  /** @param {number} v */
  const Y = (v) => H - B - ((f(v) - f(y0)) / (f(y1) - f(y0))) * (H - T - B);
  const mid = log ? Math.sqrt(y0 * y1) : (y0 + y1) / 2;
  for (const v of [y0, mid, y1]) {
    svg.appendChild(s("line", { x1: L, x2: W - R, y1: Y(v), y2: Y(v), class: "nb-gridline" }));
    svg.appendChild(s("text", { x: L - 4, y: Y(v) + 3, "text-anchor": "end", class: "nb-tick" }, fmt(v)));
  }
  if (log) svg.appendChild(s("text", { x: W - R, y: 14, "text-anchor": "end", class: "nb-tick" }, "log y"));
  svg.dataset.log = log ? "1" : "0";
  for (const t of g.trials) {
    if (g.trials.length <= 12 || t.n === 1 || t.n === g.trials.length || t.n % 5 === 0)
      svg.appendChild(s("text", { x: X(t.n), y: H - B + 13, "text-anchor": "middle", class: "nb-tick" }, String(t.n)));
  }
  svg.appendChild(s("text", { x: (L + W - R) / 2, y: H - 3, "text-anchor": "middle", class: "nb-tick" }, "trial"));
  const steps = bestSteps(g.trials);
  if (steps.length) {
    const pts = steps.map(([x, y]) => `${X(x).toFixed(1)},${Y(y).toFixed(1)}`).join(" ");
    svg.appendChild(s("polyline", { points: pts, class: "nb-bestline" }));
  }
  for (const t of g.trials) {
    if (typeof t.value !== "number") continue;
    const c = s("circle", {
      cx: X(t.n).toFixed(1),
      cy: Y(t.value).toFixed(1),
      r: 4,
      fill: t.color,
      class: "nb-trialdot",
      "data-key": t.key,
    });
    c.appendChild(s("title", {}, `trial ${t.n}: ${t.name} · ${g.metric} ${fmt(t.value)} · best so far ${fmt(t.best)}`));
    svg.appendChild(c);
  }
  return svg;
}

/**
 * The sweep's trials as the runs `parallel` draws: params as config, the value as summary.
 * @param {SweepGroup} g
 * @returns {{ runs: any[], axes: Axis[], metric: string }}
 */
export function parallelInput(g) {
  const metric = g.metric ?? "value";
  const runs = g.trials.map((t) => ({
    key: t.key,
    name: t.name,
    color: t.color,
    config: t.params,
    summary: { [metric]: t.value },
  }));
  /** @type {Axis[]} */
  const axes = g.axes.map((a) => ({ name: a, get: (r) => r.config?.[a] }));
  if (g.metric)
    axes.push({ name: metric, get: (r) => (typeof r.summary[metric] === "number" ? r.summary[metric] : null) });
  return { runs, axes, metric };
}

/**
 * A table of the sweep's trials: number, run (with its colour), state, params, value, best.
 * @param {SweepGroup} g
 * @param {(key: string) => void} open
 * @returns {HTMLElement}
 */
function trialsTable(g, open) {
  const table = h("table", { class: "nb-sweep-trials" });
  const head = h("tr");
  for (const c of ["#", "run", "state", ...g.axes, g.metric ?? "value", "best so far", ""])
    head.appendChild(h("th", {}, c));
  table.appendChild(head);
  for (const t of g.trials) {
    const tr = h("tr", { "data-key": t.key, "data-best": g.best && g.best.key === t.key ? "1" : "0" });
    const name = h("td");
    name.append(h("span", { class: "nb-swatch", style: `background:${t.color}` }), document.createTextNode(t.name));
    tr.append(h("td", {}, String(t.n)), name, h("td", {}, t.state));
    for (const a of g.axes) tr.appendChild(h("td", { class: "nb-num" }, fmt(t.params[a])));
    tr.append(h("td", { class: "nb-num" }, fmt(t.value)), h("td", { class: "nb-num" }, fmt(t.best)));
    const btn = h("button", { "data-action": "open" }, "open");
    btn.onclick = () => open(t.key);
    const last = h("td");
    last.appendChild(btn);
    tr.appendChild(last);
    table.appendChild(tr);
  }
  return table;
}

/**
 * Draw every sweep's section into `box` (emptied first; hidden when there are none).
 * @param {HTMLElement} box
 * @param {SweepGroup[]} groups
 * @param {{ parallel: ParallelFn, collapsed: Set<string>, open: (key: string) => void }} opts
 */
export function drawSweeps(box, groups, opts) {
  box.replaceChildren();
  box.dataset.sweeps = String(groups.length);
  if (!groups.length) return;
  box.appendChild(h("style", {}, CSS));
  for (const g of groups) {
    const shut = opts.collapsed.has(g.key);
    const sec = h("section", { class: "nb-sweep", "data-sweep": g.key, "data-collapsed": shut ? "1" : "0" });
    const btn = h(
      "button",
      { "data-action": "toggle-sweep", class: "nb-sweep-head" },
      `${shut ? "▸" : "▾"} sweep ${sweepLabel(g)}`,
    );
    btn.onclick = () => {
      if (opts.collapsed.has(g.key)) opts.collapsed.delete(g.key);
      else opts.collapsed.add(g.key);
      drawSweeps(box, groups, opts);
    };
    sec.appendChild(btn);
    if (!shut) {
      const charts = h("div", { class: "nb-sweep-charts" });
      const pc = h("div", { class: "nb-sweep-pc", "data-role": "sweep-parallel" });
      const { runs, axes, metric } = parallelInput(g);
      if (axes.length >= 2 && runs.length) pc.appendChild(opts.parallel(runs, axes, metric));
      else pc.appendChild(h("span", { class: "nb-dim" }, "parallel coordinates: too few axes"));
      const best = h("div", { class: "nb-sweep-bestbox", "data-role": "sweep-best" });
      best.appendChild(bestChart(g));
      charts.append(pc, best);
      sec.append(charts, trialsTable(g, opts.open));
    }
    box.appendChild(sec);
  }
}
