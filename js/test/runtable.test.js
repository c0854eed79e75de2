// The project view's table logic: summary cells (define_metric summaries), sort order with
// mixed and missing values, and the filter over name, tags, config and summary text.

import assert from "node:assert/strict";
import { test } from "node:test";

import { cellText, cellValue, colValue, compare, matches } from "../lib/runtable.js";

const run = {
  name: "zesty-smoke-3",
  id: "abc",
  project: "p",
  state: "finished",
  group: "sweep-1",
  tags: ["baseline"],
  notes: null,
  config: { lr: 0.3, opt: "adam" },
  summary: {
    "val/loss": {
      v: 0.23,
      parts: [
        ["min", 0.23],
        ["last", 0.25],
      ],
    },
    acc: 0.91,
  },
};

test("define_metric summaries read as 'min 0.23 · last 0.25' and sort by their first value", () => {
  assert.equal(cellText(run.summary["val/loss"]), "min 0.23 · last 0.25");
  assert.equal(cellValue(run.summary["val/loss"]), 0.23);
  assert.equal(colValue(run, "s:val/loss"), 0.23);
  assert.equal(colValue(run, "c:lr"), 0.3);
  assert.equal(cellText(0.123456), "0.1235");
  assert.equal(cellText(undefined), "");
});

test("numbers sort before strings, missing values last", () => {
  const vals = ["b", null, 2, "a", undefined, 1];
  assert.deepEqual([...vals].sort(compare), [1, 2, "a", "b", null, undefined]);
});

test("the filter matches every word against name, tags, group, config and summary text", () => {
  assert.ok(matches(run, ""));
  assert.ok(matches(run, "ZESTY"));
  assert.ok(matches(run, "lr=0.3 baseline"));
  assert.ok(matches(run, "sweep-1"));
  assert.ok(matches(run, "val/loss=min 0.23"));
  assert.ok(!matches(run, "lr=0.1"));
  assert.ok(!matches(run, "zesty nope"));
});

test("rule 69: the filter finds a sweep's runs by the sweep's id", () => {
  assert.ok(matches({ ...run, sweep: "ab12cd34" }, "ab12cd34"));
  assert.ok(!matches(run, "ab12cd34"));
});
