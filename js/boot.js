// The small module sent (and saved) with each lazy widget (nbrun/widgets/_assets.py, rule 64).
// The widget's data traits (`_inline` names them) start in the model's synced state: the
// loader reads them there (a view shows at once, also while a foreground cell keeps the kernel
// from reading messages) and tells the kernel (`{nbrun: "state", have: true}`), which then
// empties them in the synced state (what a saved notebook keeps) and sends later changes as
// `{type: "nbrun_traits"}` messages. A loader that finds no data asks for it
// (`{nbrun: "state"}`, answered by a full `nbrun_traits` message). Then it imports the real
// module (the `_module` trait: lib/assets.js) and renders it with a model that reads those
// traits. Restored from a saved notebook without its kernel, no data and no answer come: it
// draws nothing and the static snapshot beside it stays in view (rule 65).
import { loadAsset } from "./lib/assets.js";

/** @typedef {import("@anywidget/types").AnyModel} AnyModel */
/** @typedef {{ proxy: any, ready: Promise<void>, initialized: boolean }} Lazy */

/** @type {WeakMap<AnyModel, Lazy>} */
const lazies = new WeakMap();

/**
 * Put the message's buffers back where ipywidgets took them out.
 * @param {Record<string, any>} state @param {(string | number)[][]} paths @param {DataView[]} buffers
 */
function putBuffers(state, paths, buffers) {
  paths.forEach((path, i) => {
    let obj = state;
    for (const part of path.slice(0, -1)) obj = obj[part];
    obj[path[path.length - 1]] = buffers[i];
  });
}

/**
 * The loader's state of a widget model (made on first use; exported for the unit tests): the
 * model the real module gets, and a promise of the first full `nbrun_traits` message.
 * @param {AnyModel} model @returns {Lazy}
 */
export function lazy(model) {
  const known = lazies.get(model);
  if (known) return known;
  /** @type {Record<string, any>} */
  const values = {};
  /** @type {Map<string, Set<Function>>} */
  const listeners = new Map();
  /** @type {Map<Function, Function>} */
  const wrapped = new Map();
  let full = false;
  /** @type {() => void} */
  let markReady = () => {};
  const ready = new Promise((resolve) => {
    markReady = () => resolve(undefined);
  });
  model.on("msg:custom", (/** @type {any} */ msg, /** @type {DataView[]} */ buffers) => {
    if (msg?.type !== "nbrun_traits") return;
    const state = msg.state || {};
    putBuffers(state, msg.buffer_paths || [], buffers || []);
    Object.assign(values, state);
    if (!full) {
      if (msg.full) {
        full = true;
        markReady();
      }
      return;
    }
    for (const name of Object.keys(state)) fire(name);
  });
  // the data in the synced state: read it, and follow its updates until the kernel takes it
  // out (then `_inline` is empty before the emptied values arrive, which are not the data)
  const inline = /** @type {string[]} */ (model.get("_inline") || []);
  for (const name of inline) {
    values[name] = model.get(name);
    model.on(`change:${name}`, () => {
      if (!(model.get("_inline") || []).includes(name)) return;
      values[name] = model.get(name);
      fire(name);
    });
  }
  if (inline.length) {
    full = true;
    markReady();
  }
  /** @param {string} name */
  const fire = (name) => {
    for (const fn of [...(listeners.get(`change:${name}`) || [])]) fn();
  };
  /** @param {string} ev */
  const local = (ev) => ev.startsWith("change:") && ev.slice(7) in values;
  const proxy = {
    /** @param {string} k */
    get: (k) => (k in values ? values[k] : model.get(k)),
    /** @param {string} k @param {any} v */
    set: (k, v) => model.set(k, v),
    save_changes: () => model.save_changes(),
    /** @param {any[]} args */
    send: (...args) => /** @type {any} */ (model.send)(...args),
    /** @param {string} ev @param {Function} fn */
    on(ev, fn) {
      if (local(ev)) {
        if (!listeners.has(ev)) listeners.set(ev, new Set());
        listeners.get(ev)?.add(fn);
      } else if (ev === "msg:custom") {
        // the module never sees the loader's trait messages (asset replies it may await)
        const w = (/** @type {any} */ msg, /** @type {any} */ b) => {
          if (msg?.type !== "nbrun_traits") fn(msg, b);
        };
        wrapped.set(fn, w);
        model.on(ev, /** @type {any} */ (w));
      } else model.on(/** @type {any} */ (ev), /** @type {any} */ (fn));
    },
    /** @param {string} ev @param {Function} fn */
    off(ev, fn) {
      if (local(ev)) listeners.get(ev)?.delete(fn);
      else if (ev === "msg:custom" && wrapped.has(fn)) {
        model.off(ev, /** @type {any} */ (wrapped.get(fn)));
        wrapped.delete(fn);
      } else model.off(/** @type {any} */ (ev), /** @type {any} */ (fn));
    },
    get widget_manager() {
      return model.widget_manager;
    },
  };
  const entry = { proxy, ready, initialized: false };
  lazies.set(model, entry);
  try {
    model.send(inline.length ? { nbrun: "state", have: true } : { nbrun: "state" });
  } catch {
    // a model restored from a saved notebook has no comm: nothing answers, the snapshot stays
  }
  return entry;
}

// While nothing is drawn (no kernel answered yet, or none will: a saved notebook reopened),
// the view stays empty: no "disconnected" mark of ipywidgets above the snapshot.
function quietStyle() {
  if (typeof document === "undefined" || document.querySelector("style[data-nbrun-waiting]")) return;
  const style = document.createElement("style");
  style.setAttribute("data-nbrun-waiting", "1");
  style.textContent = ".nbrun-waiting.jupyter-widgets-disconnected::before{display:none}";
  document.head.appendChild(style);
}

/** @type {import("@anywidget/types").Render} */
function render({ model, el, experimental, host }) {
  const entry = lazy(model);
  quietStyle();
  el.classList.add("nbrun-waiting");
  let alive = true;
  /** @type {any} */
  let cleanup = null;
  // the module loads while the data comes (both once per page / model)
  const module = loadAsset(model, String(model.get("_module") || ""));
  module.catch(() => {}); // reported below, once the data came
  entry.ready
    .then(() => module)
    .then(async (mod) => {
      if (!alive) return;
      el.classList.remove("nbrun-waiting");
      const widget = mod.default;
      if (!entry.initialized) {
        entry.initialized = true;
        await widget.initialize?.({ model: entry.proxy, experimental });
      }
      // `host` shows child widgets (the project view's dashboard: lib/child.js, rule 72)
      cleanup = await widget.render({ model: entry.proxy, el, experimental, host });
      if (!alive && typeof cleanup === "function") cleanup();
    })
    .catch((/** @type {any} */ err) => {
      if (!alive) return;
      el.classList.remove("nbrun-waiting");
      const pre = document.createElement("pre");
      pre.className = "nbrun-load-error";
      pre.textContent = `nbrun: the widget's module did not load: ${err?.message || err}`;
      el.appendChild(pre);
    });
  return () => {
    alive = false;
    if (typeof cleanup === "function") cleanup();
  };
}

/** @type {import("@anywidget/types").AnyWidget} */
export default { render };
