// The Vega module, loaded on demand. Its code is not in the dashboard's module: the kernel
// sends it once, as the `code` of one shared widget model (nbrun/widgets/_vega.py), whose id
// is the dashboard's `_vega` trait. It is imported from a blob URL once per page and model:
// every dashboard of a kernel shares the same import.
const page = /** @type {{ __nbrunVegaLoads?: Map<string, Promise<VegaModule>> }} */ (globalThis);
if (!page.__nbrunVegaLoads) page.__nbrunVegaLoads = new Map();
const loads = page.__nbrunVegaLoads;

/**
 * @typedef {{ embed: typeof import("vega-embed").default, vega: typeof import("vega") }} VegaModule
 */

/**
 * A promise of `{ embed, vega }` (vega-embed's default export and its `vega`).
 * @param {import("@anywidget/types").AnyModel} model a widget model with a `_vega` trait
 * @returns {Promise<VegaModule>}
 */
export function loadVega(model) {
  const ref = String(model.get("_vega") || "");
  let p = loads.get(ref);
  if (!p) {
    p = (async () => {
      if (!ref) throw new Error("no Vega module was sent (the dashboard's _vega trait is empty)");
      const asset = await model.widget_manager.get_model(ref.replace(/^IPY_MODEL_/, ""));
      const url = URL.createObjectURL(new Blob([asset.get("code")], { type: "text/javascript" }));
      try {
        return await import(/* webpackIgnore: true */ url);
      } finally {
        URL.revokeObjectURL(url);
      }
    })();
    p.catch(() => loads.delete(ref)); // a failed load may be tried again
    loads.set(ref, p);
  }
  return p;
}

// Resolves after the browser painted the current frame (so what was just drawn shows before
// heavier work starts), or after 200 ms where no frame comes (a hidden tab).
export function afterPaint() {
  return new Promise((resolve) => {
    let done = false;
    const go = () => {
      if (done) return;
      done = true;
      setTimeout(resolve, 0);
    };
    requestAnimationFrame(go);
    setTimeout(go, 200);
  });
}
