// The client-side chart store: the points of every series of every chart, shared by all views
// of a widget. It starts from a `_base` snapshot and follows the sequence-numbered `delta`
// messages; a gap in the sequence asks Python for a resync (a new snapshot). Pure: no DOM, no
// Vega; the model binding (`storeFor`) only uses the anywidget model API.
// Protocol: nbrun/widgets/_dashboard.py.

import { DRAW_POINTS } from "./points.js";

export class ChartStore {
  // `requestResync()` is called when a delta arrives after a gap in the sequence.
  constructor({ requestResync = () => {} } = {}) {
    this.seq = -1;
    this.points = {}; // metric -> Map(series key -> [[index, x, y, step, runtime, timestamp], ...])
    this.forks = {}; // metric -> [[x, y, color, label], ...]
    this.events = {}; // metric -> [[x, y, color, label, step, run id, tag], ...] (events.js)
    this.listeners = new Set();
    this.requestResync = requestResync;
  }

  // Follow changes: `fn({type: "base"})` or `fn({type: "delta", changes})`. Returns the
  // function that unsubscribes.
  subscribe(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  emit(ev) {
    for (const fn of this.listeners) fn(ev);
  }

  // The points of one series (an empty list when it has none).
  series(metric, key) {
    return this.points[metric]?.get(key) || [];
  }

  // Replace everything with a snapshot `{seq, points: {metric: {series: pts}}, forks}`; one
  // older than what the store has is ignored. Returns whether it was applied.
  applyBase(b) {
    if (!b || typeof b.seq !== "number" || b.seq < this.seq) return false;
    this.seq = b.seq;
    this.points = {};
    for (const [m, bySeries] of Object.entries(b.points || {})) {
      this.points[m] = new Map(Object.entries(bySeries));
    }
    this.forks = b.forks || {};
    this.events = b.events || {};
    this.emit({ type: "base" });
    return true;
  }

  // Apply `{type: "delta", seq, changes: [[metric, series, from, points], ...]}`: drop the
  // series' points with index >= from, append `points`. Old or repeated deltas are ignored;
  // one after a gap is applied and asks for a resync. Returns whether it was applied.
  applyDelta(msg) {
    if (msg?.type !== "delta" || msg.seq <= this.seq) return false;
    if (msg.seq > this.seq + 1) this.requestResync();
    this.seq = msg.seq;
    for (const [m, s, from, pts] of msg.changes) {
      if (!this.points[m]) this.points[m] = new Map();
      const bySeries = this.points[m];
      const old = bySeries.get(s) || [];
      bySeries.set(s, old.filter((p) => p[0] < from).concat(pts));
    }
    this.emit({ type: "delta", changes: msg.changes });
    return true;
  }
}

const stores = new WeakMap();

// The `_base` trait as sent: JSON text in one binary buffer (a DataView), or the object itself.
export function decodeBase(value) {
  if (value instanceof DataView || value instanceof ArrayBuffer || ArrayBuffer.isView(value)) {
    return JSON.parse(new TextDecoder().decode(value));
  }
  return value;
}

// The store of a widget model (made on first use), fed by its `_base` trait and its custom
// messages.
export function storeFor(model) {
  let st = stores.get(model);
  if (st) return st;
  st = new ChartStore({ requestResync: () => model.send({ action: "resync" }) });
  stores.set(model, st);
  model.on("change:_base", () => st.applyBase(decodeBase(model.get("_base"))));
  model.on("msg:custom", (msg) => st.applyDelta(msg));
  st.applyBase(decodeBase(model.get("_base")));
  return st;
}

// Record in `dirty` (metric -> Map(series -> lowest changed index)) what a delta's `changes`
// touched, after the store applied them; a series that just crossed DRAW_POINTS is marked
// whole (from 0), since its points stop or start being drawn.
export function markDirty(dirty, store, changes) {
  for (const [m, s, from, pts] of changes) {
    if (!dirty.has(m)) dirty.set(m, new Map());
    const bySeries = dirty.get(m);
    const all = store.series(m, s);
    const crossed = all.length > DRAW_POINTS && all.length - pts.length <= DRAW_POINTS;
    const f = crossed ? 0 : from;
    bySeries.set(s, Math.min(f, bySeries.has(s) ? bySeries.get(s) : Infinity));
  }
  return dirty;
}
