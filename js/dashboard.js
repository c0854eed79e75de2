// nbrun run dashboard: overview, live Vega charts (bundled, no CDN), click-a-step selection,
// Fork / Rewind / Stop. Python side: nbrun/widgets/_dashboard.py (the contract is documented
// there). Every user-provided string is written with textContent, never as HTML.
//
// The parts: dashboard/store.js (the chart points: base snapshot + deltas, pure),
// dashboard/points.js (what the charts draw from them, pure), dashboard/chartmath.js (EMA,
// outlier-free y range, labels, hover read-out, pure), dashboard/charts.js (Vega; its parts:
// chartstate.js, chartembed.js, pointer.js, legend.js),
// dashboard/overview.js, dashboard/actions.js, dashboard/media.js (a panel per media key),
// dashboard/side.js (the System and Logs sections); dashboard.css is bundled in as text.

import { createActions } from "./dashboard/actions.js";
import { createCharts } from "./dashboard/charts.js";
import { createMedia } from "./dashboard/media.js";
import { createOverview } from "./dashboard/overview.js";
import { mountSide } from "./dashboard/side.js";
import { storeFor } from "./dashboard/store.js";
import CSS from "./dashboard.css";
import { h } from "./lib/dom.js";
import { followHostTheme, THEME_CSS } from "./lib/hosttheme.js";
import { hideSnapshot, watchTheme } from "./lib/theme.js";
import { createTreePanel } from "./tree/panel.js";
import TREE_CSS from "./tree.css";

// epoch ms at which this module was evaluated (after its fetch, parse and compile): one of the
// open-time stamps on the dashboard's root (bench/dashboard_open.py reads them)
const MODULE_AT = Date.now();

/** @type {import("@anywidget/types").Render} */
function render({ model, el, host }) {
  const store = storeFor(model);
  const root = h("div", {
    class: "nbrun-dash",
    "data-ready": "0",
    "data-t-module": String(MODULE_AT),
    "data-t-render": String(Date.now()),
  });
  root.appendChild(h("style", {}, CSS));
  root.appendChild(h("style", {}, TREE_CSS));
  root.appendChild(h("style", {}, THEME_CSS));
  const unfollow = followHostTheme(root); // before the charts read the colours (rule 72)
  const overview = createOverview({ model, root });
  const actions = createActions({ model });
  const charts = createCharts({
    model,
    store,
    root,
    onSelect: (clicked) => {
      actions.clicked(clicked);
      showSelection();
    },
    reportError: overview.reportError,
  });
  // the family tree (tree/panel.js), shown when the run has a family: a node clicked
  // highlights its run's lines on the charts
  const tree = createTreePanel({
    model,
    traits: { layout: "tree", metric: "tree_metric", opened: "tree_opened" },
    onSelect: (node) => charts.pin(node ? node.run_id : ""),
    collapsible: true,
    host,
  });
  const side = mountSide(model);
  const media = createMedia({ model });
  root.append(
    overview.head,
    actions.toolbar,
    actions.panel,
    overview.noteEl,
    overview.errorEl,
    tree.el,
    charts.legend,
    charts.tools,
    charts.filterEl,
    charts.chartsEl,
    media.el,
    ...side.elements,
    overview.tablesEl,
  );
  el.appendChild(root);
  root.setAttribute("data-shown", String(Date.now())); // epoch ms (bench/first_chart.py)
  // the static snapshot displayed with this widget (for saved notebooks) hides while it shows
  const snapId = model.get("snapshot_id");
  const unhide = snapId ? hideSnapshot("snapshot", snapId) : () => {};
  // Vega charts take the theme's colours as a config: embed them again when it changes
  const unwatch = watchTheme(root, () => {
    charts.retheme();
    side.retheme();
    media.retheme();
  });

  function showSelection() {
    actions.showSelection();
    charts.showSelection();
  }

  function renderOverview() {
    overview.render();
    actions.updateButtons();
  }

  /** @type {[`change:${string}`, () => void][]} */
  const handlers = [
    ["change:overview", renderOverview],
    ["change:error", overview.renderErrors],
    ["change:result", actions.onResult],
    ["change:selected_step", showSelection],
    ["change:charts", charts.sync],
    ["change:checkpoints", charts.showCheckpoints],
    ["change:series", charts.onSeries],
    ["change:tree", tree.render],
    ["change:tree_opened", tree.renderOpened],
  ];
  for (const [ev, fn] of handlers) model.on(ev, fn);
  renderOverview();
  charts.renderLegend();
  showSelection();
  charts.sync();
  tree.render();
  tree.renderOpened();

  return () => {
    unhide();
    unwatch();
    unfollow();
    charts.dispose();
    overview.dispose();
    side.cleanup();
    media.dispose();
    tree.dispose();
    for (const [ev, fn] of handlers) model.off(ev, fn);
  };
}

/** @type {import("@anywidget/types").AnyWidget} */
export default {
  initialize({ model }) {
    storeFor(model);
  },
  render,
};
