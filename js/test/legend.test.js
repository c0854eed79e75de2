// The charts' legend (dashboard/legend.js): what a click or alt-click hides, the swatches.
import assert from "node:assert/strict";
import { test } from "node:test";

import { legendClick, swatchStyle } from "../dashboard/legend.js";

const keys = ["self:a", "parent:p", "fork:b"];

test("a click hides a shown series and shows a hidden one; the old set is left as it was", () => {
  const none = new Set();
  const one = legendClick(none, keys, "fork:b", false);
  assert.deepEqual([...one], ["fork:b"]);
  assert.equal(none.size, 0);
  assert.deepEqual([...legendClick(one, keys, "fork:b", false)], []);
  assert.deepEqual([...legendClick(one, keys, "self:a", false)].sort(), ["fork:b", "self:a"]);
});

test("an alt-click shows only that series; again on the only one shown shows them all", () => {
  const only = legendClick(new Set(), keys, "parent:p", true);
  assert.deepEqual([...only].sort(), ["fork:b", "self:a"]);
  assert.deepEqual([...legendClick(only, keys, "parent:p", true)], []);
  // on a hidden series: that one only
  assert.deepEqual([...legendClick(only, keys, "self:a", true)].sort(), ["fork:b", "parent:p"]);
  // a lone series: alt-click on it when shown is "only it" already, so all (itself) shown
  assert.deepEqual([...legendClick(new Set(), ["a"], "a", true)], []);
});

test("swatches: the line's colour and width (at least 2 px); inherited dashed, ghost dotted", () => {
  assert.deepEqual(swatchStyle({ key: "a", run_id: "a", color: "#123", width: 2.6, label: "a" }), {
    background: "#123",
    height: "3px",
  });
  assert.equal(swatchStyle({ key: "a", run_id: "a", color: "#123", label: "a" }).height, "2px");
  assert.equal(swatchStyle({ key: "a", run_id: "a", color: "#123", width: 1, label: "a" }).height, "2px");
  assert.equal(
    swatchStyle({ key: "a", run_id: "a", color: "#123", dash: "inherited", label: "a" }).background,
    "repeating-linear-gradient(90deg, #123 0 5px, transparent 5px 8px)",
  );
  assert.equal(
    swatchStyle({ key: "a", run_id: "a", color: "#123", dash: "ghost", label: "a" }).background,
    "repeating-linear-gradient(90deg, #123 0 2px, transparent 2px 5px)",
  );
});
