// The project view's overlay chart: one metric of the selected runs as a hand-drawn SVG line
// chart (no Vega: the project module stays small). A fork arrives drawn from its fork step on
// when its parent is overlaid (Python, rule 66); the chart starts on the x-range after the
// earliest such fork with y fitted to it ("whole run" shows everything), on log y when asked,
// and a hover read-out names every line's value at the nearest step. Theme colours come from
// CSS classes (project.css).

import { fittedY, focusRange } from "./compare.js";
import { fmt as fmtDigits } from "./format.js";

const SVG = "http://www.w3.org/2000/svg";
/** @param {unknown} v */
const fmt = (v) => fmtDigits(v, 4);

/**
 * @typedef {{ key: string, name: string, color: string, pts: number[][], start?: number | null }} OverlaySeries
 * @typedef {{ log: boolean, whole: boolean, diff: boolean }} OverlayOptions
 */

/**
 * An SVG element with attributes and, optionally, its text.
 * @param {string} tag
 * @param {Record<string, string | number>} [attrs]
 * @param {string} [text]
 * @returns {SVGElement}
 */
export function s(tag, attrs = {}, text) {
  const e = /** @type {SVGElement} */ (document.createElementNS(SVG, tag));
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

/**
 * About five round tick values covering [lo, hi].
 * @param {number} lo
 * @param {number} hi
 * @returns {number[]}
 */
export function ticks(lo, hi) {
  const span = hi - lo || Math.abs(hi) || 1;
  const step0 = 10 ** Math.floor(Math.log10(span / 4));
  const step = [1, 2, 5, 10].map((m) => m * step0).find((st) => span / st <= 5) || step0 * 10;
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

/**
 * Powers of ten in [lo, hi] (lo > 0), thinned to at most six.
 * @param {number} lo
 * @param {number} hi
 * @returns {number[]}
 */
export function logTicks(lo, hi) {
  const out = [];
  for (let e = Math.ceil(Math.log10(lo) - 1e-9); e <= Math.floor(Math.log10(hi) + 1e-9); e++) out.push(10 ** e);
  const every = Math.ceil(out.length / 6);
  return out.filter((_, i) => i % every === 0);
}

/**
 * The chart's x and y ranges: x the whole extent or (rule 66) the range after the earliest
 * fork, y fitted to the points in that x range; `log` only when every shown value is positive.
 * @param {OverlaySeries[]} series
 * @param {OverlayOptions} opts
 */
export function overlayDomains(series, opts) {
  const all = series.flatMap((r) => r.pts);
  let x0 = Math.min(...all.map((p) => p[0]));
  let x1 = Math.max(...all.map((p) => p[0]));
  const starts = series.map((r) => r.start).filter((v) => typeof v === "number");
  const focus = focusRange(x0, x1, /** @type {number[]} */ (starts));
  if (focus && !opts.whole) [x0, x1] = focus;
  if (x0 === x1) {
    x0 -= 1;
    x1 += 1;
  }
  const lines = series.map((r) => r.pts);
  const log = opts.log && !opts.diff && all.some((p) => p[1] > 0);
  const y = fittedY(lines, [x0, x1], log) || [0, 1];
  return { x: [x0, x1], y, log, focus: !!focus };
}

/**
 * One metric of the selected runs as an SVG line chart: `series` each a run's points `[step,
 * value]` (or with `opts.diff` its difference from its parent, drawn over a zero line). Data
 * attributes for tests and tools: `data-xdom`, `data-ydom`, `data-log`, `data-focus` (a range
 * after a fork exists), `data-whole`.
 * @param {string} metric
 * @param {OverlaySeries[]} series
 * @param {OverlayOptions} opts
 * @returns {SVGElement}
 */
export function lineChart(metric, series, opts) {
  const [W, H, L, R, T, B] = [340, 190, 50, 10, 20, 30];
  const svg = s("svg", { width: W, height: H, class: "nb-ochart", "data-metric": metric });
  const shown = series.filter((r) => r.pts.length);
  if (!shown.length) return svg;
  const d = overlayDomains(shown, opts);
  const [x0, x1] = d.x;
  const [y0, y1] = d.log ? d.y.map(Math.log10) : d.y;
  /** @param {number} v */
  const X = (v) => L + ((v - x0) / (x1 - x0)) * (W - L - R);
  /** @param {number} v */
  const Y = (v) => H - B - (((d.log ? Math.log10(v) : v) - y0) / (y1 - y0)) * (H - T - B);
  svg.setAttribute("data-xdom", JSON.stringify(d.x));
  svg.setAttribute("data-ydom", JSON.stringify(d.y));
  svg.setAttribute("data-log", d.log ? "1" : "0");
  svg.setAttribute("data-focus", d.focus ? "1" : "0");
  svg.setAttribute("data-whole", opts.whole || !d.focus ? "1" : "0");
  const clipId = `nb-oclip-${Math.random().toString(36).slice(2)}`;
  const clip = s("clipPath", { id: clipId });
  clip.appendChild(s("rect", { x: L, y: T - 2, width: W - L - R, height: H - T - B + 4 }));
  svg.appendChild(clip);
  const title = opts.diff ? `${metric} · fork − parent` : metric;
  svg.appendChild(s("text", { x: L, y: 12, class: "nb-ctitle" }, title));
  for (const v of d.log ? logTicks(d.y[0], d.y[1]) : ticks(y0, y1)) {
    svg.appendChild(s("line", { x1: L, x2: W - R, y1: Y(v), y2: Y(v), class: "nb-gridline" }));
    svg.appendChild(s("text", { x: L - 4, y: Y(v) + 3, "text-anchor": "end", class: "nb-tick" }, fmt(v)));
  }
  if (d.log) svg.appendChild(s("text", { x: W - R, y: 12, "text-anchor": "end", class: "nb-tick" }, "log y"));
  for (const v of ticks(x0, x1)) {
    svg.appendChild(s("text", { x: X(v), y: H - B + 13, "text-anchor": "middle", class: "nb-tick" }, fmt(v)));
  }
  svg.appendChild(s("line", { x1: L, x2: W - R, y1: H - B, y2: H - B, class: "nb-axisline" }));
  svg.appendChild(s("text", { x: (L + W - R) / 2, y: H - 3, "text-anchor": "middle", class: "nb-tick" }, "step"));
  if (opts.diff && y0 < 0 && y1 > 0) {
    svg.appendChild(s("line", { x1: L, x2: W - R, y1: Y(0), y2: Y(0), class: "nb-zeroline", "data-role": "zero" }));
  }
  const plot = s("g", { "clip-path": `url(#${clipId})` });
  svg.appendChild(plot);
  /** @param {number[]} p */
  const visible = (p) => p[0] >= x0 && p[0] <= x1 && (!d.log || p[1] > 0);
  const dots = shown.reduce((n, r) => n + r.pts.filter(visible).length, 0) <= 1500;
  for (const r of shown) {
    const g = s("g", { "data-key": r.key });
    const pts = r.pts.filter((p) => !d.log || p[1] > 0);
    const coords = pts.map(([x, y]) => `${X(x).toFixed(1)},${Y(y).toFixed(1)}`).join(" ");
    g.appendChild(s("polyline", { points: coords, stroke: r.color, class: "nb-oline", "data-key": r.key }));
    if (dots) {
      for (const [x, y] of pts.filter(visible)) {
        const c = s("circle", { cx: X(x).toFixed(1), cy: Y(y).toFixed(1), r: 2.5, fill: r.color, class: "nb-odot" });
        c.appendChild(s("title", {}, `${r.name} · step ${x} · ${metric} ${fmt(y)}`));
        g.appendChild(c);
      }
    }
    plot.appendChild(g);
  }
  bindHover(svg, shown, { X, Y, L, R, T, B, W, H, x0, x1, metric, visible });
  return svg;
}

/**
 * The hover read-out: a rule at the nearest step with a point and each line's value there,
 * so every point can be read however many there are (rule 66).
 * @param {SVGElement} svg
 * @param {OverlaySeries[]} series
 * @param {{ X: (v: number) => number, Y: (v: number) => number, L: number, R: number, T: number, B: number, W: number, H: number, x0: number, x1: number, metric: string, visible: (p: number[]) => boolean }} g
 */
function bindHover(svg, series, g) {
  const layer = s("g", { class: "nb-ohover", "pointer-events": "none" });
  svg.appendChild(layer);
  const steps = [...new Set(series.flatMap((r) => r.pts.filter(g.visible).map((p) => p[0])))].sort((a, b) => a - b);
  /** @param {MouseEvent} ev */
  const move = (ev) => {
    const box = svg.getBoundingClientRect();
    const px = ev.clientX - box.left;
    layer.replaceChildren();
    if (px < g.L || px > g.W - g.R || !steps.length) return;
    const xv = g.x0 + ((px - g.L) / (g.W - g.L - g.R)) * (g.x1 - g.x0);
    let at = steps[0];
    for (const st of steps) if (Math.abs(st - xv) < Math.abs(at - xv)) at = st;
    layer.appendChild(s("line", { x1: g.X(at), x2: g.X(at), y1: g.T, y2: g.H - g.B, class: "nb-hrule" }));
    const rows = [];
    for (const r of series) {
      const p = r.pts.find((q) => q[0] === at && g.visible(q));
      if (!p) continue;
      layer.appendChild(s("circle", { cx: g.X(p[0]), cy: g.Y(p[1]), r: 3.5, fill: r.color, class: "nb-hdot" }));
      rows.push(`${r.name} ${fmt(p[1])}`);
    }
    const right = g.X(at) > (g.L + g.W) / 2;
    const tx = right ? g.X(at) - 6 : g.X(at) + 6;
    const text = s("text", { x: tx, y: g.T + 10, "text-anchor": right ? "end" : "start", class: "nb-htext" });
    for (const [i, line] of [`step ${at}`, ...rows].entries()) {
      text.appendChild(s("tspan", { x: tx, dy: i ? 12 : 0 }, line));
    }
    layer.appendChild(text);
    svg.setAttribute("data-hover-step", String(at));
  };
  svg.addEventListener("mousemove", /** @type {EventListener} */ (move));
  svg.addEventListener("mouseleave", () => {
    layer.replaceChildren();
    svg.removeAttribute("data-hover-step");
  });
}
