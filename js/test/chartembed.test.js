// Embedding a chart: its spec as the choices want it, the preview's lines, the embed queue
// and download names (dashboard/chartembed.js).
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  downloadName,
  errorText,
  previewLines,
  queueEmbed,
  specFor,
  VEGA_LITE_SCHEMA,
  xTitle,
} from "../dashboard/chartembed.js";
import { newChartState } from "../dashboard/chartstate.js";
import { seriesMeta } from "../dashboard/points.js";

/** @type {any} */
const spec = {
  layer: [
    { mark: "line", encoding: { x: { field: "x", title: "_step" }, y: { field: "y", scale: { nice: true } } } },
    { mark: "rule", encoding: { x: { field: "x" } } },
    { mark: "text" },
  ],
};

test("specFor leaves the chart's spec as it is on the default axis without log y", () => {
  const out = specFor(spec, new Map(), "default", false);
  assert.deepEqual(out, spec);
  assert.notEqual(out, spec, "a copy: the chart's own spec is never changed");
});

test("specFor: log y (symlog when a value is not positive), the chosen axis' title and time labels", () => {
  const positive = new Map([
    [
      "s",
      [
        [0, 1, 0.5],
        [1, 2, 3],
      ],
    ],
  ]);
  const log = specFor(spec, positive, "default", true);
  // no `zero` on a log scale: Vega-Lite warned on every embed (issue 25)
  assert.deepEqual(log.layer[0].encoding.y.scale, { nice: true, type: "log" });
  assert.equal(log.layer[1].encoding.y, undefined);
  const withZero = new Map([["s", [[0, 1, 0]]]]);
  assert.equal(specFor(spec, withZero, "default", true).layer[0].encoding.y.scale.type, "symlog");
  const wall = specFor(spec, positive, "_timestamp", false);
  assert.equal(wall.layer[0].encoding.x.title, "wall time");
  assert.deepEqual(wall.layer[1].encoding.x.axis, { formatType: "time", labelAngle: 0 });
  const rel = specFor(spec, positive, "_runtime", false);
  assert.equal(rel.layer[0].encoding.x.title, "relative time (s)");
  assert.equal(rel.layer[0].encoding.x.axis, undefined);
  assert.equal(spec.layer[0].encoding.x.title, "_step");
});

test("xTitle: the chart's own x on the default axis, else the axis' title", () => {
  assert.equal(xTitle("default", "epoch"), "epoch");
  assert.equal(xTitle("_step", "epoch"), "step");
});

test("previewLines: the shown series with at least two rows, in their style", () => {
  const meta = seriesMeta([{ key: "a", run_id: "a", color: "#111", dash: "own", opacity: 0.5, width: 2 }]);
  const two = [
    { x: 0, y: 1 },
    { x: 1, y: 2 },
  ];
  const lines = /** @type {Map<string, any[]>} */ (
    new Map([
      ["a", two],
      ["b", two],
      ["c", [{ x: 0, y: 1 }]],
    ])
  );
  const st = newChartState();
  assert.deepEqual(previewLines(st, meta, lines), [
    { rows: two, color: "#111", dash: "own", opacity: 0.5, width: 2 },
    { rows: two, color: "#888", dash: undefined, opacity: undefined, width: undefined },
  ]);
  st.hidden.add("a");
  assert.equal(previewLines(st, meta, lines).length, 1);
});

test("queueEmbed: one embed at a time; those asked for while one waits are that one", async () => {
  /** @type {{ job?: Promise<any> | null, queued?: boolean }} */
  const slot = {};
  const started = [];
  /** @type {(() => void)[]} */
  const finish = [];
  const embed = (/** @type {string} */ name) => () => {
    started.push(name);
    return new Promise((resolve) => finish.push(() => resolve(name)));
  };
  const first = queueEmbed(slot, embed("first"));
  assert.equal(queueEmbed(slot, embed("same")), first, "not started yet: the queued one");
  await Promise.resolve();
  assert.deepEqual(started, ["first"]);
  const second = queueEmbed(slot, embed("second"));
  assert.equal(queueEmbed(slot, embed("dropped")), second);
  assert.deepEqual(started, ["first"], "the second waits for the first");
  finish[0]();
  assert.equal(await first, "first");
  await new Promise((r) => setTimeout(r, 0));
  assert.deepEqual(started, ["first", "second"]);
  finish[1]();
  assert.equal(await second, "second");
  assert.equal(slot.queued, false);
});

test("downloadName and errorText", () => {
  assert.equal(downloadName("train/loss (ema)", "png"), "train_loss_ema_.png");
  assert.equal(downloadName("", "svg"), "chart.svg");
  assert.equal(errorText(new Error("bad spec")), "bad spec");
  assert.equal(errorText("plain"), "plain");
  assert.equal(errorText(null), "null");
});

test("one x title: the global step is 'step'; specs name the bundled Vega-Lite v6 (issue 25)", () => {
  assert.equal(xTitle("default", "_step"), "step");
  assert.equal(xTitle("default", "epoch"), "epoch");
  assert.equal(xTitle("_step", "epoch"), "step");
  assert.match(VEGA_LITE_SCHEMA, /vega-lite\/v6/);
});
