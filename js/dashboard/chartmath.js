// The chart interactions' arithmetic (pure: no DOM, no Vega): the x axis a point is drawn on,
// EMA smoothing, the "ignore outliers" y range, the hover read-out, legend labels and the
// grouping of fork marks that sit on one another.

// The x axes a chart can use. "default" is what Python sends as x (the metric's
// define_metric step_metric, else _step); the others read the point's extra columns.
/** @type {Record<string, { title: string | null, index: number, scale: number, time?: boolean }>} */
export const X_AXES = {
  default: { title: null, index: 1, scale: 1 },
  _step: { title: "step", index: 3, scale: 1 },
  _runtime: { title: "relative time (s)", index: 4, scale: 1 },
  _timestamp: { title: "wall time", index: 5, scale: 1000, time: true },
};

// The x of point `p` (`[index, x, y, step, runtime, timestamp]`) on `axis`, or null when
// the point has no value for it.
export function xOf(p, axis = "default") {
  const a = X_AXES[axis] || X_AXES.default;
  const v = p[a.index];
  return typeof v === "number" && Number.isFinite(v) ? v * a.scale : null;
}

// Exponential moving average with TensorBoard's debiasing (the first values are not pulled
// toward 0). `weight` in [0, 1): 0 returns the values as they are.
export function ema(values, weight) {
  const w = Math.min(Math.max(Number(weight) || 0, 0), 0.999);
  if (w === 0) return values.slice();
  const out = new Array(values.length);
  let last = 0;
  let n = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Number.isFinite(v)) {
      out[i] = v;
      continue;
    }
    last = last * w + (1 - w) * v;
    n += 1;
    out[i] = last / (1 - w ** n);
  }
  return out;
}

