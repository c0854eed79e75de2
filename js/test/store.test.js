// The client-side chart store: base snapshots, deltas (drop from an index, insert), ordering
// and resync on a sequence gap; and the model binding the widget uses.

import assert from "node:assert/strict";
import { test } from "node:test";
import { DRAW_POINTS } from "../dashboard/points.js";
import { ChartStore, markDirty, storeFor } from "../dashboard/store.js";

const pts = (from, to) => {
  const out = [];
  for (let i = from; i < to; i++) out.push([i, i * 10, i * 0.5, i + 100]);
  return out;
};
const delta = (seq, changes) => ({ type: "delta", seq, changes });

function recorded() {
  const resyncs = [];
  const events = [];
  const st = new ChartStore({ requestResync: () => resyncs.push(st.seq) });
  st.subscribe((ev) => events.push(ev));
  return { st, resyncs, events };
}

test("a base snapshot replaces every series and the fork marks", () => {
  const { st, events } = recorded();
  assert.equal(
    st.applyBase({ seq: 3, points: { loss: { "self:a": pts(0, 4) } }, forks: { loss: [[1, 2, "#f00", "fork"]] } }),
    true,
  );
  assert.equal(st.seq, 3);
  assert.deepEqual(st.series("loss", "self:a"), pts(0, 4));
  assert.deepEqual(st.forks, { loss: [[1, 2, "#f00", "fork"]] });
  st.applyBase({ seq: 4, points: { acc: { "self:a": pts(0, 1) } } });
  assert.deepEqual(st.series("loss", "self:a"), [], "metrics missing from the new base are gone");
  assert.deepEqual(st.series("acc", "self:a"), pts(0, 1));
  assert.deepEqual(st.forks, {});
  assert.deepEqual(
    events.map((e) => e.type),
    ["base", "base"],
  );
});

test("an older base or a malformed one is ignored", () => {
  const { st, events } = recorded();
  st.applyBase({ seq: 5, points: { loss: { s: pts(0, 2) } } });
  assert.equal(st.applyBase({ seq: 4, points: {} }), false);
  assert.equal(st.applyBase(null), false);
  assert.equal(st.applyBase({ points: {} }), false);
  assert.deepEqual(st.series("loss", "s"), pts(0, 2));
  assert.equal(st.seq, 5);
  assert.equal(events.length, 1);
  assert.equal(st.applyBase({ seq: 5, points: {} }), true, "the same seq again (a resync) applies");
});

test("a delta drops the series' points from its index on and appends the new ones", () => {
  const { st, resyncs, events } = recorded();
  st.applyBase({ seq: 0, points: { loss: { "self:a": pts(0, 6), "parent:p": pts(0, 3) } } });
  const replacement = [
    [4, 99, 9, 200],
    [5, 98, 8, 201],
    [6, 97, 7, 202],
  ];
  assert.equal(st.applyDelta(delta(1, [["loss", "self:a", 4, replacement]])), true);
  assert.deepEqual(st.series("loss", "self:a"), [...pts(0, 4), ...replacement]);
  assert.deepEqual(st.series("loss", "parent:p"), pts(0, 3), "other series untouched");
  // from 0 (a re-bucketing on the Python side) replaces the whole series
  st.applyDelta(delta(2, [["loss", "self:a", 0, pts(0, 2)]]));
  assert.deepEqual(st.series("loss", "self:a"), pts(0, 2));
  // a new metric and a new series appear
  st.applyDelta(
    delta(3, [
      ["acc", "child:c", 0, pts(0, 1)],
      ["loss", "child:c", 0, pts(0, 2)],
    ]),
  );
  assert.deepEqual(st.series("acc", "child:c"), pts(0, 1));
  assert.deepEqual(st.series("loss", "child:c"), pts(0, 2));
  assert.equal(st.seq, 3);
  assert.deepEqual(resyncs, [], "consecutive deltas need no resync");
  assert.deepEqual(events.at(-1), {
    type: "delta",
    changes: [
      ["acc", "child:c", 0, pts(0, 1)],
      ["loss", "child:c", 0, pts(0, 2)],
    ],
  });
});

test("old and repeated deltas are ignored", () => {
  const { st, events } = recorded();
  st.applyBase({ seq: 2, points: { loss: { s: pts(0, 3) } } });
  assert.equal(st.applyDelta(delta(2, [["loss", "s", 0, []]])), false);
  assert.equal(st.applyDelta(delta(1, [["loss", "s", 0, []]])), false);
  assert.equal(st.applyDelta({ type: "other", seq: 9, changes: [] }), false);
  assert.equal(st.applyDelta(undefined), false);
  assert.deepEqual(st.series("loss", "s"), pts(0, 3));
  assert.equal(events.length, 1);
});

