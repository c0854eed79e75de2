// What the charts draw from the store's points (pure: no DOM, no Vega).
import { ema, xOf } from "./chartmath.js";

// Points are drawn (and clickable one by one) while a series has at most DRAW_POINTS of them;
// above that only its line is drawn and a click selects the nearest step by x.
export const DRAW_POINTS = 400;

const UNKNOWN = { color: "#888", dash: "own", opacity: 1, width: 1.5, pickable: false };

// The drawn rows of one series' points (`[index, x, y, step, runtime, timestamp]`) on x
// `axis` (see chartmath.X_AXES), smoothed by an EMA of `smooth` (0: raw): `{x, y, raw,
// step, i}`; points without a value for the axis are left out.
export function lineRows(pts, axis = "default", smooth = 0) {
  const out = [];
  for (const p of pts) {
    const x = xOf(p, axis);
    if (x === null) continue;
    out.push({ x, y: p[2], raw: p[2], step: p[3], i: p[0] });
  }
  if (smooth > 0) {
    const sm = ema(
      out.map((r) => r.y),
      smooth,
    );
    out.forEach((r, n) => {
      r.y = sm[n];
    });
  }
  return out;
}

// The Vega rows of series `s` (`m`: its `series` trait entry) from its drawn rows: its
// style, its run id (the legend highlights by run), whether its points are drawn (a pickable
// series of at most DRAW_POINTS) and clickable; with `smooth`, also its raw line, faint.
export function tuples(m, s, rows, smooth = 0) {
  const meta = m || { ...UNKNOWN, run_id: s };
  const pick = !!meta.pickable;
  const draw = pick && rows.length <= DRAW_POINTS;
  const base = { s, r: meta.run_id, c: meta.color, g: meta.dash };
  const w = meta.width || 1.5;
  const out = rows.map((t) => ({
    ...base,
    d: s,
    i: t.i,
    x: t.x,
    y: t.y,
    step: t.step,
    o: meta.opacity,
    w,
    p: draw,
    k: pick,
  }));
  if (smooth > 0) {
    for (const t of rows) {
      out.push({
        ...base,
        d: `${s}~raw`,
        i: t.i,
        x: t.x,
        y: t.raw,
        step: t.step,
        o: meta.opacity * 0.25,
        w: 1,
        p: false,
        k: false,
      });
    }
  }
  return out;
}

// The drawn row of a pickable series nearest to `value` in `field` ("x" or "step"), or null.
// `lines`: series key -> drawn rows.
export function nearestPickable(lines, meta, field, value) {
  let best = null;
  let bestD = Infinity;
  for (const [s, rows] of lines) {
    const m = meta.get(s);
    if (!m?.pickable) continue;
    for (const r of rows) {
      const d = Math.abs(r[field] - value);
      if (d < bestD) {
        bestD = d;
        best = r;
      }
    }
  }
  return best;
}

// The checkpoints that a pickable series has a drawn row at: `{x, step}` rows.
export function checkpointTuples(lines, meta, cps) {
  if (!cps.length) return [];
  const xOfStep = new Map();
  for (const [s, rows] of lines) {
    const m = meta.get(s);
    if (m?.pickable) for (const r of rows) xOfStep.set(r.step, r.x);
  }
  return cps.filter((c) => xOfStep.has(c)).map((step) => ({ x: xOfStep.get(step), step }));
}

// A clicked step snapped to the latest checkpoint at or before it (as is without one).
export function snapToCheckpoint(step, cps) {
  if (cps.length) {
    const before = cps.filter((c) => c <= step);
    if (before.length) return before[before.length - 1];
  }
  return step;
}

// Series key -> its `series` trait entry.
export function seriesMeta(series) {
  const map = new Map();
  for (const s of series || []) map.set(s.key, s);
  return map;
}
