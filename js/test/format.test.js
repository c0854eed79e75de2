// The shared value formatting (js/lib/format.js).

import assert from "node:assert/strict";
import { test } from "node:test";

import { fmtSummary } from "../lib/format.js";

test("define_metric summaries read as 'min 0.231 · last 0.245'", () => {
  assert.equal(fmtSummary({ min: 0.231, last: 0.245 }), "min 0.231 · last 0.245");
  assert.equal(fmtSummary({ max: 0.123456789 }, 4), "max 0.1235");
  assert.equal(fmtSummary(0.5), "0.5");
  assert.equal(fmtSummary("<b>x</b>"), "<b>x</b>"); // text, written with textContent
  assert.equal(fmtSummary(null), "—");
  assert.equal(fmtSummary([1, 2]), "[1,2]");
  assert.equal(fmtSummary({}), "{}");
});
