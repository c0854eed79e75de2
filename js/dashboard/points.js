// What the charts draw from the store's points (pure: no DOM, no Vega).

// Points are drawn (and clickable one by one) while a series has at most DRAW_POINTS of them;
// above that only its line is drawn and a click selects the nearest step by x.
export const DRAW_POINTS = 400;

// The Vega rows of series `s` (`meta`: series key -> its `series` trait entry); `total` is
// the series' full length (points are drawn only for a pickable series that short).
export function tuples(meta, s, pts, total) {
  const m = meta.get(s) || { color: "#888", dash: "own", opacity: 1, pickable: false };
  const draw = !!m.pickable && (total ?? pts.length) <= DRAW_POINTS;
  return pts.map(([i, x, y, step]) => ({
    s, i, x, y, step, c: m.color, g: m.dash, o: m.opacity, p: draw, k: !!m.pickable,
  }));
}

// The point of a pickable series of `metric` nearest to `value` in field `key` (1 = x,
// 3 = step), or null.
export function nearestPickable(store, meta, metric, key, value) {
  const bySeries = store.points[metric];
  if (!bySeries) return null;
  let best = null;
  let bestD = Infinity;
  for (const [s, pts] of bySeries) {
    const m = meta.get(s);
    if (!m || !m.pickable) continue;
    for (const p of pts) {
      const d = Math.abs(p[key] - value);
      if (d < bestD) { bestD = d; best = p; }
    }
  }
  return best;
}

// The checkpoints of `metric` that a pickable series has a point at: `{x, step}` rows.
export function checkpointTuples(store, meta, metric, cps) {
  const bySeries = store.points[metric];
  if (!cps.length || !bySeries) return [];
  const xOf = new Map();
  for (const [s, pts] of bySeries) {
    const m = meta.get(s);
    if (m && m.pickable) for (const p of pts) xOf.set(p[3], p[1]);
  }
  return cps.filter((c) => xOf.has(c)).map((step) => ({ x: xOf.get(step), step }));
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
