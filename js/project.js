// nbrun project view: a comparison table of runs (lineage indent, sortable config and summary
// columns, filter, W&B groups), checkboxes that overlay the selected runs on one chart per
// metric, a parallel-coordinates chart of config vs a metric, delete / move with confirmation;
// "open" asks Python to show that run's dashboard. Python side: nbrun/widgets/_project.py.
// All run data is written with textContent (or as SVG text nodes), never as HTML. Charts are
// plain SVG (no Vega): the module stays small and loads at once.

import { renderChild } from "./lib/child.js";
import { spansDecades } from "./lib/compare.js";
import { h } from "./lib/dom.js";
import { fmt as fmtDigits } from "./lib/format.js";
import { followHostTheme, THEME_CSS } from "./lib/hosttheme.js";
import { lineChart, s } from "./lib/overlaychart.js";
import { cellText, cellValue, colValue, compare, matches } from "./lib/runtable.js";
import { drawSweeps } from "./lib/sweeps.js";
import { hideSnapshot } from "./lib/theme.js";
import CSS from "./project.css";

const fmt = (v) => fmtDigits(v, 4);
const MAX_COLS = 12;

// config keys that differ between runs first (all of them when none differ), then the rest
function configColumns(runs) {
  const seen = new Map();
  for (const r of runs) {
    for (const [k, v] of Object.entries(r.config || {})) {
      if (!seen.has(k)) seen.set(k, new Set());
      seen.get(k).add(JSON.stringify(v));
    }
  }
  const keys = [...seen.keys()];
  const varying = keys.filter((k) => seen.get(k).size > 1 || runs.some((r) => !(k in (r.config || {}))));
  return (varying.length ? varying : keys).slice(0, MAX_COLS);
}

function summaryColumns(runs) {
  const keys = new Set();
  for (const r of runs) for (const k of Object.keys(r.summary || {})) keys.add(k);
  return [...keys].slice(0, MAX_COLS);
}

// parallel coordinates: one vertical axis per config column and the metric last
function parallel(runs, axes, metric) {
  const W = Math.max(420, 150 * axes.length + 80);
  const H = 260;
  const top = 34;
  const bottom = H - 26;
  const pad = 8; // values sit inside the axis ends, so extreme lines stay apart from them
  const svg = s("svg", { width: W, height: H, class: "nb-parallel", "data-axes": axes.length });
  const x = (i) => 50 + (i * (W - 100)) / Math.max(1, axes.length - 1);
  const scales = axes.map((ax) => {
    const vals = runs.map((r) => ax.get(r)).filter((v) => v !== null && v !== undefined);
    if (vals.every((v) => typeof v === "number")) {
      const lo = Math.min(...vals);
      const hi = Math.max(...vals);
      const f = (v) =>
        hi === lo ? (top + bottom) / 2 : bottom - pad - ((v - lo) / (hi - lo)) * (bottom - top - 2 * pad);
      return {
        f,
        labels: vals.length
          ? [
              [lo, fmt(lo)],
              [hi, fmt(hi)],
            ]
          : [],
      };
    }
    const cats = [...new Set(vals.map((v) => fmt(v)))].sort();
    const f = (v) => {
      const i = cats.indexOf(fmt(v));
      return cats.length === 1 ? (top + bottom) / 2 : bottom - pad - (i / (cats.length - 1)) * (bottom - top - 2 * pad);
    };
    return { f, labels: cats.map((c) => [c, c]), cat: true };
  });
  // tick labels go in a layer above the lines (with a halo, project.css), beside the axis on
  // the side away from the lines' start, so no line runs through them (issue 25)
  const labels = s("g", { class: "nb-axis-labels" });
  axes.forEach((ax, i) => {
    const g = s("g", { class: "nb-axis", "data-axis": ax.name });
    g.appendChild(s("line", { x1: x(i), x2: x(i), y1: top, y2: bottom }));
    g.appendChild(s("text", { x: x(i), y: 14, "text-anchor": "middle", class: "nb-axis-title" }, ax.name));
    const left = i > 0;
    for (const [v, label] of scales[i].labels) {
      labels.appendChild(
        s(
          "text",
          {
            x: x(i) + (left ? -6 : 6),
            y: scales[i].f(v) + 4,
            "text-anchor": left ? "end" : "start",
            class: "nb-axis-label",
            "data-axis": ax.name,
          },
          label,
        ),
      );
    }
    svg.appendChild(g);
  });
  for (const r of runs) {
    const pts = [];
    axes.forEach((ax, i) => {
      const v = ax.get(r);
      if (v !== null && v !== undefined) pts.push(`${x(i).toFixed(1)},${scales[i].f(v).toFixed(1)}`);
    });
    if (pts.length < 2) continue;
    const line = s("polyline", { points: pts.join(" "), stroke: r.color, "data-key": r.key, class: "nb-pline" });
    const m = r.summary?.[metric];
    line.appendChild(s("title", {}, `${r.name} · ${metric} ${cellText(m)}`));
    svg.appendChild(line);
  }
  svg.appendChild(labels);
  return svg;
}

