// The first drawing of a chart: plain SVG lines on two axes, drawn at once from the store's
// points while Vega loads (dashboard/vegaload.js), then replaced by the interactive Vega view.
// Styles follow the chart's spec (size, title, the dash of each role) and the theme's colours.
// `ticks` and `linePath` are pure (unit-tested); run data is only ever written as text.
import { sig4 } from "./chartmath.js";

const NS = "http://www.w3.org/2000/svg";
const PAD = { left: 52, right: 12, top: 26, bottom: 34 };

function el(tag, attrs = {}, text) {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

// About `n` round values covering [lo, hi] (1, 2 or 5 times a power of ten apart).
export function ticks(lo, hi, n = 5) {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return [];
  if (hi < lo) [lo, hi] = [hi, lo];
  if (hi === lo) return [lo];
  const raw = (hi - lo) / Math.max(1, n);
  let step = 10 ** Math.floor(Math.log10(raw));
  const err = raw / step;
  if (err >= 7.07) step *= 10;
  else if (err >= 3.16) step *= 5;
  else if (err >= 1.41) step *= 2;
  const out = [];
  for (let i = Math.ceil(lo / step); i * step <= hi + step * 1e-9; i++) out.push(Number((i * step).toPrecision(12)));
  return out;
}

// A tick label: thousands as "20k", millions as "1.5M", else 4 significant digits.
export function tickLabel(v) {
  const a = Math.abs(v);
  if (a >= 1e6 && a < 1e12) return `${sig4(v / 1e6)}M`;
  if (a >= 1e4 && a < 1e6) return `${sig4(v / 1e3)}k`;
  return sig4(v);
}

// The SVG path of `rows` (`{x, y}`) in a plot of `w` x `h` pixels showing x in `xd` and y in
// `yd` (y clamped to the plot, so an ignored outlier runs off its edge); "" for no rows.
export function linePath(rows, xd, yd, w, h) {
  const sx = w / (xd[1] - xd[0] || 1);
  const sy = h / (yd[1] - yd[0] || 1);
  const parts = [];
  for (const r of rows) {
    if (!Number.isFinite(r.x) || !Number.isFinite(r.y)) continue;
    const px = (r.x - xd[0]) * sx;
    const py = Math.min(h + 2, Math.max(-2, h - (r.y - yd[0]) * sy));
    parts.push(`${parts.length ? "L" : "M"}${px.toFixed(1)},${py.toFixed(1)}`);
  }
  return parts.length > 1 ? parts.join("") : "";
}

// The preview of one chart: `spec` (its Vega-Lite spec: width, height, title, dash scale),
// `lines` (`{rows, color, dash, opacity, width}`), `ydom` (the y range, or null for the
// data's), `xTitle` and `config` (the theme's Vega config: lib/theme.js vegaConfig); null
// when no line has a finite point.
// `xdom`: the x range shown (rule 66), or null for the data's.
/** @param {{ spec: any, lines: any[], xdom?: number[] | null, ydom: number[] | null, xTitle: string | null, config: any }} opts */
export function previewSvg({ spec, lines, xdom = null, ydom, xTitle, config }) {
  const w = spec.width || 420;
  const h = spec.height || 220;
  const axis = config?.axis || {};
  const fg = config?.title?.color || "#222";
  let x0 = Infinity,
    x1 = -Infinity,
    y0 = Infinity,
    y1 = -Infinity;
  for (const l of lines) {
    for (const r of l.rows) {
      if (!Number.isFinite(r.x) || !Number.isFinite(r.y)) continue;
      if (r.x < x0) x0 = r.x;
      if (r.x > x1) x1 = r.x;
      if (r.y < y0) y0 = r.y;
      if (r.y > y1) y1 = r.y;
    }
  }
  if (x0 === Infinity) return null; // nothing finite to draw
  const xd = xdom || [x0, x1 > x0 ? x1 : x0 + 1];
  const yd = ydom || [y0, y1 > y0 ? y1 : y0 + 1];
  const svg = el("svg", {
    class: "nb-preview",
    "data-xd": `${xd[0]},${xd[1]}`,
    "data-plot": `${PAD.left},${w}`,
    width: w + PAD.left + PAD.right,
    height: h + PAD.top + PAD.bottom,
    "font-family": "sans-serif",
    "font-size": 10,
  });
  const title = spec.title && typeof spec.title === "object" ? spec.title.text : spec.title;
  svg.appendChild(
    el("text", { x: PAD.left, y: 15, fill: fg, "font-size": 13, "font-weight": "bold" }, String(title || "")),
  );
  const g = el("g", { transform: `translate(${PAD.left},${PAD.top})` });
  svg.appendChild(g);
  const grid = axis.gridColor || "#e5e5e5";
  const line = axis.domainColor || "#888";
  const label = axis.labelColor || "#555";
  for (const v of ticks(yd[0], yd[1], 5)) {
    const py = (h - ((v - yd[0]) * h) / (yd[1] - yd[0] || 1)).toFixed(1);
    g.appendChild(el("line", { x1: 0, x2: w, y1: py, y2: py, stroke: grid }));
    g.appendChild(el("text", { x: -6, y: py, dy: "0.32em", "text-anchor": "end", fill: label }, tickLabel(v)));
  }
  for (const v of ticks(xd[0], xd[1], Math.max(2, Math.round(w / 80)))) {
    const px = (((v - xd[0]) * w) / (xd[1] - xd[0] || 1)).toFixed(1);
    g.appendChild(el("line", { x1: px, x2: px, y1: h, y2: h + 5, stroke: line }));
    g.appendChild(el("text", { x: px, y: h + 16, "text-anchor": "middle", fill: label }, tickLabel(v)));
  }
  g.appendChild(el("rect", { x: 0, y: 0, width: w, height: h, fill: "none", stroke: line }));
  if (xTitle)
    g.appendChild(
      el(
        "text",
        { x: w / 2, y: h + 30, "text-anchor": "middle", fill: axis.titleColor || fg, "font-weight": "bold" },
        String(xTitle),
      ),
    );
  const dashes = dashScale(spec);
  // lines outside the x range shown (rule 66: the steps after a fork) are clipped
  const clipId = `nb-pv-clip-${Math.random().toString(36).slice(2)}`;
  const clip = el("clipPath", { id: clipId });
  clip.appendChild(el("rect", { x: 0, y: -2, width: w, height: h + 4 }));
  g.append(clip);
  const plot = el("g", { "clip-path": `url(#${clipId})` });
  g.appendChild(plot);
  for (const l of lines) {
    const d = linePath(l.rows, xd, yd, w, h);
    if (!d) continue;
    const dash = dashes[l.dash];
    plot.appendChild(
      el("path", {
        class: "nb-pv-line",
        d,
        fill: "none",
        stroke: l.color || "#888",
        "stroke-width": l.width || 1.5,
        opacity: l.opacity ?? 1,
        ...(dash?.[1] ? { "stroke-dasharray": dash.join(",") } : {}),
      }),
    );
  }
  return svg;
}

/**
 * The x value under client x `clientX` on a preview drawn by {@link previewSvg}; null outside
 * its plot.
 * @param {SVGElement} svg @param {number} clientX @returns {number | null}
 */
export function previewX(svg, clientX) {
  const [x0, x1] = (svg.getAttribute("data-xd") || "").split(",").map(Number);
  const [left, w] = (svg.getAttribute("data-plot") || "").split(",").map(Number);
  const px = clientX - svg.getBoundingClientRect().left - left;
  if (![x0, x1, left, w, px].every(Number.isFinite) || px < -4 || px > w + 4) return null;
  return x0 + (Math.min(w, Math.max(0, px)) / (w || 1)) * (x1 - x0);
}

// Role -> dash pattern, from the spec's strokeDash scale.
function dashScale(spec) {
  const out = {};
  for (const layer of spec.layer || []) {
    const sc = layer.encoding?.strokeDash?.scale;
    if (sc?.domain)
      sc.domain.forEach((k, i) => {
        out[k] = sc.range[i];
      });
  }
  return out;
}
