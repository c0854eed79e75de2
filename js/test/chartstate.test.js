// The charts' state and what follows from it for one chart (dashboard/chartstate.js).
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  axisChoices,
  diffLines,
  focusDomain,
  forkTuples,
  lineRowsOf,
  metaOf,
  newChartState,
  selectedTuple,
  selectionText,
  startsOnLog,
  tuplesFor,
  visibleLines,
  xDomain,
  yDomain,
} from "../dashboard/chartstate.js";
import { seriesMeta } from "../dashboard/points.js";

const meta = seriesMeta([
  {
    key: "self:a",
    run_id: "a",
    role: "self",
    name: "a",
    color: "#111",
    dash: "own",
    opacity: 1,
    width: 2.6,
    pickable: true,
  },
  { key: "fork:b", run_id: "b", label: "b", color: "#222", dash: "own", opacity: 1, width: 1.5, pickable: false },
]);
/** @param {number[][]} xy */
const rows = (xy, step0 = 0) => xy.map(([x, y], i) => ({ x, y, raw: y, step: step0 + i, i }));

test("a new state shows everything, raw, outliers shown (as W&B), on the default axis", () => {
  const s = newChartState();
  assert.deepEqual(
    { ...s, hidden: [...s.hidden] },
    { hidden: [], hl: "", smooth: 0, outliers: false, axis: "default", diff: false },
  );
  assert.notEqual(newChartState().hidden, s.hidden, "each dashboard has its own");
});

test("metaOf: a series the legend does not know is grey and not pickable", () => {
  assert.equal(metaOf(meta, "self:a").color, "#111");
  assert.deepEqual(metaOf(meta, "x"), { color: "#888", run_id: "x", pickable: false });
});

test("lineRowsOf reads the store's series on the chosen axis, smoothed", () => {
  const store = {
    series: () => [
      [0, 5, 1, 10, 0.5, 1],
      [1, 6, 3, 11, 0.7, 2],
    ],
  };
  const st = newChartState();
  assert.deepEqual(
    lineRowsOf(store, st, "loss", "self:a").map((r) => r.x),
    [5, 6],
  );
  st.axis = "_step";
  st.smooth = 0.5;
  const r = lineRowsOf(store, st, "loss", "self:a");
  assert.deepEqual(
    r.map((t) => t.x),
    [10, 11],
  );
  assert.equal(r[1].raw, 3);
  assert.ok(r[1].y < 3);
});

test("tuplesFor: a hidden series has no Vega rows; smoothing adds the faint raw line", () => {
  const st = newChartState();
  const r = rows([
    [0, 1],
    [1, 2],
  ]);
  assert.equal(tuplesFor(st, meta, "self:a", r).length, 2);
  st.smooth = 0.3;
  assert.equal(tuplesFor(st, meta, "self:a", r).length, 4);
  st.hidden.add("self:a");
  assert.deepEqual(tuplesFor(st, meta, "self:a", r), []);
});

test("visibleLines leaves out hidden and empty series and labels the rest", () => {
  const st = newChartState();
  const lines = new Map([
    ["self:a", rows([[0, 1]])],
    ["fork:b", rows([[0, 2]])],
    ["x", []],
  ]);
  assert.deepEqual(
    visibleLines(st, meta, lines).map((l) => [l.key, l.label, l.pickable]),
    [
      ["self:a", "this · a", true],
      ["fork:b", "b", false],
    ],
  );
  st.hidden.add("self:a");
  assert.deepEqual(
    visibleLines(st, meta, lines).map((l) => l.key),
    ["fork:b"],
  );
});

test("selectedTuple: the selected step's point on a pickable line, none without a step", () => {
  const lines = new Map([
    [
      "self:a",
      rows([
        [0, 1],
        [10, 2],
        [20, 3],
      ]),
    ],
    ["fork:b", rows([[0, 9]])],
  ]);
  assert.deepEqual(selectedTuple(lines, meta, 1), [{ x: 10, y: 2 }]);
  assert.deepEqual(selectedTuple(lines, meta, null), []);
  assert.deepEqual(selectedTuple(lines, meta, undefined), []);
  assert.deepEqual(selectedTuple(new Map(), meta, 1), []);
});

