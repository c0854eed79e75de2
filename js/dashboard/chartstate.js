// The charts' state: what the user chose for every chart of the dashboard (hidden series,
// highlighted run, EMA smoothing, "ignore outliers", x axis) and what follows from it for one
// chart, as pure functions of that state and the chart's lines (`entry.lines`: series key ->
// its rows, see points.js): the Vega rows, the visible lines, the selected point, the fork
// marks and the y domain. No DOM, no Vega (unit-tested in js/test/chartstate.test.js).
import { difference, focusRange } from "../lib/compare.js";
import { extentDomain, groupForks, robustUnion, seriesLabel } from "./chartmath.js";
import { lineRows, nearestPickable, tuples } from "./points.js";

/**
 * @typedef {{ hidden: Set<string>, hl: string, smooth: number, outliers: boolean, axis: string, diff: boolean }} ChartState
 * @typedef {{ x: number, y: number, raw: number, step: number, i: number }} Row
 * @typedef {{ color: string, run_id: string, pickable: boolean, dash?: string, opacity?: number, width?: number, role?: string, label?: string, fork_step?: number | null, parent_id?: string | null }} SeriesMeta
 */

/**
 * The choices a dashboard starts with: outliers are not hidden (as in W&B: the y range holds
 * every point, the first steps of a falling loss included; issue 25); lines as they are
 * (`diff`: each fork as its difference from its parent, rule 67).
 * @returns {ChartState}
 */
export function newChartState() {
  return { hidden: new Set(), hl: "", smooth: 0, outliers: false, axis: "default", diff: false };
}

/**
 * Whether a series starts at a fork point drawn with its parent: a fork of this run or of its
 * parent, or the parent drawn from the fork point on (this run's own rows, when it is a fork,
 * start at that point too: the parent's series is then there).
 * @param {SeriesMeta} m
 */
function startsAtFork(m) {
  return m.role === "child" || m.role === "sibling" || m.role === "parent";
}

/**
 * The initial x-range of a chart where forks are drawn (rule 66): from just before the
 * earliest fork point of a shown line to the lines' end (lib/compare.focusRange); null (the
 * whole run) without one.
 * @param {ChartState} state
 * @param {Map<string, SeriesMeta>} meta
 * @param {Map<string, Row[]>} lines
 * @returns {number[] | null}
 */
export function focusDomain(state, meta, lines) {
  const starts = [];
  for (const [s, rows] of lines) {
    if (state.hidden.has(s) || !rows.length || !startsAtFork(metaOf(meta, s))) continue;
    starts.push(rows[0].x);
  }
  if (!starts.length) return null;
  const [x0, x1] = xDomain(state, lines, null);
  return focusRange(x0, x1, starts);
}

/**
 * Step -> value of `[step, value]` points.
 * @param {number[][]} pts
 * @returns {Map<number, number>}
 */
function byStep(pts) {
  return new Map(pts.map((p) => [p[0], p[1]]));
}

/**
 * The lines as differences (rule 67): each line of a fork whose parent has lines becomes
 * fork − parent at its steps (lib/compare.difference: the parent's value there, else
 * interpolated), the parent's lines become 0 where a fork is compared with them, and lines of
 * runs with neither (archived segments, a root compared with nothing) are left out.
 * @param {Map<string, SeriesMeta>} meta
 * @param {Map<string, Row[]>} lines
 * @returns {Map<string, Row[]>}
 */
export function diffLines(meta, lines) {
  /** @type {Map<string, Row[]>} */
  const byRun = new Map();
  for (const [s, rows] of lines) {
    const m = metaOf(meta, s);
    if (m.role === "ghost") continue;
    byRun.set(m.run_id, [...(byRun.get(m.run_id) || []), ...rows]);
  }
  for (const rows of byRun.values()) rows.sort((a, b) => a.step - b.step);
  /** @type {Map<string, number>} */
  const compared = new Map(); // parent run id -> the earliest step a fork is compared from
  /** @type {Map<string, Row[]>} */
  const out = new Map();
  for (const [s, rows] of lines) {
    const m = metaOf(meta, s);
    const parent = m.parent_id ? byRun.get(m.parent_id) : undefined;
    if (!parent || m.role === "ghost" || m.role === "inherited" || !rows.length) continue;
    const start = m.fork_step ?? rows[0].step;
    const ys = byStep(
      difference(
        rows.map((r) => [r.step, r.y]),
        parent.map((r) => [r.step, r.y]),
        start,
      ),
    );
    const raws = byStep(
      difference(
        rows.map((r) => [r.step, r.raw]),
        parent.map((r) => [r.step, r.raw]),
        start,
      ),
    );
    out.set(
      s,
      rows
        .filter((r) => ys.has(r.step))
        .map((r) => ({ ...r, y: /** @type {number} */ (ys.get(r.step)), raw: raws.get(r.step) ?? NaN })),
    );
    const id = /** @type {string} */ (m.parent_id);
    compared.set(id, Math.min(compared.get(id) ?? Infinity, start));
  }
  for (const [s, rows] of lines) {
    const m = metaOf(meta, s);
    const from = compared.get(m.run_id);
    if (out.has(s) || from === undefined || m.role === "ghost") continue;
    const zero = rows.filter((r) => r.step >= from).map((r) => ({ ...r, y: 0, raw: 0 }));
    if (zero.length) out.set(s, zero);
  }
  return out;
}

