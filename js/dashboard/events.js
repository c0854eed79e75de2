// PBT exploits and recoveries by rewind as marks on the dashboard's charts (rule 70; Python
// side: nbrun/widgets/_marks.py). The store's marks of a metric, `[x, y, colour, label, step,
// run id, tag]` each, are moved to the point of their step as drawn (axis, smoothing), and
// left out while the legend hides every line of their run. Pure: no DOM, no Vega.
import { metaOf } from "./chartstate.js";

/**
 * @typedef {import("./chartstate.js").ChartState} ChartState
 * @typedef {import("./chartstate.js").Row} Row
 * @typedef {import("./chartstate.js").SeriesMeta} SeriesMeta
 * @typedef {{ x: number, y: number, c: string, label: string, tag: string }} EventTuple
 */

/**
 * The Vega rows of the `events` dataset of one chart.
 * @param {ChartState} state
 * @param {Map<string, SeriesMeta>} meta
 * @param {Map<string, Row[]>} lines
 * @param {any[][]} events
 * @returns {EventTuple[]}
 */
export function eventTuples(state, meta, lines, events) {
  /** @type {EventTuple[]} */
  const out = [];
  for (const [x, y, c, label, step, runId, tag] of events) {
    const keys = [...lines.keys()].filter((s) => metaOf(meta, s).run_id === runId);
    if (keys.length && keys.every((s) => state.hidden.has(s))) continue;
    /** @type {Row | null} */
    let at = null;
    for (const s of keys) {
      if (state.hidden.has(s)) continue;
      const r = (lines.get(s) || []).find((t) => t.step === step);
      if (r) {
        at = r;
        break;
      }
    }
    if (at) out.push({ x: at.x, y: at.y, c, label, tag });
    else if (state.axis === "default" && state.smooth === 0 && x !== null && y !== null)
      out.push({ x, y, c, label, tag });
  }
  return groupEvents(out);
}

/**
 * Marks of one tag drawn on one point (an exploit on the fork's line and the donor's, which
 * meet at the fork step) become one mark whose hover text holds every label, a line each.
 * @param {EventTuple[]} marks
 * @returns {EventTuple[]}
 */
export function groupEvents(marks) {
  /** @type {Map<string, EventTuple>} */
  const groups = new Map();
  for (const m of marks) {
    const key = `${m.x}|${m.y}|${m.tag}`;
    const g = groups.get(key);
    if (!g) groups.set(key, { ...m });
    else if (!g.label.split("\n").includes(m.label)) g.label += `\n${m.label}`;
  }
  return [...groups.values()];
}
