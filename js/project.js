// nbrun project view: a table of runs with their lineage (forks indented under their parent);
// "open" asks Python to show that run's dashboard. Python side: nbrun/widgets/_project.py.
// All run data is written with textContent, never as HTML.
import CSS from "./project.css";
import { h } from "./lib/dom.js";
import { fmt as fmtDigits } from "./lib/format.js";
import { hideSnapshot } from "./lib/theme.js";

const fmt = (v) => fmtDigits(v, 5);

function render({ model, el }) {
  const root = h("div", { class: "nbrun-project" });
  root.appendChild(h("style", {}, CSS));
  const bar = h("div");
  const title = h("b");
  const refresh = h("button", { "data-action": "refresh" }, "Refresh");
  refresh.onclick = () => model.send({ action: "refresh" });
  bar.append(title, document.createTextNode(" "), refresh);
  const msg = h("div", { class: "nb-msg" });
  const tableEl = h("table");
  root.append(bar, msg, tableEl);
  el.appendChild(root);
  // the static snapshot displayed with this view (for saved notebooks) hides while it shows
  const snapId = model.get("snapshot_id");
  const unhide = snapId ? hideSnapshot("snapshot", snapId) : () => {};

  function draw() {
    const runs = model.get("runs") || [];
    title.textContent = `${model.get("project") || "all projects"}: ${runs.length} runs`;
    msg.textContent = model.get("message") || "";
    const head = h("tr");
    for (const c of ["", "name", "id", "state", "step", "forked from", "changed", "summary", "tags", ""]) {
      head.appendChild(h("th", {}, c));
    }
    const rows = [head];
    const opened = model.get("opened");
    for (const r of runs) {
      const tr = h("tr", { "data-run-id": r.id, "data-depth": String(r.depth), "data-opened": r.id === opened ? "1" : "0" });
      const branch = r.depth ? `${"  ".repeat(r.depth - 1)}└─` : "";
      const changed = Object.entries(r.changed || {}).map(([k, d]) => `${k}: ${fmt(d.from)}→${fmt(d.to)}`).join(", ");
      const summary = Object.entries(r.summary || {}).map(([k, v]) => `${k}=${fmt(v)}`).join(", ");
      const fork = r.forked_from ? `${r.forked_from} @${r.fork_step}` : "";
      const open = h("button", { "data-action": "open" }, "open");
      open.onclick = () => model.send({ action: "open", id: r.id });
      const cells = [
        h("td", { class: "nb-branch" }, branch), h("td", {}, r.name), h("td", {}, r.id),
        h("td", {}, r.state), h("td", {}, fmt(r.step)), h("td", {}, fork), h("td", {}, changed),
        h("td", {}, summary), h("td", {}, (r.tags || []).join(", ")),
      ];
      const last = h("td");
      last.appendChild(open);
      tr.append(...cells, last);
      rows.push(tr);
    }
    tableEl.replaceChildren(...rows);
  }
  const evs = ["change:runs", "change:opened", "change:message", "change:project"];
  for (const ev of evs) model.on(ev, draw);
  draw();
  return () => { unhide(); for (const ev of evs) model.off(ev, draw); };
}

export default { render };
