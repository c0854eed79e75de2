// The family tree's layout helpers (tree/layout.js): what the selection line and the heading
// say, and the click toggle.
import assert from "node:assert/strict";
import { test } from "node:test";

import { heading, isFamily, nodeByKey, nodeInfo, toggle } from "../tree/layout.js";

/** @param {Partial<import("../tree/layout.js").TreeNode>} over */
function node(over) {
  return /** @type {import("../tree/layout.js").TreeNode} */ ({
    key: "a",
    kind: "run",
    run_id: "a",
    name: "root",
    state: "finished",
    parent: null,
    edge: null,
    at_step: null,
    first_step: 0,
    last_step: 99,
    depth: 0,
    row: 0,
    y: 40,
    x0: 14,
    x1: 300,
    color: "#3b6fd6",
    value: 0.5,
    value_text: "0.5",
    label: "root",
    title: "root",
    focus: true,
    ...over,
  });
}

const layout = /** @type {import("../tree/layout.js").TreeLayout} */ ({
  metric: "loss",
  metrics: ["loss"],
  focus: "a",
  more: 0,
  width: 700,
  height: 140,
  row: 20,
  axis: { y: 22, x0: 14, x1: 574, title: "step", ticks: [] },
  nodes: [
    node({}),
    node({ key: "a#1", kind: "archive", state: "archived", parent: "a", edge: "rewind", at_step: 50, first_step: 50 }),
    node({ key: "b", run_id: "b", name: "<b>fork</b>", parent: "a", edge: "fork", at_step: 20, first_step: 20 }),
  ],
  edges: [],
  legend: {
    x: 14,
    y: 110,
    w: 160,
    h: 10,
    label: "loss",
    lo: "0.1",
    hi: "1",
    log: false,
    stops: [],
    missing: 0,
    missing_color: "#999",
  },
});

test("a family has two nodes or more", () => {
  assert.equal(isFamily(layout), true);
  assert.equal(isFamily({ ...layout, nodes: [layout.nodes[0]] }), false);
  assert.equal(isFamily({}), false);
  assert.equal(isFamily(null), false);
});

test("the selection line: what the node is, where it branched, the metric's value", () => {
  const fork = nodeByKey(layout, "b");
  assert.ok(fork);
  assert.deepEqual(nodeInfo(layout, fork), [
    ["run", "<b>fork</b>"],
    ["id", "b"],
    ["state", "finished"],
    ["steps", "20-99"],
    ["forked", "from a at step 20"],
    ["loss", "0.5"],
  ]);
  const arch = nodeByKey(layout, "a#1");
  assert.ok(arch);
  const info = nodeInfo(layout, arch);
  assert.deepEqual(info[0], ["archived segment", "root"]);
  assert.deepEqual(info[3], ["steps", "51-99"]);
  assert.deepEqual(info[4], ["rewound", "at step 50"]);
  assert.equal(nodeByKey(layout, "zz"), null);
});

test("the heading counts runs and archived segments", () => {
  assert.equal(heading(layout), "family tree · 2 runs · 1 archived segment");
  assert.equal(heading({ ...layout, more: 5 }), "family tree · 2 runs · 1 archived segment · 5 more not shown");
});

test("a second click on the selected node clears the selection", () => {
  assert.equal(toggle("", "a"), "a");
  assert.equal(toggle("a", "b"), "b");
  assert.equal(toggle("b", "b"), "");
});