/** @type {import("@anywidget/types").Render} */
function render({ model, el, host }) {
  const root = h("div", { class: "nbrun-project" });
  root.appendChild(h("style", {}, CSS + THEME_CSS));
  const unfollow = followHostTheme(root); // rule 72
  // `option` / `to`: the confirmation's checkbox and target project, kept while it is open
  // (any update from the kernel redraws it)
  // overlay charts: `log` the user's log-y choice per metric (else on when its values span
  // decades), `whole` the metrics shown over the whole run, `diff` forks as fork − parent
  /** @type {{ sort: string | null, dir: number, query: string, grouped: boolean, collapsed: Set<string>, selected: Set<string>, confirm: "delete" | "move" | null, option: boolean, to: string, metric: string, log: Map<string, boolean>, whole: Set<string>, diff: boolean }} */
  const state = {
    sort: null,
    dir: 1,
    query: "",
    grouped: false,
    collapsed: new Set(),
    selected: new Set(),
    confirm: null,
    option: false,
    to: "",
    metric: "",
    log: new Map(),
    whole: new Set(),
    diff: false,
  };

  const bar = h("div", { class: "nb-bar" });
  const title = h("b");
  const refresh = h("button", { "data-action": "refresh" }, "Refresh");
  refresh.onclick = () => model.send({ action: "refresh" });
  const search = h("input", { type: "search", placeholder: "filter: name, tag, lr=0.1 …", "data-role": "filter" });
  search.oninput = () => {
    state.query = search.value;
    draw();
  };
  const groupBox = h("input", { type: "checkbox", "data-role": "group-toggle" });
  groupBox.onchange = () => {
    state.grouped = groupBox.checked;
    draw();
  };
  const groupLabel = h("label", { class: "nb-check" });
  groupLabel.append(groupBox, document.createTextNode(" group"));
  const delBtn = h("button", { "data-action": "delete" }, "Delete…");
  delBtn.onclick = () => {
    state.confirm = "delete";
    state.option = false;
    drawConfirm();
  };
  const moveBtn = h("button", { "data-action": "move" }, "Move…");
  moveBtn.onclick = () => {
    state.confirm = "move";
    state.option = false;
    state.to = "";
    drawConfirm();
  };
  const count = h("span", { class: "nb-count" });
  bar.append(title, refresh, search, groupLabel, delBtn, moveBtn, count);

  const confirmBox = h("div", { class: "nb-confirm", "data-role": "confirm" });
  const msg = h("div", { class: "nb-msg", "data-role": "message" });
  const notice = h("div", { class: "nb-notice", "data-role": "notice" });
  const scroller = h("div", { class: "nb-scroll" });
  const tableEl = h("table", { class: "nb-runs" });
  scroller.appendChild(tableEl);
  const compare_ = h("div", { class: "nb-compare" });
  const pcBox = h("div", { class: "nb-pc-box" });
  const chartsBox = h("div", { class: "nb-charts", "data-role": "overlay" });
  compare_.append(pcBox, chartsBox);
  // the project's sweeps, each a collapsible section above the table (rule 69; lib/sweeps.js)
  const sweepsBox = h("div", { class: "nb-sweeps", "data-role": "sweeps" });
  /** @type {Set<string>} */
  const sweepsShut = new Set();
  const drawSweepsNow = () =>
    drawSweeps(sweepsBox, model.get("sweeps") || [], {
      parallel,
      collapsed: sweepsShut,
      open: (key) => model.send({ action: "open", key }),
    });
  // the opened run's dashboard: a widget of its own, shown here (the `dashboard` trait)
  const opened = h("div", { class: "nb-opened-dashboard" });
  root.append(bar, confirmBox, msg, notice, sweepsBox, scroller, compare_, opened);
  el.appendChild(root);
  const dashboard = showDashboard(model, host, opened);
  // the static snapshot displayed with this view (for saved notebooks) hides while it shows
  const snapId = model.get("snapshot_id");
  const unhide = snapId ? hideSnapshot("snapshot", snapId) : () => {};

  const runsByKey = () => new Map((model.get("runs") || []).map((r) => [r.key, r]));
  let selectTimer = null;
  function sendSelection() {
    clearTimeout(selectTimer);
    selectTimer = setTimeout(flushSelection, 120);
  }
  function flushSelection() {
    selectTimer = null;
    model.send({ action: "select", keys: [...state.selected] });
  }
  // a delete or move goes after any selection still waiting on its timer, so the kernel
  // sees them in the order the user made them
  function sendAction(msg) {
    if (selectTimer !== null) {
      clearTimeout(selectTimer);
      flushSelection();
    }
    model.send(msg);
  }

  function drawConfirm() {
    const keys = [...state.selected];
    const byKey = runsByKey();
    confirmBox.replaceChildren();
    confirmBox.dataset.open = state.confirm && keys.length ? state.confirm : "";
    if (!state.confirm || !keys.length) return;
    const names = keys.map((k) => (byKey.get(k) ? `${byKey.get(k).name} (${k})` : k)).join(", ");
    const cancel = h("button", { "data-action": "cancel" }, "Cancel");
    cancel.onclick = () => {
      state.confirm = null;
      drawConfirm();
    };
    const box = h("input", { type: "checkbox", "data-role": "confirm-option" });
    box.checked = state.option;
    box.onchange = () => {
      state.option = box.checked;
    };
    const opt = h("label", { class: "nb-check" });
    if (state.confirm === "delete") {
      opt.append(box, document.createTextNode(" detach forks (copy the rows they inherited into them first)"));
      const go = h("button", { "data-action": "confirm-delete", class: "nb-danger" }, `Delete ${keys.length}`);
      go.onclick = () => {
        sendAction({ action: "delete", keys, detach: box.checked });
        state.confirm = null;
        drawConfirm();
      };
      confirmBox.append(
        h("div", {}, `Delete ${keys.length} run(s) with their history and files: ${names}?`),
        opt,
        go,
        cancel,
      );
    } else {
      const to = h("input", { type: "text", placeholder: "project", "data-role": "move-to" });
      to.value = state.to;
      to.oninput = () => {
        state.to = to.value;
      };
      opt.append(box, document.createTextNode(" with lineage (forks and parents move too)"));
      const go = h("button", { "data-action": "confirm-move" }, "Move");
      go.onclick = () => {
        sendAction({ action: "move", keys, to: to.value, lineage: box.checked });
        state.confirm = null;
        drawConfirm();
      };
      confirmBox.append(h("div", {}, `Move ${keys.length} run(s) to another project: ${names}`), to, opt, go, cancel);
    }
  }

  function header(label, col) {
    const th = h("th", col ? { "data-sort": col, class: "nb-sortable" } : {});
    const arrow = state.sort === col && col ? (state.dir > 0 ? " ▲" : " ▼") : "";
    th.textContent = label + arrow;
    if (col) {
      th.title = "sort";
      th.onclick = () => {
        if (state.sort === col) {
          if (state.dir > 0) state.dir = -1;
          else {
            state.sort = null;
            state.dir = 1;
          }
        } else {
          state.sort = col;
          state.dir = 1;
        }
        draw();
      };
    }
    return th;
  }

  function runRow(r, cfgCols, sumCols, allProjects, flat) {
    const opened = model.get("opened");
    const tr = h("tr", {
      "data-run-id": r.id,
      "data-key": r.key,
      "data-depth": String(r.depth),
      "data-opened": r.key === opened || r.id === opened ? "1" : "0",
    });
    const check = h("input", { type: "checkbox", "data-role": "select" });
    check.checked = state.selected.has(r.key);
    check.onchange = () => {
      if (check.checked) state.selected.add(r.key);
      else state.selected.delete(r.key);
      drawCount();
      drawParallel();
      sendSelection();
    };
    const c0 = h("td");
    c0.appendChild(check);
    const branch = !flat && r.depth ? `${"  ".repeat(r.depth - 1)}└─` : "";
    const nameCell = h("td", { class: "nb-name nb-wrap" });
    nameCell.append(h("span", { class: "nb-swatch", style: `background:${r.color}` }), document.createTextNode(r.name));
    const fork = r.forked_from
      ? `${r.forked_from} @${r.fork_step}`
      : r.detached_from
        ? `(${r.detached_from}, deleted)`
        : "";
    const changed = Object.entries(r.changed || {})
      .map(([k, d]) => `${k}: ${fmt(d.from)}→${fmt(d.to)}`)
      .join(", ");
    const cells = [c0, h("td", { class: "nb-branch" }, branch), nameCell];
    if (allProjects) cells.push(h("td", { "data-col": "project" }, r.project));
    cells.push(
      h("td", {}, r.id),
      h("td", {}, r.state),
      h("td", {}, fmt(r.step)),
      h("td", {}, r.group ?? ""),
      h("td", { class: "nb-wrap" }, fork),
      h("td", { class: "nb-wrap" }, changed),
      h("td", { class: "nb-wrap" }, (r.tags || []).join(", ")),
    );
    for (const k of cfgCols)
      cells.push(h("td", { "data-col": `c:${k}`, class: "nb-num" }, k in (r.config || {}) ? fmt(r.config[k]) : ""));
    for (const k of sumCols) cells.push(h("td", { "data-col": `s:${k}`, class: "nb-num" }, cellText(r.summary?.[k])));
    const open = h("button", { "data-action": "open" }, "open");
    open.onclick = () => model.send({ action: "open", key: r.key, id: r.id });
    const last = h("td");
    last.appendChild(open);
    tr.append(...cells, last);
    return tr;
  }

  function visibleRuns() {
    return (model.get("runs") || []).filter((r) => matches(r, state.query));
  }

  function drawCount() {
    const n = state.selected.size;
    count.textContent = n ? `${n} selected` : "";
    delBtn.disabled = !n;
    moveBtn.disabled = !n;
  }

  function draw() {
    const all = model.get("runs") || [];
    const project = model.get("project");
    const allProjects = !project;
    const present = new Set(all.map((r) => r.key));
    for (const k of [...state.selected]) if (!present.has(k)) state.selected.delete(k);
    let runs = visibleRuns();
    title.textContent = `${project || "all projects"}: ${runs.length === all.length ? "" : `${runs.length} of `}${all.length} runs`;
    msg.textContent = model.get("message") || "";
    notice.textContent = model.get("notice") || "";
    const cfgCols = configColumns(runs.length ? runs : all);
    const sumCols = summaryColumns(runs.length ? runs : all);
    const flat = state.sort !== null;
    if (flat)
      runs = [...runs].sort(
        (a, b) =>
          state.dir * compare(colValue(a, state.sort), colValue(b, state.sort)) || compare(a.created, b.created),
      );
    const head = h("tr");
    const allBox = h("input", { type: "checkbox", "data-role": "select-all" });
    allBox.checked = runs.length > 0 && runs.every((r) => state.selected.has(r.key));
    allBox.onchange = () => {
      for (const r of runs) {
        if (allBox.checked) state.selected.add(r.key);
        else state.selected.delete(r.key);
      }
      draw();
      sendSelection();
    };
    const th0 = h("th");
    th0.appendChild(allBox);
    head.append(th0, header("", null), header("name", "name"));
    if (allProjects) head.appendChild(header("project", "project"));
    head.append(
      header("id", "id"),
      header("state", "state"),
      header("last step", "step"),
      header("group", "group"),
      header("forked from", null),
      header("changed", null),
      header("tags", "tags"),
    );
    for (const k of cfgCols) head.appendChild(header(k, `c:${k}`));
    for (const k of sumCols) head.appendChild(header(k, `s:${k}`));
    head.appendChild(header("", null));
    const ncols = head.children.length;
    const cfgIdx = 10 + (allProjects ? 1 : 0);
    for (let i = 0; i < cfgCols.length; i++) head.children[cfgIdx + i].classList.add("nb-cfg");
    for (let i = 0; i < sumCols.length; i++) head.children[cfgIdx + cfgCols.length + i].classList.add("nb-sum");
    const rows = [head];
    if (state.grouped) {
      const groups = new Map();
      for (const r of runs) {
        const g = r.group ?? "(no group)";
        if (!groups.has(g)) groups.set(g, []);
        groups.get(g).push(r);
      }
      for (const [g, members] of groups) {
        const shut = state.collapsed.has(g);
        const tr = h("tr", { class: "nb-group", "data-group": g, "data-collapsed": shut ? "1" : "0" });
        const td = h("td", { colspan: String(ncols) });
        const btn = h(
          "button",
          { "data-action": "toggle-group" },
          `${shut ? "▸" : "▾"} ${g} · ${members.length} run(s)`,
        );
        btn.onclick = () => {
          if (shut) state.collapsed.delete(g);
          else state.collapsed.add(g);
          draw();
        };
        td.appendChild(btn);
        tr.appendChild(td);
        rows.push(tr);
        if (!shut) for (const r of members) rows.push(runRow(r, cfgCols, sumCols, allProjects, true));
      }
    } else {
      for (const r of runs) rows.push(runRow(r, cfgCols, sumCols, allProjects, flat));
    }
    tableEl.replaceChildren(...rows);
    drawCount();
    drawConfirm();
    drawParallel();
  }

  function drawParallel() {
    const all = model.get("runs") || [];
    const byKey = runsByKey();
    const chosen = [...state.selected].map((k) => byKey.get(k)).filter(Boolean);
    const runs = chosen.length >= 2 ? chosen : visibleRuns();
    const sumCols = summaryColumns(all).filter((k) => runs.some((r) => typeof cellValue(r.summary?.[k]) === "number"));
    pcBox.replaceChildren();
    if (!sumCols.length || runs.length < 2) return;
    if (!sumCols.includes(state.metric)) state.metric = sumCols.find((k) => /loss/i.test(k)) || sumCols[0];
    const pick = h("select", { "data-role": "pc-metric" });
    for (const k of sumCols) {
      const o = h("option", { value: k }, k);
      if (k === state.metric) o.selected = true;
      pick.appendChild(o);
    }
    pick.onchange = () => {
      state.metric = pick.value;
      drawParallel();
    };
    const label = h("div", { class: "nb-pc-head" });
    label.append(
      h("b", {}, "config vs "),
      pick,
      h(
        "span",
        { class: "nb-dim" },
        chosen.length >= 2 ? ` · ${runs.length} selected runs` : ` · ${runs.length} runs (select runs to narrow)`,
      ),
    );
    const metric = state.metric;
    const axes = configColumns(runs).map((k) => ({ name: k, get: (r) => r.config?.[k] }));
    axes.push({
      name: metric,
      get: (r) => {
        const v = cellValue(r.summary?.[metric]);
        return typeof v === "number" ? v : null;
      },
    });
    pcBox.append(label, parallel(runs, axes, metric));
  }

  function drawOverlay() {
    const ov = model.get("overlay") || {};
    const runs = ov.runs || [];
    chartsBox.replaceChildren();
    chartsBox.dataset.charts = "0";
    chartsBox.dataset.ready = runs.length ? "0" : "";
    if (!runs.length) return;
    const legend = h("div", { class: "nb-legend" });
    for (const r of runs) {
      const item = h("span", { class: "nb-legend-item", "data-key": r.key });
      item.append(h("span", { class: "nb-swatch", style: `background:${r.color}` }), document.createTextNode(r.name));
      legend.appendChild(item);
    }
    if (ov.left_out) legend.appendChild(h("span", { class: "nb-dim" }, `(${ov.left_out} more selected, not drawn)`));
    const forks = runs.some((r) => r.base !== null && r.base !== undefined);
    if (forks) {
      const diffBox = h("input", { type: "checkbox", "data-action": "diff" });
      diffBox.checked = state.diff;
      diffBox.onchange = () => {
        state.diff = diffBox.checked;
        drawOverlay();
      };
      const label = h("label", { class: "nb-check", title: "each fork minus its parent at the same step (rule 67)" });
      label.append(diffBox, document.createTextNode(" fork − parent"));
      legend.appendChild(label);
    }
    const grid = h("div", { class: "nb-grid" });
    chartsBox.append(legend, grid);
    const metrics = ov.metrics || [];
    for (const metric of metrics) grid.appendChild(overlayChart(ov, runs, metric));
    chartsBox.dataset.charts = String(metrics.length);
    chartsBox.dataset.ready = "1";
  }

  // one overlay chart with its controls: log y (on at first when the values span decades)
  // and "whole run" / "after the fork" (the initial range starts near the earliest fork)
  /**
   * @param {{ points: Record<string, number[][]>, diff?: Record<string, number[][]> }} ov
   * @param {{ key: string, name: string, color: string, base?: number | null, start?: number | null }[]} runs
   * @param {string} metric
   * @returns {HTMLElement}
   */
  function overlayChart(ov, runs, metric) {
    const diffs = ov.diff?.[metric] || [];
    const diff = state.diff && diffs.length > 0;
    /** @type {import("./lib/overlaychart.js").OverlaySeries[]} */
    const series = runs.map((r) => ({ ...r, pts: [] }));
    for (const [i, st, y] of (diff ? diffs : ov.points[metric]) || []) series[i].pts.push([st, y]);
    if (!state.log.has(metric)) state.log.set(metric, spansDecades((ov.points[metric] || []).map((p) => p[2])));
    const div = h("div", { class: "nb-chart", "data-metric": metric });
    const redraw = () => div.replaceWith(overlayChart(ov, runs, metric));
    const svg = lineChart(metric, series, { log: !!state.log.get(metric), whole: state.whole.has(metric), diff });
    const controls = h("div", { class: "nb-chart-controls" });
    const logBox = h("input", { type: "checkbox", "data-action": "log-y" });
    logBox.checked = svg.getAttribute("data-log") === "1";
    logBox.disabled = diff;
    logBox.onchange = () => {
      state.log.set(metric, logBox.checked);
      redraw();
    };
    const logLabel = h("label", { class: "nb-check", title: "log scale y (on at first when values span decades)" });
    logLabel.append(logBox, document.createTextNode(" log y"));
    controls.appendChild(logLabel);
    if (svg.getAttribute("data-focus") === "1") {
      const whole = state.whole.has(metric);
      const btn = h(
        "button",
        { type: "button", "data-action": "whole-run", title: "the whole run, or the steps from the first fork on" },
        whole ? "after the fork" : "whole run",
      );
      btn.onclick = () => {
        if (whole) state.whole.delete(metric);
        else state.whole.add(metric);
        redraw();
      };
      controls.appendChild(btn);
    }
    div.append(controls, svg);
    return div;
  }

  const evs = ["change:runs", "change:opened", "change:message", "change:notice", "change:project"];
  for (const ev of evs) model.on(ev, draw);
  model.on("change:overlay", drawOverlay);
  model.on("change:sweeps", drawSweepsNow);
  draw();
  drawSweepsNow();
  return () => {
    unhide();
    unfollow();
    dashboard.dispose();
    for (const ev of evs) model.off(ev, draw);
    model.off("change:sweeps", drawSweepsNow);
  };
}

/**
 * Show the model the `dashboard` trait names (`anywidget:<id>`) in `target`, again whenever it
 * changes (rule 72: one widget, hosted by JupyterLab, Notebook 7 and marimo alike).
 * @param {any} model @param {any} host @param {HTMLElement} target
 */
function showDashboard(model, host, target) {
  let shown = "";
  /** @type {() => void} */
  let remove = () => {};
  let alive = true;
  const update = async () => {
    const ref = String(model.get("dashboard") || "");
    if (ref === shown) return;
    shown = ref;
    remove();
    remove = () => {};
    target.replaceChildren();
    target.setAttribute("data-dashboard", ref);
    if (!ref) return;
    try {
      const box = h("div");
      const undo = await renderChild({ host, model, ref, target: box });
      if (!alive || shown !== ref) return undo();
      remove = undo;
      target.appendChild(box);
    } catch (err) {
      target.appendChild(h("pre", { class: "nb-opened-error" }, `the dashboard could not be shown: ${err}`));
    }
  };
  model.on("change:dashboard", update);
  update();
  return {
    dispose() {
      alive = false;
      model.off("change:dashboard", update);
      remove();
    },
  };
}

/** @type {import("@anywidget/types").AnyWidget} */
export default { render };