test("forkTuples: marks follow the drawn line, hidden runs lose theirs, stacked ones combine", () => {
  const st = newChartState();
  const lines = new Map([
    [
      "self:a",
      rows(
        [
          [0, 1],
          [5, 2],
        ],
        0,
      ),
    ],
    ["fork:b", rows([[5, 7]], 1)],
  ]);
  // [x, y, colour, label, step, run id]
  const forks = [
    [50, 20, "#f00", "b1", 1, "b"],
    [50, 20, "#f00", "b2", 1, "b"],
    [9, 9, "#0f0", "gone", 4, "z"],
  ];
  assert.deepEqual(forkTuples(st, meta, lines, forks), [
    { x: 5, y: 7, c: "#f00", label: "2 forks: b1; b2", n: 2, count: "×2" },
    { x: 9, y: 9, c: "#0f0", label: "gone", n: 1, count: "" },
  ]);
  // on another axis a mark without a drawn point is left out (its stored x is the default one)
  st.axis = "_step";
  assert.equal(forkTuples(st, meta, lines, forks).length, 1);
  st.axis = "default";
  st.hidden.add("fork:b");
  assert.deepEqual(
    forkTuples(st, meta, lines, forks).map((m) => m.label),
    ["gone"],
  );
});

test("yDomain: outlier-free when asked, the zoomed x range's extent, log in decades, or Vega's", () => {
  const st = newChartState();
  st.outliers = true;
  const ys = [100, 1, 1.1, 1.2, 1.3, 1.4, 1.5, 1.6, 1.7, 1.8, 1.9, 2];
  const lines = new Map([["self:a", rows(ys.map((y, i) => [i, y]))]]);
  const robust = /** @type {number[]} */ (yDomain(st, lines, null, false));
  assert.ok(robust[1] < 50, "the first step's spike does not flatten the curve");
  st.outliers = false;
  const all = yDomain(st, lines, null, false);
  assert.ok(all[0] < 1 && all[1] > 100, "every point, padded");
  const zoomed = /** @type {number[]} */ (yDomain(st, lines, [5, 11], false));
  assert.ok(zoomed[0] < 1.4 && zoomed[0] > 1.3 && zoomed[1] > 2 && zoomed[1] < 2.1);
  const log = /** @type {number[]} */ (yDomain(st, lines, [0, 11], true));
  assert.ok(log[0] < 1 && log[1] > 100 && log[1] < 120);
  st.hidden.add("self:a");
  assert.deepEqual(yDomain(st, lines, [0, 11], false), [1, 10], "nothing shown: a positive stand-in");
});

test("axisChoices: step metric charts add the global step; an axis no longer there resets", () => {
  assert.deepEqual(axisChoices([{ x: "_step" }], "default"), {
    choices: [
      ["default", "step"],
      ["_runtime", "relative time"],
      ["_timestamp", "wall time"],
    ],
    axis: "default",
  });
  const withEpoch = axisChoices([{ x: "_step" }, { x: "epoch" }], "_step");
  assert.deepEqual(
    withEpoch.choices.map(([v]) => v),
    ["default", "_step", "_runtime", "_timestamp"],
  );
  assert.equal(withEpoch.choices[0][1], "step metric");
  assert.equal(withEpoch.axis, "_step");
  assert.equal(axisChoices([{ x: "_step" }], "_step").axis, "default");
});

// issue 25: the defaults show the curve, and a click says what it selects
test("outliers are not hidden by default: the y range holds the first steps of a falling loss", () => {
  const st = newChartState();
  assert.equal(st.outliers, false);
  const rows = [];
  for (let i = 0; i < 300; i++) rows.push({ x: i, y: 25 / (i + 1) ** 2, raw: 0, step: i, i });
  const lines = new Map([["self:a", rows]]);
  const d = yDomain(st, lines, null, false);
  assert.ok(d[1] >= 25 && d[0] <= 25 / 300 ** 2, String(d));
  const log = yDomain(st, lines, null, true);
  assert.ok(log[1] >= 25 && log[0] > 0 && log[0] <= 25 / 300 ** 2, String(log));
});

test("xDomain: the zoomed range, else the shown rows' extent; a positive stand-in without rows", () => {
  const st = newChartState();
  const lines = new Map([
    [
      "self:a",
      [
        { x: 3, y: 1, raw: 1, step: 3, i: 0 },
        { x: 9, y: 1, raw: 1, step: 9, i: 1 },
      ],
    ],
    ["fork:b", [{ x: 20, y: 1, raw: 1, step: 20, i: 0 }]],
  ]);
  assert.deepEqual(xDomain(st, lines, null), [3, 20]);
  assert.deepEqual(xDomain(st, lines, [4, 5]), [4, 5]);
  st.hidden.add("fork:b");
  assert.deepEqual(xDomain(st, lines, null), [3, 9]);
  assert.deepEqual(xDomain(st, new Map(), null), [1, 10]);
  assert.deepEqual(xDomain(st, new Map([["s", [{ x: 4, y: 1, raw: 1, step: 4, i: 0 }]]]), null), [3, 5]);
  // a log y of values not all positive (symlog) keeps a linear domain
  const mixed = new Map([
    [
      "s",
      [
        { x: 0, y: -1, raw: -1, step: 0, i: 0 },
        { x: 1, y: 9, raw: 9, step: 1, i: 1 },
      ],
    ],
  ]);
  const y = yDomain(st, mixed, null, true);
  assert.ok(y[0] < -1 && y[1] > 9, String(y));
});