// Quantile `q` (0..1) of an ascending array, linearly interpolated.
export function quantile(sorted, q) {
  if (!sorted.length) return NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

function padded(lo, hi, pad) {
  if (hi === lo) {
    const d = Math.abs(lo) * 0.05 || 1;
    return [lo - d, hi + d];
  }
  const d = (hi - lo) * pad;
  return [lo - d, hi + d];
}

// The y range [lo, hi] of `values` (finite ones), padded by `pad` of its span; null when
// there are none.
export function extentDomain(values, pad = 0.04) {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (!Number.isFinite(v)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return lo === Infinity ? null : padded(lo, hi, pad);
}

// The y range with outliers ignored: Tukey's fences (`k` interquartile ranges beyond the
// quartiles) clamped to the data's extent, so a loss that starts at 10 and settles near 0.1
// is not flattened by its first steps, while a curve without outliers keeps its whole range.
export function robustDomain(values, k = 1.5, pad = 0.04) {
  const v = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (!v.length) return null;
  const q1 = quantile(v, 0.25);
  const q3 = quantile(v, 0.75);
  const iqr = q3 - q1;
  const lo = Math.max(v[0], q1 - k * iqr);
  const hi = Math.min(v[v.length - 1], q3 + k * iqr);
  return padded(lo, hi, pad);
}

// The y range of several lines, outliers ignored per line (robustDomain of each, then their
// union): a long flat line cannot squeeze another line's honest range out of view. `lines`
// are arrays of values; null when none has a finite value.
export function robustUnion(lines, k = 1.5, pad = 0.04) {
  let lo = Infinity;
  let hi = -Infinity;
  for (const values of lines) {
    const d = robustDomain(values, k, pad);
    if (!d) continue;
    if (d[0] < lo) lo = d[0];
    if (d[1] > hi) hi = d[1];
  }
  return lo === Infinity ? null : [lo, hi];
}

// A number with 4 significant digits ("0.1235", "1235", "1.235e+7").
export function sig4(v) {
  if (typeof v !== "number" || !Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e6 || a < 1e-4)) return v.toPrecision(4);
  return String(Number(v.toPrecision(4)));
}

// A config value as a label shows it.
export function labelValue(v) {
  if (v === null || v === undefined) return "∅";
  if (typeof v === "number") return sig4(v);
  if (typeof v === "string") return v.length > 16 ? `${v.slice(0, 15)}…` : v;
  return String(v);
}

// A fork's config changes as text: "lr 0.05->0.3, bs 32->64" (at most `keys` keys, then
// "+N"); "" without changes.
export function diffText(diff, keys = 2) {
  const entries = Object.entries(diff || {});
  const shown = entries.slice(0, keys).map(([k, [a, b]]) => `${k} ${labelValue(a)}->${labelValue(b)}`);
  if (entries.length > keys) shown.push(`+${entries.length - keys}`);
  return shown.join(", ");
}

// The legend label of a series (its `series` trait entry): a fork reads
// "zesty-smoke-3 · lr 0.05->0.3 @89"; this run "this · name"; its parent "parent · name";
// an inherited part or archived segment keeps the label Python gave it.
export function seriesLabel(m) {
  if (!m?.name || m.role === "inherited" || m.role === "ghost") return m?.label || "";
  const parts = [m.name];
  const d = diffText(m.diff);
  if (d) parts.push(d);
  let text = parts.join(" · ");
  if (m.fork_step !== null && m.fork_step !== undefined && m.role !== "parent") text += ` @${m.fork_step}`;
  if (m.role === "self") return `this · ${text}`;
  if (m.role === "parent") return `parent · ${text}`;
  return text;
}

// Index of the row of `rows` (objects with `x`) nearest to `x`, or -1.
export function nearestRow(rows, x) {
  let best = -1;
  let bestD = Infinity;
  for (let i = 0; i < rows.length; i++) {
    const d = Math.abs(rows[i].x - x);
    if (d < bestD) {
      bestD = d;
      best = i;
    }
  }
  return best;
}

// What a hover at `x` shows: `lines` are `{key, label, color, rows: [{x, y, step}]}`.
// The rule snaps to the nearest drawn x of any line; every line whose x range covers that x
// gives its nearest point. Returns `{x, items: [{key, label, color, x, y, step}]}` with the
// items by descending y (`raw`: the row's unsmoothed value), or null when nothing is drawn.
export function hoverAt(lines, x) {
  let snap = null;
  let snapD = Infinity;
  for (const l of lines) {
    const i = nearestRow(l.rows, x);
    if (i < 0) continue;
    const d = Math.abs(l.rows[i].x - x);
    if (d < snapD) {
      snapD = d;
      snap = l.rows[i].x;
    }
  }
  if (snap === null) return null;
  const items = [];
  for (const l of lines) {
    if (!l.rows.length) continue;
    let lo = Infinity;
    let hi = -Infinity;
    for (const r of l.rows) {
      if (r.x < lo) lo = r.x;
      if (r.x > hi) hi = r.x;
    }
    if (snap < lo || snap > hi) continue;
    const r = l.rows[nearestRow(l.rows, snap)];
    items.push({ key: l.key, label: l.label, color: l.color, x: r.x, y: r.y, raw: r.raw, step: r.step });
  }
  items.sort((a, b) => b.y - a.y);
  return { x: snap, items };
}

// Fork marks that sit on one another (same point, as drawn) become one mark with a count and
// every label: `marks` are `{x, y, c, label}`; returns `{x, y, c, label, n}`.
export function groupForks(marks) {
  const groups = new Map();
  for (const m of marks) {
    const key = `${m.x}|${m.y}`;
    const g = groups.get(key);
    if (g) {
      g.n += 1;
      g.labels.push(m.label);
    } else groups.set(key, { ...m, n: 1, labels: [m.label] });
  }
  return [...groups.values()].map(({ labels, ...g }) => ({
    ...g,
    label: g.n > 1 ? `${g.n} forks: ${labels.join("; ")}` : labels[0],
    count: g.n > 1 ? `×${g.n}` : "",
  }));
}

// The x range after a wheel step: zoom by `factor` (< 1 zooms in) around `at`.
/** @param {number[]} range @param {number} at @param {number} factor @returns {number[]} */
export function zoomRange([a, b], at, factor) {
  return [at - (at - a) * factor, at + (b - at) * factor];
}

// The x range moved by `dx` (in data units).
/** @param {number[]} range @param {number} dx @returns {number[]} */
export function panRange([a, b], dx) {
  return [a + dx, b + dx];
}