/**
 * A series' metadata, or a grey stand-in for a series the legend does not know (yet).
 * @param {Map<string, SeriesMeta>} meta
 * @param {string} s
 * @returns {SeriesMeta}
 */
export function metaOf(meta, s) {
  return meta.get(s) || { color: "#888", run_id: s, pickable: false };
}

/**
 * The rows of one series of one metric, on the chosen axis and smoothed.
 * @param {{ series(metric: string, s: string): any[] }} store
 * @param {ChartState} state
 * @param {string} metric
 * @param {string} s
 * @returns {Row[]}
 */
export function lineRowsOf(store, state, metric, s) {
  return lineRows(store.series(metric, s), state.axis, state.smooth);
}

/**
 * The Vega rows of a series: none while the legend hides it.
 * @param {ChartState} state
 * @param {Map<string, SeriesMeta>} meta
 * @param {string} s
 * @param {Row[]} rows
 */
export function tuplesFor(state, meta, s, rows) {
  return state.hidden.has(s) ? [] : tuples(meta.get(s), s, rows, state.smooth);
}

/**
 * The lines the hover read-out looks at: the shown series that have rows.
 * @param {ChartState} state
 * @param {Map<string, SeriesMeta>} meta
 * @param {Map<string, Row[]>} lines
 */
export function visibleLines(state, meta, lines) {
  const out = [];
  for (const [s, rows] of lines) {
    if (state.hidden.has(s) || !rows.length) continue;
    const m = metaOf(meta, s);
    out.push({ key: s, label: seriesLabel(m) || s, color: m.color, rows, pickable: !!m.pickable });
  }
  return out;
}

/**
 * The selected step's point (on the nearest pickable line), or none.
 * @param {Map<string, Row[]>} lines
 * @param {Map<string, SeriesMeta>} meta
 * @param {number | null | undefined} step
 * @returns {{ x: number, y: number }[]}
 */
export function selectedTuple(lines, meta, step) {
  if (step === null || step === undefined) return [];
  const r = nearestPickable(lines, meta, "step", step);
  return r ? [{ x: r.x, y: r.y }] : [];
}

/**
 * Fork marks where they are drawn now (axis, smoothing), without those of hidden runs;
 * marks on one point are combined with a count. `forks`: the store's marks of the metric,
 * `[x, y, colour, label, step, run id]` each.
 * @param {ChartState} state
 * @param {Map<string, SeriesMeta>} meta
 * @param {Map<string, Row[]>} lines
 * @param {any[][]} forks
 */
export function forkTuples(state, meta, lines, forks) {
  const marks = [];
  for (const [x, y, c, label, step, runId] of forks) {
    const keys = [...lines.keys()].filter((s) => metaOf(meta, s).run_id === runId);
    if (keys.length && keys.every((s) => state.hidden.has(s))) continue;
    let at = null;
    for (const s of keys) {
      const rows = lines.get(s) || [];
      const r = rows.find((t) => t.step === step);
      if (r) {
        at = r;
        break;
      }
    }
    if (at) marks.push({ x: at.x, y: at.y, c, label });
    else if (state.axis === "default" && state.smooth === 0) marks.push({ x, y, c, label });
  }
  return groupForks(marks);
}

// The domain of a chart without any drawn row: positive, so a log scale is valid too.
export const EMPTY_DOMAIN = [1, 10];

