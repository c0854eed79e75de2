// nbrun family tree widget (`view.tree()`): a run's family, its runs and archived segments as
// nodes, forks and rewinds as edges at their steps, each node coloured by a metric. Python side:
// nbrun/widgets/_tree_widget.py (the layout comes from nbrun/widgets/_tree.py). Click a node to
// select it (the `selected` trait) and open its dashboard below.
import { followHostTheme, THEME_CSS } from "./lib/hosttheme.js";
import { hideSnapshot } from "./lib/theme.js";
import { createTreePanel } from "./tree/panel.js";
import CSS from "./tree.css";

/**
 * @typedef {{ layout: any, metric: string, selected: string, opened: string, snapshot_id: string }} TreeModel
 */

/** @type {import("@anywidget/types").Render<TreeModel>} */
function render({ model, el, host }) {
  const root = document.createElement("div");
  root.className = "nbrun-tree";
  const style = document.createElement("style");
  style.textContent = CSS + THEME_CSS;
  const unfollow = followHostTheme(root); // rule 72
  const panel = createTreePanel({
    model,
    traits: { layout: "layout", metric: "metric", opened: "opened", selected: "selected" },
    host,
  });
  root.append(style, panel.el);
  el.appendChild(root);
  const snapId = model.get("snapshot_id");
  const unhide = snapId ? hideSnapshot("tree", snapId) : () => {};
  const renderOpened = () => {
    panel.renderOpened();
  };
  model.on("change:layout", panel.render);
  model.on("change:opened", renderOpened);
  panel.render();
  renderOpened();
  root.setAttribute("data-ready", "1");
  return () => {
    unhide();
    unfollow();
    panel.dispose();
    model.off("change:layout", panel.render);
    model.off("change:opened", renderOpened);
  };
}

/** @type {import("@anywidget/types").AnyWidget<TreeModel>} */
export default { render };
