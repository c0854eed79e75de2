// The Vega module, loaded on demand (rule 64). Its code is neither in the dashboard's module nor
// in any widget's state: the `_vega` trait is its path (`nbrun/static/<version>/vega.js`),
// imported from the Jupyter server or, where there is none, from the kernel (lib/assets.js),
// once per page: every widget of the page shares the same import.
import { loadAsset } from "../lib/assets.js";

/**
 * @typedef {{ embed: typeof import("vega-embed").default, vega: typeof import("vega") }} VegaModule
 */

/**
 * A promise of `{ embed, vega }` (vega-embed's default export and its `vega`).
 * @param {import("@anywidget/types").AnyModel} model a widget model with a `_vega` trait
 * @returns {Promise<VegaModule>}
 */
export function loadVega(model) {
  const path = String(model.get("_vega") || "");
  if (!path) return Promise.reject(new Error("no Vega module was named (the widget's _vega trait is empty)"));
  return loadAsset(model, path);
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
