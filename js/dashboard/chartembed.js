// Embedding a chart's Vega view, and its colours: the spec as the user's choices want it
// (x axis title and format, log y), the vega-embed options (SVG, the theme's config from
// lib/theme.js), the preview's lines drawn before Vega is there, the one-embed-at-a-time
// queue of a chart and the file name of its downloads. Pure apart from `embedOptions`, which
// reads the theme from the page (unit-tested in js/test/chartembed.test.js).
import { vegaConfig } from "../lib/theme.js";
import { X_AXES } from "./chartmath.js";
import { metaOf } from "./chartstate.js";

/**
 * @typedef {import("./chartstate.js").ChartState} ChartState
 * @typedef {import("./chartstate.js").Row} Row
 * @typedef {import("./chartstate.js").SeriesMeta} SeriesMeta
 */

// The Vega-Lite schema of the bundled Vega-Lite (v6): a v5 `$schema` made Vega-Lite warn
// on every embed (issue 25).
export const VEGA_LITE_SCHEMA = "https://vega.github.io/schema/vega-lite/v6.json";

/**
 * The chart's Vega-Lite spec (`spec`, left as it is) as the user's choices want it: with
 * `log`, a log y scale (symlog when a value is not positive); on another x axis than the
 * chart's own, that axis' title (and time labels). `points`: the metric's points per series
 * (`[index, x, y, ...]` each).
 * @param {any} spec
 * @param {Map<string, any[][]>} points
 * @param {string} axis
 * @param {boolean} log
 * @returns {any}
 */
export function specFor(spec, points, axis, log) {
  const out = JSON.parse(JSON.stringify(spec));
  const positive = [...points.values()].every((pts) => pts.every((p) => p[2] > 0));
  const ax = X_AXES[axis];
  for (const layer of out.layer || []) {
    const enc = layer.encoding || {};
    if (log && enc.y?.field) {
      // no `zero` on a log scale: Vega-Lite drops it with a warning on every embed
      const { zero: _zero, ...scale } = enc.y.scale || {};
      enc.y.scale = positive ? { ...scale, type: "log" } : { ...scale, type: "symlog", zero: false };
    }
    if (axis !== "default" && enc.x && enc.x.field === "x") {
      enc.x.title = ax.title;
      if (ax.time) enc.x.axis = { ...(enc.x.axis || {}), formatType: "time", labelAngle: 0 };
    }
  }
  return out;
}

/**
 * vega-embed's options for a dashboard chart: SVG, no action menu, Vega-Lite, the colours of
 * the theme `root` is shown in.
 * @param {Element} root
 * @returns {import("vega-embed").EmbedOptions}
 */
export function embedOptions(root) {
  return { renderer: "svg", actions: false, mode: "vega-lite", config: vegaConfig(root) };
}

/**
 * The x axis title of a chart (its own x field on the default axis).
 * @param {string} axis
 * @param {string} chartX
 */
export function xTitle(axis, chartX) {
  if (axis !== "default") return X_AXES[axis].title;
  return chartX === "_step" ? "step" : chartX; // one x title in every view (issue 25)
}

/**
 * The lines of the SVG preview (preview.js): the shown series with at least two rows.
 * @param {ChartState} state
 * @param {Map<string, SeriesMeta>} meta
 * @param {Map<string, Row[]>} lines
 */
export function previewLines(state, meta, lines) {
  const out = [];
  for (const [s, rows] of lines) {
    if (state.hidden.has(s) || rows.length < 2) continue;
    const m = metaOf(meta, s);
    out.push({ rows, color: m.color, dash: m.dash, opacity: m.opacity, width: m.width });
  }
  return out;
}

/**
 * Run `embed()` for a chart after its earlier embed, one at a time; one asked for while
 * another waits to start is that one (it reads the choices when it starts). `slot` keeps
 * the chart's queue (`job`: its last embed, `queued`: one waits to start).
 * @template T
 * @param {{ job?: Promise<any> | null, queued?: boolean }} slot
 * @param {() => T | Promise<T>} embed
 * @returns {Promise<any>}
 */
export function queueEmbed(slot, embed) {
  if (slot.queued && slot.job) return slot.job;
  slot.queued = true;
  slot.job = (slot.job || Promise.resolve()).then(() => {
    slot.queued = false;
    return embed();
  });
  return slot.job;
}

/**
 * A download's file name: the metric with anything but `[A-Za-z0-9_.-]` as `_`.
 * @param {string} metric
 * @param {string} fmt
 */
export function downloadName(metric, fmt) {
  return `${metric.replace(/[^A-Za-z0-9_.-]+/g, "_") || "chart"}.${fmt}`;
}

/**
 * An error's text for the dashboard's error line.
 * @param {unknown} err
 */
export function errorText(err) {
  return err && typeof err === "object" && "message" in err && err.message ? String(err.message) : String(err);
}
