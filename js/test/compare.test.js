// A family compared (js/lib/compare.js): rules 66-67, as nbrun/widgets/_compare.py applies them.

import assert from "node:assert/strict";
import { test } from "node:test";

import { difference, fittedY, focusRange, spansDecades, valueAt } from "../lib/compare.js";

test("the initial range starts a tenth of the span after the earliest fork before it", () => {
  assert.deepEqual(focusRange(0, 300, [200, 150]), [135, 300]);
  assert.equal(focusRange(0, 300, []), null);
  assert.equal(focusRange(0, 300, [0, 300]), null); // no fork inside: the whole run
  assert.equal(focusRange(0, 300, [5]), null); // the lead reaches the start: the whole run
});

test("y is fitted to the points in the x range, in decades on log y", () => {
  const lines = [
    [
      [0, 25],
      [150, 0.01],
      [300, 0.001],
    ],
    [
      [150, 0.01],
      [300, 0.1],
    ],
  ];
  const [lo, hi] = /** @type {number[]} */ (fittedY(lines, [100, 300], false, 0));
  assert.deepEqual([lo, hi], [0.001, 0.1]);
  const [a, b] = /** @type {number[]} */ (fittedY(lines, null, true, 0));
  assert.ok(Math.abs(a - 0.001) < 1e-12 && Math.abs(b - 25) < 1e-9);
  assert.equal(fittedY(lines, [400, 500], false), null);
});

test("log y at first only when every value is positive and spans three decades", () => {
  assert.equal(spansDecades([25, 0.002]), true);
  assert.equal(spansDecades([25, 0.1]), false);
  assert.equal(spansDecades([25, 0.002, 0]), false);
});

test("a fork's difference is fork minus parent at the same step (rule 67)", () => {
  const parent = [
    [0, 1],
    [2, 3],
    [4, 5],
  ];
  const fork = [
    [1, 0],
    [2, 10],
    [3, 4],
    [5, 7],
  ];
  // 1: before start; 2: logged by both; 3: the parent interpolated (4); 5: past its end
  assert.deepEqual(difference(fork, parent, 2), [
    [2, 7],
    [3, 0],
  ]);
  assert.equal(valueAt([0, 10], [0, 1], 2.5), 0.25);
  assert.equal(valueAt([0, 10], [0, 1], 11), null);
});
