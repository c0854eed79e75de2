// The first drawing's arithmetic (dashboard/preview.js) and the `_base` decoding (store.js).

import assert from "node:assert/strict";
import { test } from "node:test";
import { linePath, previewSvg, tickLabel, ticks } from "../dashboard/preview.js";
import { decodeBase } from "../dashboard/store.js";

test("ticks are round values inside the range", () => {
  assert.deepEqual(ticks(0, 100000, 5), [0, 20000, 40000, 60000, 80000, 100000]);
  assert.deepEqual(ticks(0.013, 0.051, 4), [0.02, 0.03, 0.04, 0.05]);
  assert.deepEqual(ticks(-1, 1, 4), [-1, -0.5, 0, 0.5, 1]);
  assert.deepEqual(ticks(3, 3), [3]);
  assert.deepEqual(ticks(5, 1, 2), [2, 4]);
  assert.deepEqual(ticks(NaN, 1), []);
});

test("tick labels shorten thousands and millions", () => {
  assert.equal(tickLabel(20000), "20k");
  assert.equal(tickLabel(1500000), "1.5M");
  assert.equal(tickLabel(0.1234567), "0.1235");
  assert.equal(tickLabel(500), "500");
});

test("a line's path maps x and y into the plot, y downwards, clamped at the edges", () => {
  const rows = [
    { x: 0, y: 0 },
    { x: 5, y: 10 },
    { x: 10, y: 100 },
  ];
  assert.equal(linePath(rows, [0, 10], [0, 10], 100, 50), "M0.0,50.0L50.0,0.0L100.0,-2.0");
  // non-finite values are skipped; a single point draws no line
  assert.equal(
    linePath(
      [
        { x: 1, y: NaN },
        { x: 2, y: 1 },
      ],
      [0, 10],
      [0, 10],
      100,
      50,
    ),
    "",
  );
  assert.equal(linePath([], [0, 1], [0, 1], 10, 10), "");
});

test("the _base trait is decoded from its JSON buffer, or taken as it is", () => {
  const base = { seq: 3, points: { loss: { a: [[0, 0, 1.5, 0, 0, 0]] } }, forks: {} };
  const bytes = new TextEncoder().encode(JSON.stringify(base));
  assert.deepEqual(decodeBase(new DataView(bytes.buffer)), base);
  assert.deepEqual(decodeBase(base), base);
  assert.equal(decodeBase(undefined), undefined);
});

test("a preview of lines without a finite point is not drawn", () => {
  // previewSvg needs a DOM only once there is something to draw
  const spec = { width: 100, height: 50, title: "loss" };
  const lines = [
    {
      rows: [
        { x: NaN, y: 1 },
        { x: 2, y: NaN },
      ],
      color: "#123456",
    },
  ];
  assert.equal(previewSvg({ spec, lines, ydom: null, xTitle: "_step", config: null }), null);
});
