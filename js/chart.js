// nbrun's Altair renderer (nbrun/widgets/_altair.py): one Vega-Lite spec drawn with the Vega,
// Vega-Lite and vega-embed nbrun ships, so `run.chart("loss")` (an alt.Chart) and any Altair
// chart render offline; no CDN. Vega is not in this module: the `_vega` trait is its path,
// loaded from the Jupyter server or the kernel as the dashboard loads it (dashboard/vegaload.js,
// nbrun/widgets/_assets.py). Colours follow the theme (lib/theme.js).
import { loadVega } from "./dashboard/vegaload.js";
import { vegaConfig, watchTheme } from "./lib/theme.js";

/**
 * @typedef {{ spec: object, _vega: string }} ChartModel the ChartWidget's traits
 */

/** @type {import("@anywidget/types").Render<ChartModel>} */
function render({ model, el }) {
  const root = /** @type {HTMLDivElement & { __nbrunView?: import("vega").View }} */ (document.createElement("div"));
  root.className = "nbrun-chart";
  root.setAttribute("data-ready", "0");
  root.style.cssText =
    "--nb-fg:var(--jp-ui-font-color1,#222);--nb-fg2:var(--jp-ui-font-color2,#555);--nb-border:var(--jp-border-color1,#bbb);--nb-border3:var(--jp-border-color3,#eee);--nb-bg:var(--jp-layout-color1,#fff);color:var(--nb-fg)";
  const div = document.createElement("div");
  root.appendChild(div);
  el.appendChild(root);
  /** @type {import("vega-embed").Result | null} */
  let result = null;
  let alive = true;
  let gen = 0;
  // draws can overlap (the first one and the theme check once the widget is attached, a new
  // spec): the last one started wins; data-ready is "1" once it has drawn
  function draw() {
    if (result) {
      result.finalize();
      result = null;
    }
    const mine = ++gen;
    root.setAttribute("data-ready", "0");
    const actions = { export: true, source: false, compiled: false, editor: false };
    loadVega(model)
      .then((V) => {
        if (!alive || mine !== gen) return null;
        return V.embed(div, model.get("spec"), { renderer: "svg", actions, config: vegaConfig(root) });
      })
      .then((res) => {
        if (!res) return;
        if (!alive || mine !== gen) {
          res.finalize();
          return;
        }
        result = res;
        root.__nbrunView = res.view; // a hook for tests
        root.setAttribute("data-ready", "1");
      })
      .catch((err) => {
        if (mine !== gen) return;
        const pre = document.createElement("pre");
        pre.textContent = `chart: ${err?.message ? err.message : err}`; // text, never markup
        root.appendChild(pre);
      });
  }
  const unwatch = watchTheme(root, draw);
  model.on("change:spec", draw);
  draw();
  return () => {
    alive = false;
    unwatch();
    model.off("change:spec", draw);
    if (result) result.finalize();
  };
}

export default { render };
