// PBT and recovery marks on the dashboard's charts (dashboard/events.js; rule 70).
import assert from "node:assert/strict";
import { test } from "node:test";

import { newChartState } from "../dashboard/chartstate.js";
import { eventTuples } from "../dashboard/events.js";
import { seriesMeta } from "../dashboard/points.js";

const meta = seriesMeta([
  { key: "self:a", run_id: "a", role: "self", name: "a", color: "#111", dash: "own", opacity: 1, width: 2.6 },
  { key: "parent:b", run_id: "b", role: "parent", name: "b", color: "#222", dash: "own", opacity: 1, width: 1.4 },
]);
const row = (step, x, y) => ({ x, y, raw: y, step, i: step });
const lines = new Map([
  ["self:a", [row(4, 4, 1.5), row(5, 5, 1.0)]],
  ["parent:b", [row(4, 4, 2.0), row(7, 7, 3.0)]],
]);
const events = [
  [4, 9.9, "#111", "PBT exploit at step 4: copied b", 4, "a", "PBT"],
  [4, 9.9, "#111", "PBT exploit at step 4: copied b", 4, "a", "PBT"],
  [4, 9.9, "#222", "PBT exploit at step 4: a copied this run", 4, "b", "PBT"],
  [7, 3.0, "#111", "recovered by rewind: loss=nan at step 9", 7, "a", "R"],
];

test("rule 70: marks sit on their run's line at their step, as drawn", () => {
  const out = eventTuples(newChartState(), meta, lines, events);
  // the same mark twice on one point is drawn once
  assert.deepEqual(out, [
    { x: 4, y: 1.5, c: "#111", label: "PBT exploit at step 4: copied b", tag: "PBT" },
    { x: 4, y: 2.0, c: "#222", label: "PBT exploit at step 4: a copied this run", tag: "PBT" },
    // a step the drawn line does not hold: the kernel's point, on the default axis unsmoothed
    { x: 7, y: 3.0, c: "#111", label: "recovered by rewind: loss=nan at step 9", tag: "R" },
  ]);
});

test("rule 70: a run the legend hides loses its marks; smoothing drops marks off the line", () => {
  const state = newChartState();
  state.hidden.add("parent:b");
  assert.deepEqual(
    eventTuples(state, meta, lines, events).map((e) => e.tag + e.c),
    ["PBT#111", "R#111"],
  );
  state.smooth = 0.5;
  assert.deepEqual(
    eventTuples(state, meta, lines, events).map((e) => e.label),
    ["PBT exploit at step 4: copied b"],
  );
});

test("rule 70: marks of one tag on one point are one mark holding every label", () => {
  const both = [
    [4, 1.5, "#111", "PBT exploit at step 4: copied b", 4, "a", "PBT"],
    [4, 1.5, "#222", "PBT exploit at step 4: a copied this run", 4, "a", "PBT"],
    [4, 1.5, "#111", "recovered by rewind: x", 4, "a", "R"],
  ];
  const out = eventTuples(newChartState(), meta, lines, both);
  assert.deepEqual(
    out.map((e) => [e.tag, e.label]),
    [
      ["PBT", "PBT exploit at step 4: copied b\nPBT exploit at step 4: a copied this run"],
      ["R", "recovered by rewind: x"],
    ],
  );
});
