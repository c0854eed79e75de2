// The family tree panel: a heading, the metric the nodes are coloured by, the tree (drawn by
// tree/draw.js from the kernel's layout), the selected node's details and an "Open dashboard"
// button that asks the kernel for that run's dashboard (`run.display()`), shown below. Used by
// the standalone tree widget (js/tree.js, nbrun/widgets/_tree_widget.py) and by the dashboard's
// Tree panel (js/dashboard.js). Text goes in through textContent only.
import { renderChild } from "../lib/child.js";
import { h } from "../lib/dom.js";
import { drawTree } from "./draw.js";
import { heading, isFamily, nodeByKey, nodeInfo, toggle } from "./layout.js";

/**
 * @typedef {{ layout: string, metric: string, opened: string, selected?: string }} TreeTraits the model's trait names
 * @typedef {import("@anywidget/types").AnyModel<any>} Model
 */

/**
 * @param {{ model: Model, traits: TreeTraits, onSelect?: (node: import("./layout.js").TreeNode | null) => void,
 *   collapsible?: boolean, host?: any }} opts
 */
export function createTreePanel({ model, traits, onSelect, collapsible = false, host }) {
  const el = collapsible ? h("details", { class: "nb-tree-panel", open: "" }) : h("div", { class: "nb-tree-panel" });
  const title = h(collapsible ? "summary" : "div", { class: "nb-tree-title" });
  const select = /** @type {HTMLSelectElement} */ (h("select", { class: "nb-tree-metric", title: "colour by" }));
  const tools = h("div", { class: "nb-tree-tools" });
  tools.append(h("span", {}, "colour by"), select, h("span", { class: "nb-tree-hint" }, "click a run to select it"));
  const box = h("div", { class: "nb-tree-box" });
  const info = h("div", { class: "nb-tree-info", "data-selected": "" });
  const opened = h("div", { class: "nb-tree-opened" });
  el.append(title, tools, box, info, opened);
  let selected = traits.selected ? String(model.get(traits.selected) || "") : "";
  let req = 0;
  /** @type {{ remove(): void } | null} */
  let openedView = null;
  let alive = true;

  function layout() {
    const l = model.get(traits.layout);
    return isFamily(l) ? l : null;
  }

  function render() {
    const l = layout();
    el.hidden = !l;
    el.setAttribute("data-nodes", String(l ? l.nodes.length : 0));
    if (!l) {
      box.replaceChildren();
      return;
    }
    title.textContent = heading(l);
    select.replaceChildren(...l.metrics.map((m) => h("option", { value: m }, m)));
    select.value = l.metric || "";
    select.disabled = !l.metrics.length;
    if (selected && !nodeByKey(l, selected)) selected = "";
    const top = box.scrollTop;
    box.replaceChildren(drawTree(l, selected, pick));
    box.scrollTop = top;
    showInfo(l);
  }

  /** @param {string} key */
  function pick(key) {
    selected = toggle(selected, key);
    if (traits.selected) {
      model.set(traits.selected, selected);
      model.save_changes();
    }
    render();
    const l = layout();
    onSelect?.(l && selected ? nodeByKey(l, selected) : null);
  }

  /** @param {import("./layout.js").TreeLayout} l */
  function showInfo(l) {
    const node = selected ? nodeByKey(l, selected) : null;
    info.setAttribute("data-selected", node ? node.key : "");
    if (!node) {
      info.replaceChildren();
      return;
    }
    const items = nodeInfo(l, node).map(([k, v]) => {
      const span = h("span", { class: "nb-tree-item" });
      span.append(h("span", { class: "nb-tree-k" }, k), h("span", { class: "nb-tree-v" }, v));
      return span;
    });
    const word = node.kind === "archive" ? "Open its run's dashboard" : "Open dashboard";
    const button = h("button", { "data-action": "open-dashboard", "data-run-id": node.run_id }, word);
    const status = h("span", { class: "nb-tree-status" });
    button.addEventListener("click", () => {
      req += 1;
      status.textContent = `opening ${node.run_id}…`;
      status.setAttribute("data-status", "busy");
      model.send({ action: "open", req, run_id: node.run_id });
    });
    info.replaceChildren(...items, button, status);
  }

  /** @param {any} msg */
  function onMessage(msg) {
    if (msg?.type !== "opened" || msg.req !== req) return;
    const status = info.querySelector(".nb-tree-status");
    if (!status) return;
    status.textContent = msg.message || "";
    status.setAttribute("data-status", msg.ok ? "ok" : "error");
  }

  // The opened dashboard: a widget model of the kernel, rendered here as its own view (where
  // the front end's widget manager can make views, as JupyterLab's does).
  async function renderOpened() {
    const ref = String(model.get(traits.opened) || "");
    openedView?.remove();
    openedView = null;
    opened.replaceChildren();
    if (!ref) return;
    try {
      const target = h("div");
      const remove = await renderChild({ host, model, ref, target });
      if (!alive || ref !== String(model.get(traits.opened) || "")) return remove();
      openedView = { remove };
      opened.appendChild(target);
    } catch (err) {
      opened.textContent = `the dashboard could not be shown: ${err}`;
    }
  }

  select.addEventListener("change", () => {
    model.set(traits.metric, select.value);
    model.save_changes();
  });
  model.on("msg:custom", onMessage);

  function dispose() {
    alive = false;
    model.off("msg:custom", onMessage);
    openedView?.remove();
  }

  return { el, render, renderOpened, dispose };
}
