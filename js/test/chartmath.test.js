// The chart interactions' arithmetic: x axes, EMA, outlier-free y ranges, labels, hover.

import assert from "node:assert/strict";
import { test } from "node:test";

import {
  diffText,
  ema,
  extentDomain,
  groupForks,
  hoverAt,
  panRange,
  robustDomain,
  robustUnion,
  seriesLabel,
  sig4,
  xOf,
  zoomRange,
} from "../dashboard/chartmath.js";

test("a point's x on each axis: as sent, step, runtime, wall time in ms; missing is null", () => {
  const p = [0, 3.5, 0.1, 7, 12.25, 1700000000.5];
  assert.equal(xOf(p), 3.5);
  assert.equal(xOf(p, "_step"), 7);
  assert.equal(xOf(p, "_runtime"), 12.25);
  assert.equal(xOf(p, "_timestamp"), 1700000000500);
  assert.equal(xOf([0, 1, 2, 3], "_runtime"), null);
  assert.equal(xOf([0, 1, 2, 3, null, null], "_timestamp"), null);
});

test("EMA: weight 0 is the identity, debiased start, a constant stays constant", () => {
  assert.deepEqual(ema([1, 2, 3], 0), [1, 2, 3]);
  const s = ema([5, 5, 5, 5], 0.9);
  for (const v of s) assert.ok(Math.abs(v - 5) < 1e-12);
  const step = ema([0, 0, 10, 10], 0.5);
  assert.equal(step[0], 0);
  assert.ok(step[2] > 0 && step[2] < 10, "smoothing lags a jump");
  assert.ok(step[3] > step[2]);
  // a noisy series gets less variable
  const noisy = Array.from({ length: 200 }, (_, i) => (i % 2 ? 1 : -1));
  const sm = ema(noisy, 0.9).slice(50);
  assert.ok(Math.max(...sm.map(Math.abs)) < 0.2);
});

test("robust y range ignores a loss's first steps but keeps a curve without outliers whole", () => {
  const loss = Array.from({ length: 500 }, (_, i) => 0.1 + 10 * Math.exp(-i / 5));
  const d = robustDomain(loss);
  assert.ok(d);
  const [lo, hi] = d;
  assert.ok(hi < 2, `top ${hi} is not flattened by the first steps (max 10.1)`);
  assert.ok(lo <= 0.1, "the lowest values stay in view");
  const full = extentDomain(loss);
  assert.ok(full);
  const [flo, fhi] = full;
  assert.ok(fhi > 10 && flo < 0.11);
  const linear = Array.from({ length: 101 }, (_, i) => i / 100);
  const lin = robustDomain(linear);
  assert.ok(lin);
  const [llo, lhi] = lin;
  assert.ok(llo <= 0 && lhi >= 1);
  assert.equal(robustDomain([]), null);
  assert.equal(extentDomain([NaN]), null);
  const [c0, c1] = robustDomain([3, 3, 3]) || [];
  assert.ok(c0 < 3 && c1 > 3, "a constant gets a non-empty range");
});

test("4 significant digits", () => {
  assert.equal(sig4(0.123456), "0.1235");
  assert.equal(sig4(1234.5), "1235");
  assert.equal(sig4(2), "2");
  assert.equal(sig4(12345678), "1.235e+7");
  assert.equal(sig4(0.00001234), "0.00001234");
  assert.equal(sig4(0), "0");
});

test("a fork's legend label carries its config diff and fork step", () => {
  const m = { name: "zesty-smoke-3", role: "child", fork_step: 89, diff: { lr: [0.05, 0.3] }, label: "x" };
  assert.equal(seriesLabel(m), "zesty-smoke-3 · lr 0.05->0.3 @89");
  assert.equal(seriesLabel({ ...m, role: "self" }), "this · zesty-smoke-3 · lr 0.05->0.3 @89");
  assert.equal(seriesLabel({ name: "root", role: "self", fork_step: null, diff: null }), "this · root");
  assert.equal(seriesLabel({ name: "p", role: "parent", fork_step: null, diff: null }), "parent · p");
  assert.equal(seriesLabel({ name: "r", role: "ghost", label: "archived #1" }), "archived #1");
  assert.equal(diffText({ a: [1, 2], b: ["x", null], c: [true, false] }), "a 1->2, b x->∅, +1");
  assert.equal(diffText({}), "");
});

test("hover: the rule snaps to the nearest drawn x; lines not covering it are left out", () => {
  const lines = [
    {
      key: "a",
      label: "A",
      color: "#1",
      rows: [
        { x: 0, y: 1, step: 0 },
        { x: 10, y: 2, step: 10 },
        { x: 20, y: 3, step: 20 },
      ],
    },
    {
      key: "b",
      label: "B",
      color: "#2",
      rows: [
        { x: 10, y: 5, step: 10 },
        { x: 20, y: 6, step: 20 },
      ],
    },
  ];
  const h = hoverAt(lines, 9);
  assert.ok(h);
  assert.equal(h.x, 10);
  assert.deepEqual(
    h.items.map((i) => [i.key, i.y]),
    [
      ["b", 5],
      ["a", 2],
    ],
  );
  const early = hoverAt(lines, 1);
  assert.ok(early);
  assert.equal(early.x, 0);
  assert.deepEqual(
    early.items.map((i) => i.key),
    ["a"],
  );
  assert.equal(hoverAt([], 3), null);
});

test("fork marks on one point become one mark with a count and every label", () => {
  const g = groupForks([
    { x: 1, y: 2, c: "#a", label: "f1" },
    { x: 1, y: 2, c: "#b", label: "f2" },
    { x: 3, y: 2, c: "#c", label: "f3" },
  ]);
  assert.equal(g.length, 2);
  assert.equal(g[0].n, 2);
  assert.equal(g[0].count, "×2");
  assert.match(g[0].label, /f1.*f2/);
  assert.equal(g[1].count, "");
});

test("zoom about a point and pan", () => {
  assert.deepEqual(zoomRange([0, 100], 50, 0.5), [25, 75]);
  assert.deepEqual(zoomRange([0, 100], 0, 0.5), [0, 50]);
  assert.deepEqual(panRange([0, 10], 5), [5, 15]);
});

test("outliers are ignored per line: a long flat line does not squeeze another's range", () => {
  const rising = Array.from({ length: 600 }, (_, i) => i / 600);
  const flat = Array.from({ length: 600 }, () => 0.5);
  const u = robustUnion([rising, flat]);
  assert.ok(u);
  const [lo, hi] = u;
  assert.ok(lo <= 0 && hi >= 0.99, `${lo}..${hi}`);
  const [plo, phi] = robustDomain([...rising, ...flat, ...flat]) || [];
  assert.ok(phi - plo < 0.9, "pooled quartiles would have cut the rising line");
  assert.equal(robustUnion([[], [NaN]]), null);
});
