// The charts' interactive legend: one item per series (its swatch in the line's colour, width
// and dash); a click hides or shows the series, an alt-click shows only it (again: all), a
// hover highlights its run. The decisions are pure (unit-tested in js/test/legend.test.js).
import { h } from "../lib/dom.js";
import { seriesLabel } from "./chartmath.js";

/**
 * @typedef {{ key: string, run_id: string, role?: string, color: string, width?: number, dash?: string, label: string }} LegendSeries
 */

export const LEGEND_TITLE = "click: hide / show · alt-click: show only this · hover: highlight";

/**
 * The hidden series after a click on `key` (`keys`: every series of the legend): a click
 * toggles it; an alt-click hides all the others, or shows them all again when it already
 * was the only one shown. `hidden` is left as it is.
 * @param {Set<string>} hidden
 * @param {string[]} keys
 * @param {string} key
 * @param {boolean} alt
 * @returns {Set<string>}
 */
export function legendClick(hidden, keys, key, alt) {
  if (alt) {
    const others = keys.filter((k) => k !== key);
    const isolated = !hidden.has(key) && others.every((k) => hidden.has(k));
    return isolated ? new Set() : new Set(others);
  }
  const out = new Set(hidden);
  if (out.has(key)) out.delete(key);
  else out.add(key);
  return out;
}

/**
 * A legend swatch's CSS: the line's colour and width (at least 2 px); an inherited part
 * dashed, an archived segment (ghost) dotted.
 * @param {LegendSeries} s
 * @returns {{ background: string, height: string }}
 */
export function swatchStyle(s) {
  let background = s.color;
  if (s.dash === "inherited") background = `repeating-linear-gradient(90deg, ${s.color} 0 5px, transparent 5px 8px)`;
  if (s.dash === "ghost") background = `repeating-linear-gradient(90deg, ${s.color} 0 2px, transparent 2px 5px)`;
  return { background, height: `${Math.max(2, Math.round(s.width || 1.5))}px` };
}

/**
 * Draw the legend of `series` into `legend`: `onClick(key, alt)` on a click, `onHover(runId)`
 * on entering an item ("" on leaving it).
 * @param {HTMLElement} legend
 * @param {LegendSeries[]} series
 * @param {Set<string>} hidden
 * @param {{ onClick(key: string, alt: boolean): void, onHover(runId: string): void }} on
 */
export function renderLegend(legend, series, hidden, on) {
  legend.replaceChildren();
  for (const s of series) {
    const item = h("span", {
      class: "nb-legend-item",
      "data-series": s.key,
      "data-role": s.role,
      "data-run": s.run_id,
      "data-hidden": hidden.has(s.key) ? "1" : "0",
      title: LEGEND_TITLE,
    });
    const sw = h("span", { class: "nb-swatch" });
    const style = swatchStyle(s);
    sw.style.background = style.background;
    sw.style.height = style.height;
    item.append(sw, document.createTextNode(seriesLabel(s) || s.label));
    item.onclick = (/** @type {MouseEvent} */ e) => on.onClick(s.key, e.altKey);
    item.onmouseenter = () => on.onHover(s.run_id);
    item.onmouseleave = () => on.onHover("");
    legend.appendChild(item);
  }
}