test("a chart whose positive values span 3 decades starts on log y", () => {
  const loss = new Map([
    [
      "self:a",
      [
        [0, 0, 25],
        [1, 1, 0.5],
        [2, 2, 0.002],
      ],
    ],
  ]);
  assert.equal(startsOnLog(loss), true);
  assert.equal(
    startsOnLog(
      new Map([
        [
          "self:a",
          [
            [0, 0, 2],
            [1, 1, 0.5],
          ],
        ],
      ]),
    ),
    false,
  );
  assert.equal(
    startsOnLog(
      new Map([
        [
          "self:a",
          [
            [0, 0, 25],
            [1, 1, -0.002],
          ],
        ],
      ]),
    ),
    false,
  ); // not positive
  assert.equal(
    startsOnLog(
      new Map([
        ["self:a", [[0, 0, 25]]],
        ["fork:b", [[0, 0, 0.01]]],
      ]),
    ),
    true,
  );
  assert.equal(startsOnLog(new Map()), false);
  assert.equal(
    startsOnLog(
      new Map([
        [
          "self:a",
          [
            [0, 0, Number.NaN],
            [1, 1, 1],
          ],
        ],
      ]),
    ),
    false,
  );
});

test("the selection says the clicked step and the checkpoint it continues from", () => {
  assert.equal(selectionText(200, 189), "step 200 → continues from the checkpoint at step 189");
  assert.equal(selectionText(189, 189), "step 189");
  assert.equal(selectionText(null, 150), "step 150");
  assert.equal(selectionText(200, null), "click a point");
});

// rules 66-67: a parent (this run, steps 0-9) and its fork at step 5 (steps 5-9)
const family = seriesMeta([
  { key: "self:p", run_id: "p", role: "self", fork_step: null, parent_id: null, color: "#111", pickable: true },
  { key: "child:f", run_id: "f", role: "child", fork_step: 5, parent_id: "p", color: "#222", pickable: false },
  { key: "ghost:p:1", run_id: "p", role: "ghost", color: "#111", pickable: false },
]);
/** @param {number[]} ys @param {number} [step0] x = step */
const line = (ys, step0 = 0) => ys.map((y, i) => ({ x: step0 + i, y, raw: y, step: step0 + i, i }));
const familyLines = () =>
  new Map([
    ["self:p", line([10, 9, 8, 7, 6, 5, 4, 3, 2, 1])],
    ["child:f", line([5, 6, 8, 10, 12], 5)],
    ["ghost:p:1", line([50, 60], 7)],
  ]);

test("rule 66: a chart with a fork starts just before its fork point; none without", () => {
  const s = newChartState();
  assert.deepEqual(focusDomain(s, family, familyLines()), [4.6, 9]);
  s.hidden.add("child:f");
  assert.equal(focusDomain(s, family, familyLines()), null);
  // a fork's own dashboard without its parent's line (rewound before the fork): the whole run
  const alone = seriesMeta([
    { key: "self:f", run_id: "f", role: "self", fork_step: 5, parent_id: "p", color: "#222", pickable: true },
    { key: "inherited:f", run_id: "f", role: "inherited", color: "#222", pickable: true },
  ]);
  const lines = new Map([
    ["inherited:f", line([10, 9, 8, 7, 6, 5])],
    ["self:f", line([6, 8, 10, 12], 6)],
  ]);
  assert.equal(focusDomain(newChartState(), alone, lines), null);
});

test("rule 67: a fork's line becomes fork minus parent, the parent the zero line", () => {
  const d = diffLines(family, familyLines());
  assert.deepEqual(
    (d.get("child:f") || []).map((r) => [r.step, r.y]),
    [
      [5, 0],
      [6, 2],
      [7, 5],
      [8, 8],
      [9, 11],
    ],
  );
  assert.deepEqual(
    (d.get("self:p") || []).map((r) => [r.step, r.y]),
    [5, 6, 7, 8, 9].map((st) => [st, 0]),
  );
  assert.equal(d.has("ghost:p:1"), false); // archived segments are not compared
});
