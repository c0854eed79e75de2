// The dashboard's System and Logs sections (issue 13). Python side: nbrun/widgets/_side.py;
// styles in dashboard.css.
// System: one chart per system metric, embedded when the section is first opened (collapsed by
// default) and fed through the "rows" dataset. Logs: the last lines of the run's console output,
// a live tail with a search box; stderr lines are marked. Every line is written with
// textContent: run output never becomes markup.
import { h } from "../lib/dom.js";
import { vegaConfig } from "../lib/theme.js";
import { loadVega } from "./vegaload.js";

const BAD_END = new Set(["failed", "crashed", "killed"]);

// The two sections: `elements` to place in the dashboard, `cleanup()` when it goes away.
export function mountSide(model) {
  let alive = true;
  // ---- System ---------------------------------------------------------------------------
  const sys = h("details", { class: "nb-side nb-system", "data-section": "system" });
  const sysSummary = h("summary", {}, "System");
  const sysCount = h("span", { class: "nb-side-count" });
  sysSummary.appendChild(sysCount);
  const sysCharts = h("div", { class: "nb-system-charts" });
  sys.append(sysSummary, sysCharts);
  const views = new Map(); // metric -> {view, div, pending}

  function sysRows(metric) {
    const pts = model.get("system")?.points?.[metric] || [];
    return pts.map(([x, y]) => ({ x, y }));
  }

  let V = null; // the Vega module, loaded when the section is first opened

  function fillSystem(metric, view) {
    view.change("rows", V.vega.changeset().remove(V.vega.truthy).insert(sysRows(metric)));
    return view.runAsync();
  }

  function syncSystem() {
    const data = model.get("system") || {};
    const charts = data.charts || [];
    sysCount.textContent = charts.length ? `${charts.length} metrics` : "no samples";
    sys.setAttribute("data-metrics", String(charts.length));
    if (!sys.open) return; // charts are embedded when the section is opened
    const wanted = new Set(charts.map((c) => c.metric));
    for (const [m, entry] of views) {
      if (!wanted.has(m)) {
        if (entry.view) entry.view.finalize();
        entry.div.remove();
        views.delete(m);
      }
    }
    for (const c of charts) {
      let entry = views.get(c.metric);
      if (entry) {
        if (entry.view) fillSystem(c.metric, entry.view);
        continue;
      }
      const div = h("div", { class: "nb-chart nb-system-chart", "data-metric": c.metric });
      sysCharts.appendChild(div);
      entry = { view: null, div };
      views.set(c.metric, entry);
      loadVega(model)
        .then((mod) => {
          V = mod;
          return V.embed(div, c.spec, { renderer: "svg", actions: false, mode: "vega-lite", config: vegaConfig(sys) });
        })
        .then(async (res) => {
          // a retheme (or a metric gone) dropped this chart meanwhile: its view goes too
          if (!alive || views.get(c.metric) !== entry) {
            res.finalize();
            return;
          }
          entry.view = res.view;
          await fillSystem(c.metric, res.view);
          div.setAttribute("data-ready", "1");
        })
        .catch((e) => div.appendChild(h("pre", { class: "nb-error" }, String(e))));
    }
  }
  sys.addEventListener("toggle", syncSystem);

  // ---- Logs -----------------------------------------------------------------------------
  const logs = h("details", { class: "nb-side nb-logs", "data-section": "logs" });
  const logSummary = h("summary", {}, "Logs");
  const logCount = h("span", { class: "nb-side-count" });
  logSummary.appendChild(logCount);
  const tools = h("div", { class: "nb-log-tools" });
  const search = h("input", {
    type: "search",
    class: "nb-log-search",
    placeholder: "search the log",
    "data-action": "log-search",
  });
  const shown = h("span", { class: "nb-log-shown" });
  tools.append(search, shown);
  const pre = h("div", { class: "nb-log", "data-lines": "0" });
  logs.append(logSummary, tools, pre);
  let openedForState = null;

  function renderLogs() {
    const data = model.get("logs") || {};
    const lines = data.lines || [];
    const state = data.state || model.get("overview")?.state;
    logCount.textContent = lines.length ? `${data.more ? "last " : ""}${lines.length} lines` : "nothing printed";
    // where the run crashed or failed, its last lines are what one wants to see first
    if (BAD_END.has(state) && openedForState !== state && lines.length) {
      openedForState = state;
      logs.open = true;
    }
    const q = search.value.trim().toLowerCase();
    const atBottom = pre.scrollHeight - pre.scrollTop - pre.clientHeight < 8;
    const frag = document.createDocumentFragment();
    let n = 0;
    for (const [t, stream, step, text] of lines) {
      if (q && !String(text).toLowerCase().includes(q)) continue;
      const row = h("div", { class: "nb-line", "data-stream": stream });
      row.title = `${new Date(t * 1000).toLocaleString()} · ${stream}`;
      row.append(
        h("span", { class: "nb-ln-step" }, step >= 0 ? String(step) : ""),
        h("span", { class: "nb-ln-text" }, text),
      );
      frag.appendChild(row);
      n += 1;
    }
    pre.replaceChildren(frag);
    pre.setAttribute("data-lines", String(n));
    shown.textContent = q ? `${n} of ${lines.length} lines match` : "";
    if (atBottom || !pre.dataset.scrolled) {
      pre.scrollTop = pre.scrollHeight; // a live tail follows the end unless scrolled up
    }
  }
  pre.addEventListener("scroll", () => {
    pre.dataset.scrolled = pre.scrollHeight - pre.scrollTop - pre.clientHeight < 8 ? "" : "1";
  });
  search.oninput = renderLogs;

  const handlers = [
    ["change:system", syncSystem],
    ["change:logs", renderLogs],
  ];
  for (const [ev, fn] of handlers) model.on(ev, fn);
  syncSystem();
  renderLogs();

  // the theme changed: drop the system charts; they are embedded again with its colours
  function retheme() {
    for (const { view, div } of views.values()) {
      if (view) view.finalize();
      div.remove();
    }
    views.clear();
    syncSystem();
  }

  return {
    elements: [sys, logs],
    retheme,
    cleanup() {
      alive = false;
      for (const [ev, fn] of handlers) model.off(ev, fn);
      for (const { view } of views.values()) if (view) view.finalize();
    },
  };
}