test("a gap in the sequence asks for a resync; the next base puts the store right", () => {
  const { st, resyncs } = recorded();
  st.applyBase({ seq: 0, points: { loss: { s: pts(0, 2) } } });
  st.applyDelta(delta(1, [["loss", "s", 2, pts(2, 3)]]));
  assert.deepEqual(resyncs, []);
  // delta 2 was lost: 3 still applies, and asks for a snapshot
  assert.equal(st.applyDelta(delta(3, [["loss", "s", 4, pts(4, 5)]])), true);
  assert.deepEqual(resyncs, [1], "asked once, when at seq 1");
  assert.equal(st.seq, 3);
  assert.deepEqual(
    st.series("loss", "s").map((p) => p[0]),
    [0, 1, 2, 4],
    "index 3 is missing",
  );
  // the answer: a full snapshot at the current seq
  st.applyBase({ seq: 3, points: { loss: { s: pts(0, 5) } } });
  assert.deepEqual(st.series("loss", "s"), pts(0, 5));
  st.applyDelta(delta(4, [["loss", "s", 5, pts(5, 6)]]));
  assert.deepEqual(resyncs, [1]);
  assert.deepEqual(st.series("loss", "s"), pts(0, 6));
});

test("the first delta before any base asks for a resync only when it is not seq 0", () => {
  const { st, resyncs } = recorded();
  st.applyDelta(delta(0, [["loss", "s", 0, pts(0, 1)]]));
  assert.deepEqual(resyncs, []);
  const other = recorded();
  other.st.applyDelta(delta(7, [["loss", "s", 0, pts(0, 1)]]));
  assert.deepEqual(other.resyncs, [-1]);
});

test("unsubscribe stops the events", () => {
  const st = new ChartStore();
  const seen = [];
  const off = st.subscribe((ev) => seen.push(ev.type));
  st.applyBase({ seq: 0, points: {} });
  off();
  st.applyDelta(delta(1, []));
  assert.deepEqual(seen, ["base"]);
});

class FakeModel {
  // the part of the anywidget model API the store binding uses
  constructor(base) {
    this.state = { _base: base };
    this.handlers = {};
    this.sent = [];
  }
  get(name) {
    return this.state[name];
  }
  on(ev, fn) {
    if (!this.handlers[ev]) this.handlers[ev] = [];
    this.handlers[ev].push(fn);
  }
  send(msg) {
    this.sent.push(msg);
  }
  fire(ev, arg) {
    for (const fn of this.handlers[ev] || []) fn(arg);
  }
  setBase(b) {
    this.state._base = b;
    this.fire("change:_base");
  }
}

test("storeFor: one store per model, fed by _base and custom messages; a gap sends resync", () => {
  const model = new FakeModel({ seq: 1, points: { loss: { s: pts(0, 2) } }, forks: {} });
  const st = storeFor(model);
  assert.equal(storeFor(model), st, "every view of the widget shares the store");
  assert.deepEqual(st.series("loss", "s"), pts(0, 2));
  model.fire("msg:custom", delta(2, [["loss", "s", 2, pts(2, 3)]]));
  assert.deepEqual(st.series("loss", "s"), pts(0, 3));
  assert.deepEqual(model.sent, []);
  model.fire("msg:custom", delta(5, [["loss", "s", 3, pts(3, 4)]]));
  assert.deepEqual(model.sent, [{ action: "resync" }]);
  model.setBase({ seq: 5, points: { loss: { s: pts(0, 9) } }, forks: {} });
  assert.deepEqual(st.series("loss", "s"), pts(0, 9));
  assert.notEqual(storeFor(new FakeModel(undefined)), st);
});

test("markDirty keeps the lowest changed index per series, and 0 when a series crosses the drawing limit", () => {
  const st = new ChartStore();
  st.applyBase({ seq: 0, points: { loss: { a: pts(0, 10), b: pts(0, DRAW_POINTS) } } });
  const dirty = new Map();
  const c1 = [["loss", "a", 8, pts(8, 11)]];
  st.applyDelta(delta(1, c1));
  markDirty(dirty, st, c1);
  const c2 = [["loss", "a", 9, pts(9, 12)]];
  st.applyDelta(delta(2, c2));
  markDirty(dirty, st, c2);
  assert.equal(dirty.get("loss").get("a"), 8);
  const c3 = [["loss", "b", DRAW_POINTS, pts(DRAW_POINTS, DRAW_POINTS + 2)]];
  st.applyDelta(delta(3, c3));
  markDirty(dirty, st, c3);
  assert.equal(dirty.get("loss").get("b"), 0, "crossed the limit: redrawn whole");
  const c4 = [["loss", "b", DRAW_POINTS + 2, pts(DRAW_POINTS + 2, DRAW_POINTS + 3)]];
  st.applyDelta(delta(4, c4));
  const later = markDirty(new Map(), st, c4);
  assert.equal(later.get("loss").get("b"), DRAW_POINTS + 2, "already above it: only the new part");
});
