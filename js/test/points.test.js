// What the charts draw from the store (pure helpers) and the shared formatting.

import assert from "node:assert/strict";
import { test } from "node:test";

import {
  checkpointTuples,
  DRAW_POINTS,
  lineRows,
  nearestPickable,
  seriesMeta,
  snapToCheckpoint,
  tuples,
} from "../dashboard/points.js";
import { fmt, fmtTime } from "../lib/format.js";

const meta = seriesMeta([
  { key: "self:a", run_id: "a", color: "#111", dash: "own", opacity: 1, width: 2.6, pickable: true },
  { key: "parent:p", run_id: "p", color: "#222", dash: "own", opacity: 0.8, width: 1.5, pickable: false },
]);

test("lineRows: x on the chosen axis, points without it left out, EMA keeps the raw value", () => {
  const pts = [
    [0, 5, 1, 10, 0.5, 1700000000],
    [1, 6, 3, 11, null, null],
  ];
  assert.deepEqual(lineRows(pts), [
    { x: 5, y: 1, raw: 1, step: 10, i: 0 },
    { x: 6, y: 3, raw: 3, step: 11, i: 1 },
  ]);
  assert.deepEqual(
    lineRows(pts, "_step").map((r) => r.x),
    [10, 11],
  );
  assert.deepEqual(
    lineRows(pts, "_runtime").map((r) => r.x),
    [0.5],
  );
  const sm = lineRows(pts, "default", 0.5);
  assert.equal(sm[1].raw, 3);
  assert.ok(sm[1].y > 1 && sm[1].y < 3);
});

test("tuples carry the series' style and run; points drawn for a short pickable series only", () => {
  const rows = lineRows([[3, 1.5, 2.5, 7]]);
  const [t] = tuples(meta.get("self:a"), "self:a", rows);
  assert.deepEqual(t, {
    s: "self:a",
    d: "self:a",
    r: "a",
    i: 3,
    x: 1.5,
    y: 2.5,
    step: 7,
    c: "#111",
    g: "own",
    o: 1,
    w: 2.6,
    p: true,
    k: true,
  });
  const long = Array.from({ length: DRAW_POINTS + 1 }, (_, i) => ({ x: i, y: i, raw: i, step: i, i }));
  assert.equal(tuples(meta.get("self:a"), "self:a", long)[0].p, false);
  const other = tuples(meta.get("parent:p"), "parent:p", rows)[0];
  assert.equal(other.p, false);
  assert.equal(other.k, false);
  assert.equal(tuples(undefined, "unknown", rows)[0].c, "#888");
  // smoothing adds the raw line, faint and not clickable
  const both = tuples(
    meta.get("self:a"),
    "self:a",
    lineRows(
      [
        [0, 0, 1, 0],
        [1, 1, 3, 1],
      ],
      "default",
      0.5,
    ),
    0.5,
  );
  const raw = both.filter((r) => r.d === "self:a~raw");
  assert.equal(raw.length, 2);
  assert.deepEqual(
    raw.map((r) => r.y),
    [1, 3],
  );
  assert.ok(raw.every((r) => !r.k && !r.p && r.o < 0.5));
});

test("nearestPickable and checkpointTuples only look at pickable series", () => {
  const lines = new Map([
    [
      "self:a",
      lineRows([
        [0, 0, 5, 10],
        [1, 10, 6, 20],
        [2, 20, 7, 30],
      ]),
    ],
    ["parent:p", lineRows([[0, 14, 1, 25]])],
  ]);
  assert.equal(nearestPickable(lines, meta, "x", 14).step, 20);
  assert.equal(nearestPickable(lines, meta, "step", 26).step, 30);
  assert.equal(nearestPickable(new Map(), meta, "x", 0), null);
  assert.deepEqual(checkpointTuples(lines, meta, [10, 25, 30]), [
    { x: 0, step: 10 },
    { x: 20, step: 30 },
  ]);
  assert.deepEqual(checkpointTuples(lines, meta, []), []);
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
