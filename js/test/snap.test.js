// The media panels' step snapping: a chart click at step s shows the last media step <= s.

import assert from "node:assert/strict";
import { test } from "node:test";

import { snapStep } from "../dashboard/snap.js";

test("snaps to the last media step at or before the selection", () => {
  const steps = [0, 5, 10, 15];
  assert.equal(snapStep(steps, 0), 0);
  assert.equal(snapStep(steps, 4), 0);
  assert.equal(snapStep(steps, 5), 5);
  assert.equal(snapStep(steps, 14), 10);
  assert.equal(snapStep(steps, 99), 15);
});

test("before the first media step, nothing selected, no media", () => {
  assert.equal(snapStep([3, 7], 1), 3);
  assert.equal(snapStep([3, 7], null), 7);
  assert.equal(snapStep([3, 7], undefined), 7);
  assert.equal(snapStep([], 4), null);
});

test("agrees with a linear scan on random inputs", () => {
  for (let n = 1; n < 40; n++) {
    const steps = [...new Set(Array.from({ length: n }, () => Math.floor(Math.random() * 200)))].sort((a, b) => a - b);
    for (let s = -2; s < 205; s += 3) {
      const le = steps.filter((x) => x <= s);
      const want = le.length ? le[le.length - 1] : steps[0];
      assert.equal(snapStep(steps, s), want);
    }
  }
});
