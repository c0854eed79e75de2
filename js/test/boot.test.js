// The loader saved with each lazy widget (js/boot.js, rule 64): it asks the kernel for the
// traits kept out of the saved notebook and hands the real module a model that reads them.

import assert from "node:assert/strict";
import { test } from "node:test";
import { lazy } from "../boot.js";

/**
 * A widget model as anywidget hands it to a module: synced traits, events, custom messages.
 * @param {Record<string, any>} traits
 * @returns {any}
 */
function fakeModel(traits = {}) {
  const handlers = new Map();
  const sent = [];
  return {
    sent,
    get: (k) => traits[k],
    set: (k, v) => {
      traits[k] = v;
    },
    save_changes: () => sent.push({ saved: { ...traits } }),
    send: (msg) => sent.push(msg),
    on(ev, fn) {
      if (!handlers.has(ev)) handlers.set(ev, new Set());
      handlers.get(ev).add(fn);
    },
    off(ev, fn) {
      handlers.get(ev)?.delete(fn);
    },
    // the kernel's side: a custom message to every msg:custom handler
    deliver(msg, buffers = []) {
      for (const fn of [...(handlers.get("msg:custom") || [])]) fn(msg, buffers);
    },
    widget_manager: {},
  };
}

const tick = () => new Promise((r) => setTimeout(r, 0));

test("the loader asks for the state once and is ready with the first full message", async () => {
  const model = fakeModel({ _module: "nbrun/static/v/dashboard.js", selected_step: null });
  const entry = lazy(model);
  assert.equal(lazy(model), entry, "one loader state per model");
  assert.deepEqual(model.sent, [{ nbrun: "state" }]);
  let ready = false;
  entry.ready.then(() => {
    ready = true;
  });
  // a change sent before the answer is kept, but is not the whole state
  model.deliver({ type: "nbrun_traits", state: { error: "early" }, buffer_paths: [], full: false });
  await tick();
  assert.equal(ready, false);
  const base = new DataView(new TextEncoder().encode('{"seq":1}').buffer);
  model.deliver(
    { type: "nbrun_traits", state: { charts: [1], error: "", _base: null }, buffer_paths: [["_base"]], full: true },
    [base],
  );
  await entry.ready;
  const px = entry.proxy;
  assert.deepEqual(px.get("charts"), [1]);
  assert.equal(px.get("error"), "");
  assert.equal(px.get("_base"), base, "the buffer is put back where it was taken out");
  // synced traits are read (and set) on the model itself
  assert.equal(px.get("_module"), "nbrun/static/v/dashboard.js");
  px.set("selected_step", 5);
  px.save_changes();
  assert.deepEqual(model.sent.at(-1), { saved: { _module: "nbrun/static/v/dashboard.js", selected_step: 5 } });
});

test("changes after the state fire the module's change handlers; the module never sees them as messages", async () => {
  const model = fakeModel();
  const entry = lazy(model);
  model.deliver({ type: "nbrun_traits", state: { series: [], overview: {} }, buffer_paths: [], full: true });
  await entry.ready;
  const px = entry.proxy;
  const seen = [];
  const onSeries = () => seen.push(["series", px.get("series")]);
  px.on("change:series", onSeries);
  const msgs = [];
  const onMsg = (m) => msgs.push(m.type);
  px.on("msg:custom", onMsg);
  model.deliver({ type: "nbrun_traits", state: { series: ["a"] }, buffer_paths: [], full: false });
  model.deliver({ type: "delta", seq: 2, changes: [] });
  model.deliver({ type: "nbrun_asset", name: "vega.js", ok: true }, [new DataView(new ArrayBuffer(1))]);
  assert.deepEqual(seen, [["series", ["a"]]]);
  assert.deepEqual(msgs, ["delta", "nbrun_asset"], "asset replies reach the module (Vega's loader)");
  px.off("change:series", onSeries);
  px.off("msg:custom", onMsg);
  model.deliver({ type: "nbrun_traits", state: { series: ["b"] }, buffer_paths: [], full: false });
  model.deliver({ type: "delta", seq: 3, changes: [] });
  assert.equal(seen.length, 1);
  assert.equal(msgs.length, 2);
  assert.deepEqual(px.get("series"), ["b"], "the value still follows the kernel");
});

test("without a kernel (a saved notebook reopened) nothing answers and the loader stays waiting", async () => {
  const model = fakeModel();
  model.send = () => {
    throw new Error("no comm");
  };
  const entry = lazy(model);
  let ready = false;
  entry.ready.then(() => {
    ready = true;
  });
  await tick();
  assert.equal(ready, false);
});

test("data in the synced state renders at once, follows updates, and stops at the take-out", async () => {
  const model = fakeModel({ _inline: ["charts", "_base"], charts: [1], _base: { seq: 1 } });
  const changes = new Map();
  model.on = (ev, fn) => changes.set(ev, [...(changes.get(ev) || []), fn]);
  const emit = (state) => {
    for (const [k, v] of Object.entries(state)) model.set(k, v);
    for (const k of Object.keys(state)) for (const fn of changes.get(`change:${k}`) || []) fn();
  };
  const entry = lazy(model);
  assert.deepEqual(model.sent, [{ nbrun: "state", have: true }], "it tells the kernel it has the data");
  await entry.ready;
  const px = entry.proxy;
  assert.deepEqual(px.get("charts"), [1]);
  const seen = [];
  px.on("change:charts", () => seen.push(px.get("charts")));
  emit({ charts: [2] }); // an update while the data is inline
  assert.deepEqual(seen, [[2]]);
  emit({ _inline: [], charts: [], _base: {} }); // the kernel empties the synced copies
  assert.deepEqual(seen, [[2]], "the emptied values are not the data");
  assert.deepEqual(px.get("charts"), [2]);
  for (const fn of changes.get("msg:custom") || []) {
    fn({ type: "nbrun_traits", state: { charts: [3] }, buffer_paths: [], full: false }, []);
  }
  assert.deepEqual(seen, [[2], [3]], "later changes come as messages");
});

test("rule 72: a kernel load pending on a closed widget is asked again through a later one", async () => {
  const { loadAsset, setKernelRetry } = await import("../lib/assets.js");
  setKernelRetry(20);
  const path = "nbrun/static/test-retry/vega.js";
  const first = fakeModel(); // closed before its answer came: it never gets one
  const second = fakeModel();
  const p = loadAsset(first, path);
  p.catch(() => {});
  await tick();
  assert.deepEqual(first.sent, [{ nbrun: "asset", name: "vega.js" }]);
  assert.equal(loadAsset(second, path), p); // one load per page
  assert.deepEqual(second.sent, []); // not at once: the first may still answer
  await new Promise((r) => setTimeout(r, 60));
  assert.deepEqual(second.sent, [{ nbrun: "asset", name: "vega.js" }]);
  // the second widget's kernel answers (a refusal here: no module import in node) and the
  // shared load settles with it
  second.deliver({ type: "nbrun_asset", name: "vega.js", ok: false, message: "refused" });
  await assert.rejects(p, /refused/);
});
