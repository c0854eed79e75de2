// The pointer's decisions on a chart (dashboard/pointer.js): click or drag, the step a click
// selects, drag and wheel zoom / pan, the hover read-out's text and place.
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  DRAG_PX,
  dragRange,
  hoverHead,
  hoverPosition,
  hoverValue,
  isDrag,
  pointStep,
  wheelRange,
  wheelTaken,
} from "../dashboard/pointer.js";

const wheel = (/** @type {Partial<import("../dashboard/pointer.js").WheelLike>} */ e) => ({
  deltaX: 0,
  deltaY: 0,
  ctrlKey: false,
  altKey: false,
  metaKey: false,
  shiftKey: false,
  ...e,
});

test("a press that moves at most DRAG_PX is a click, further a drag, either way", () => {
  assert.equal(DRAG_PX, 4);
  assert.equal(isDrag(4), false);
  assert.equal(isDrag(-4), false);
  assert.equal(isDrag(5), true);
  assert.equal(isDrag(-5), true);
});

test("pointStep: a drawn clickable point selects its step; a line or other marks invert x", () => {
  const point = (/** @type {any} */ datum) => ({ mark: { marktype: "symbol" }, datum });
  assert.equal(pointStep(point({ k: true, step: 7 })), 7);
  assert.equal(pointStep(point({ k: true, step: 0 })), 0);
  assert.equal(pointStep(point({ k: false, step: 7 })), null, "not pickable");
  assert.equal(pointStep(point({ k: true, step: "7" })), null);
  assert.equal(pointStep({ mark: { marktype: "line" }, datum: { k: true, step: 7 } }), null);
  assert.equal(pointStep(null), null);
  assert.equal(pointStep(undefined), null);
});

test("dragRange: the dragged x range in order; none for no width or no x", () => {
  assert.deepEqual(dragRange(5, 2), [2, 5]);
  assert.deepEqual(dragRange(2, 5), [2, 5]);
  assert.equal(dragRange(3, 3), null);
  assert.equal(dragRange(null, 3), null);
  assert.equal(dragRange(3, null), null);
});

test("a plain vertical wheel scrolls the notebook; modifiers or sideways are the chart's", () => {
  assert.equal(wheelTaken(wheel({ deltaY: 100 })), false);
  for (const mod of ["ctrlKey", "altKey", "metaKey", "shiftKey"]) {
    assert.equal(wheelTaken(wheel({ deltaY: 100, [mod]: true })), true, mod);
  }
  assert.equal(wheelTaken(wheel({ deltaX: 30, deltaY: 10 })), true);
});

test("wheelRange: shift or sideways pans by the range per 500 px; ctrl zooms about the pointer", () => {
  assert.deepEqual(wheelRange(wheel({ shiftKey: true, deltaY: 250 }), [0, 10], 3), [5, 15]);
  assert.deepEqual(wheelRange(wheel({ deltaX: -500, deltaY: 1 }), [0, 10], null), [-10, 0]);
  const zin = /** @type {number[]} */ (wheelRange(wheel({ ctrlKey: true, deltaY: -100 }), [0, 10], 5));
  assert.ok(zin[0] > 0 && zin[1] < 10);
  assert.ok(Math.abs(zin[0] + zin[1] - 10) < 1e-9, "about the pointer");
  const zout = /** @type {number[]} */ (wheelRange(wheel({ ctrlKey: true, deltaY: 100 }), [0, 10], 0));
  assert.equal(zout[0], 0);
  assert.ok(zout[1] > 10);
  assert.equal(wheelRange(wheel({ ctrlKey: true, deltaY: 100 }), [0, 10], null), null);
});

test("hoverHead: step charts say the step, others the axis and x too, wall time a date", () => {
  assert.equal(hoverHead("default", "_step", "x", 12, 12), "step 12");
  assert.equal(hoverHead("default", "epoch", "x", 3, 300), "epoch 3 · step 300");
  assert.equal(hoverHead("_runtime", "_step", "relative time (s)", 1.23456, 9), "relative time (s) 1.235 · step 9");
  assert.equal(
    hoverHead("_timestamp", "_step", "wall time", 1700000000000, 1),
    new Date(1700000000000).toLocaleString(),
  );
});

test("hoverValue: the smoothed value with the raw one beside it when they differ", () => {
  assert.equal(hoverValue(0, { y: 0.5, raw: 0.7 }), "0.5");
  assert.equal(hoverValue(0.6, { y: 0.5, raw: 0.5 }), "0.5");
  assert.equal(hoverValue(0.6, { y: 0.5, raw: 0.7 }), "0.5 (raw 0.7)");
});

test("hoverPosition: beside the pointer, kept inside the chart box", () => {
  const outer = { left: 100, top: 50, width: 400 };
  assert.deepEqual(hoverPosition(150, 60, outer, 100), { left: 64, top: 24 });
  assert.deepEqual(hoverPosition(480, 40, outer, 100), { left: 296, top: 4 });
  assert.deepEqual(hoverPosition(480, 0, { left: 0, top: 50, width: 50 }, 100), { left: 0, top: 0 });
});
