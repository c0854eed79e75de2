// The widgets' modules that are not sent with the widget (nbrun/widgets/_assets.py, rule 64):
// the dashboard's module and Vega. Tried in turn:
// 1. the Jupyter server: nbrun's server extension serves them at
//    `{baseUrl}nbrun/static/<version>/<name>` (JupyterLab and Notebook 7 write `baseUrl` in
//    the page's `jupyter-config-data`), imported with a dynamic import;
// 2. the kernel: a custom `{nbrun: "asset", name}` message over the widget's comm, answered by
//    `{type: "nbrun_asset", name, ok}` with the file's bytes (marimo, VS Code, Colab), imported
//    from a blob URL.
// Each path is imported once per page (a kernel load pending on a widget that closed is asked
// again through a later one); a failed load may be tried again.
const page = /** @type {{ __nbrunAssets?: Map<string, Promise<any>> }} */ (globalThis);
if (!page.__nbrunAssets) page.__nbrunAssets = new Map();
const loads = page.__nbrunAssets;

/**
 * The Jupyter server's base URL (absolute), or null where the page is no Jupyter page.
 * @returns {string | null}
 */
export function serverBase() {
  const el = typeof document === "undefined" ? null : document.getElementById("jupyter-config-data");
  if (!el) return null;
  try {
    const base = JSON.parse(el.textContent || "{}").baseUrl;
    return typeof base === "string" ? new URL(base, location.href).href : null;
  } catch {
    return null;
  }
}

/** @param {string} path */
async function fromServer(path) {
  const base = serverBase();
  if (!base) throw new Error("no Jupyter server on this page");
  return import(/* webpackIgnore: true */ new URL(path, base).href);
}

/** @type {Map<string, (model: import("@anywidget/types").AnyModel) => void>} the pending kernel loads */
const asking = new Map();
let retryMs = 5000;

/**
 * How long a pending kernel load waits before a later widget asking for the same module sends
 * the request through its own comm too (exported for the unit tests).
 * @param {number} ms
 */
export function setKernelRetry(ms) {
  retryMs = ms;
}

/**
 * The module `name` from the kernel, asked through `model`'s comm. The load is shared by the
 * page, but not tied to that one widget: a widget that asks while it is pending also asks
 * through its own comm after `retryMs` (the first one may have been closed before its answer
 * came: a project view's dashboard replaced by another, rule 72); the first answer wins.
 * @param {import("@anywidget/types").AnyModel} model
 * @param {string} path
 * @param {string} name
 */
function fromKernel(model, path, name) {
  return new Promise((resolve, reject) => {
    let done = false;
    /** @type {Set<import("@anywidget/types").AnyModel>} */
    const asked = new Set();
    /** @type {Map<import("@anywidget/types").AnyModel, (msg: any, buffers?: DataView[]) => void>} */
    const listeners = new Map();
    const finish = () => {
      done = true;
      asking.delete(path);
      for (const [m, fn] of listeners) m.off("msg:custom", fn);
    };
    /** @param {import("@anywidget/types").AnyModel} m */
    const ask = (m) => {
      if (done || asked.has(m)) return;
      asked.add(m);
      /** @param {any} msg @param {DataView[]} [buffers] */
      const onMsg = (msg, buffers) => {
        if (done || msg?.type !== "nbrun_asset" || msg.name !== name) return;
        finish();
        if (!msg.ok || !buffers?.length) {
          reject(new Error(msg.message || `the kernel sent no ${name}`));
          return;
        }
        const code = /** @type {BlobPart} */ (/** @type {unknown} */ (buffers[0]));
        const url = URL.createObjectURL(new Blob([code], { type: "text/javascript" }));
        import(/* webpackIgnore: true */ url).then(resolve, reject).finally(() => URL.revokeObjectURL(url));
      };
      listeners.set(m, onMsg);
      m.on("msg:custom", onMsg);
      try {
        m.send({ nbrun: "asset", name });
      } catch {
        // a closed comm: another widget's ask may answer
      }
    };
    asking.set(path, (m) => {
      setTimeout(() => ask(m), retryMs);
    });
    ask(model);
  });
}

/**
 * The module at `path` (`nbrun/static/<version>/<name>`): from the server, else the kernel.
 * @param {import("@anywidget/types").AnyModel} model the widget asking (its kernel answers)
 * @param {string} path
 * @returns {Promise<any>}
 */
export function loadAsset(model, path) {
  if (!path) return Promise.reject(new Error("no module named (the widget's path is empty)"));
  let p = loads.get(path);
  if (!p) {
    const name = path.split("/").pop() || path;
    p = fromServer(path).catch(() => fromKernel(model, path, name));
    p.catch(() => loads.delete(path));
    loads.set(path, p);
  } else asking.get(path)?.(model);
  return p;
}