/**
 * The x domain: the zoomed range (`xdom`), else the extent of the shown lines' rows. The
 * browser gives Vega both domains: computed by Vega over every layer's dataset, each empty
 * one (hover, selection, forks, checkpoints) warned "Infinite extent" (issue 25).
 * @param {ChartState} state
 * @param {Map<string, Row[]>} lines
 * @param {number[] | null} xdom
 * @returns {number[]}
 */
export function xDomain(state, lines, xdom) {
  if (xdom) return xdom;
  let lo = Infinity;
  let hi = -Infinity;
  for (const [s, rows] of lines) {
    if (state.hidden.has(s)) continue;
    for (const r of rows) {
      if (!Number.isFinite(r.x)) continue;
      if (r.x < lo) lo = r.x;
      if (r.x > hi) hi = r.x;
    }
  }
  if (lo === Infinity) return EMPTY_DOMAIN;
  return lo === hi ? [lo - 1, hi + 1] : [lo, hi];
}

/**
 * The y domain: the extent of the shown lines' rows (of those in the x range when zoomed,
 * `xdom`), or with `state.outliers` outlier-free (quartile fences of each line, then their
 * union); padded. With `log` (and every value positive) in decades; EMPTY_DOMAIN without rows.
 * @param {ChartState} state
 * @param {Map<string, Row[]>} lines
 * @param {number[] | null} xdom
 * @param {boolean} log
 * @returns {number[]}
 */
export function yDomain(state, lines, xdom, log) {
  const [a, b] = xdom || [-Infinity, Infinity];
  const perLine = [];
  for (const [s, rows] of lines) {
    if (state.hidden.has(s)) continue;
    const ys = [];
    for (const r of rows) if (r.x >= a && r.x <= b && Number.isFinite(r.y)) ys.push(r.y);
    perLine.push(ys);
  }
  // a log scale of values that are not all positive is a symlog one: its domain is linear
  const inLog = log && perLine.every((ys) => ys.every((v) => v > 0));
  const values = inLog ? perLine.map((ys) => ys.map(Math.log10)) : perLine;
  const d = state.outliers
    ? robustUnion(values, 1.5, inLog ? 0.02 : 0.04)
    : extentDomain(values.flat(), inLog ? 0.02 : 0.04);
  if (!d) return EMPTY_DOMAIN;
  return inLog ? d.map((v) => 10 ** v) : d;
}

// A chart starts on log y when its values are positive and span at least this many decades
// (a loss from 25 to 0.002 spans 4): on a linear scale the first steps flatten the rest.
export const LOG_DECADES = 3;

/**
 * Whether a chart starts on log y (issue 25): every value of every series positive and the
 * largest at least 10^LOG_DECADES times the smallest. `points`: the metric's points per
 * series (`[index, x, y, ...]` each).
 * @param {Map<string, any[][]>} points
 * @param {number} [decades]
 */
export function startsOnLog(points, decades = LOG_DECADES) {
  let lo = Infinity;
  let hi = -Infinity;
  for (const pts of points.values()) {
    for (const p of pts) {
      const v = p[2];
      if (typeof v !== "number" || !Number.isFinite(v)) continue;
      if (v <= 0) return false;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
  }
  return lo !== Infinity && hi / lo >= 10 ** decades;
}

/**
 * What the toolbar says of a selection (issue 25): the clicked step, and where Fork / Rewind
 * will start when that is another step (the checkpoint at or before it).
 * @param {number | null | undefined} clicked the step the user clicked (null: not known)
 * @param {number | null | undefined} selected the selected step (`selected_step`)
 */
export function selectionText(clicked, selected) {
  if (selected === null || selected === undefined) return "click a point";
  if (clicked === null || clicked === undefined || clicked === selected) return `step ${selected}`;
  return `step ${clicked} → continues from the checkpoint at step ${selected}`;
}

/**
 * The x axis choices for these charts (`[value, text]`) and the axis kept: the current one
 * if it is still a choice, else "default".
 * @param {{ x?: string }[]} charts
 * @param {string} axis
 * @returns {{ choices: string[][], axis: string }}
 */
export function axisChoices(charts, axis) {
  const stepMetric = charts.some((c) => c.x && c.x !== "_step");
  const choices = [["default", stepMetric ? "step metric" : "step"]];
  if (stepMetric) choices.push(["_step", "global step"]);
  choices.push(["_runtime", "relative time"], ["_timestamp", "wall time"]);
  return { choices, axis: choices.some(([v]) => v === axis) ? axis : "default" };
}
