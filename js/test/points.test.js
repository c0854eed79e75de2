// What the charts draw from the store (pure helpers) and the shared formatting.
import { test } from "node:test";
import assert from "node:assert/strict";

import {
  DRAW_POINTS,
  checkpointTuples,
  nearestPickable,
  seriesMeta,
  snapToCheckpoint,
  tuples,
} from "../dashboard/points.js";
import { ChartStore } from "../dashboard/store.js";
import { fmt, fmtTime } from "../lib/format.js";

const meta = seriesMeta([
  { key: "self:a", color: "#111", dash: "own", opacity: 1, pickable: true },
  { key: "parent:p", color: "#222", dash: "own", opacity: 0.85, pickable: false },
]);

test("tuples carry the series' style; points are drawn for a short pickable series only", () => {
  const [t] = tuples(meta, "self:a", [[3, 1.5, 2.5, 7]], 10);
  assert.deepEqual(t, { s: "self:a", i: 3, x: 1.5, y: 2.5, step: 7, c: "#111", g: "own", o: 1, p: true, k: true });
  assert.equal(tuples(meta, "self:a", [[0, 0, 0, 0]], DRAW_POINTS + 1)[0].p, false);
  const other = tuples(meta, "parent:p", [[0, 0, 0, 0]])[0];
  assert.equal(other.p, false);
  assert.equal(other.k, false);
  assert.equal(tuples(meta, "unknown", [[0, 0, 0, 0]])[0].c, "#888");
});

test("nearestPickable and checkpointTuples only look at pickable series", () => {
  const st = new ChartStore();
  st.applyBase({
    seq: 0,
    points: { loss: { "self:a": [[0, 0, 5, 10], [1, 10, 6, 20], [2, 20, 7, 30]], "parent:p": [[0, 14, 1, 25]] } },
  });
  assert.deepEqual(nearestPickable(st, meta, "loss", 1, 14), [1, 10, 6, 20]);
  assert.deepEqual(nearestPickable(st, meta, "loss", 3, 26), [2, 20, 7, 30]);
  assert.equal(nearestPickable(st, meta, "acc", 1, 0), null);
  assert.deepEqual(checkpointTuples(st, meta, "loss", [10, 25, 30]), [{ x: 0, step: 10 }, { x: 20, step: 30 }]);
  assert.deepEqual(checkpointTuples(st, meta, "loss", []), []);
});

test("a clicked step snaps back to the latest checkpoint at or before it", () => {
  assert.equal(snapToCheckpoint(17, [0, 10, 20]), 10);
  assert.equal(snapToCheckpoint(20, [0, 10, 20]), 20);
  assert.equal(snapToCheckpoint(5, [10, 20]), 5);
  assert.equal(snapToCheckpoint(5, []), 5);
});

test("fmt and fmtTime", () => {
  assert.equal(fmt(null), "—");
  assert.equal(fmt(3), "3");
  assert.equal(fmt(1 / 3), "0.333333");
  assert.equal(fmt(1 / 3, 5), "0.33333");
  assert.equal(fmt("<b>"), "<b>");
  assert.equal(fmt({ a: [1] }), '{"a":[1]}');
  assert.equal(fmtTime(undefined), "—");
  assert.equal(fmtTime(5.25), "5.3 s");
  assert.equal(fmtTime(125), "2m 05s");
  assert.equal(fmtTime(3 * 3600 + 7 * 60), "3h 07m");
});
