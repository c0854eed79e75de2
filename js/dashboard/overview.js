// The dashboard's overview: the header (name, state, id, step, progress), the tables (run,
// config or its change against the parent, summary, forks, archived segments, saved files,
// artifacts in and out, alerts) and the error box. Every value is written as text.
import { h, table } from "../lib/dom.js";
import { fmt, fmtSummary, fmtTime } from "../lib/format.js";

// Bytes as B / KB / MB.
function fmtBytes(n) {
  const v = Number(n) || 0;
  if (v >= 1048576) return `${(v / 1048576).toFixed(1)} MB`;
  if (v >= 1024) return `${(v / 1024).toFixed(1)} KB`;
  return `${v} B`;
}

// An artifact version: its name, then type · aliases · size (· inherited from RUN).
function artifactRow(a) {
  const parts = [a.type, (a.aliases || []).join(", "), fmtBytes(a.size)];
  if (a.inherited_from) parts.push(`inherited from ${a.inherited_from}`);
  return [String(a.name), parts.filter(Boolean).join(" · ")];
}

// "2 CPUs · 23.5 GB memory · GPU NVIDIA A100 ×2" from the overview's `about`.
function hardware(ab) {
  const parts = [];
  if (ab.cpu_count) parts.push(`${ab.cpu_count} CPUs`);
  if (ab.memory_total) parts.push(`${(ab.memory_total / 1073741824).toFixed(1)} GB memory`);
  if (ab.gpu) parts.push(`GPU ${ab.gpu}${ab.gpu_count > 1 ? ` ×${ab.gpu_count}` : ""}`);
  else parts.push("no GPU");
  return parts.join(" · ");
}

// The rows of the "system" table: what W&B's Overview tab lists of the run's process.
export function aboutRows(ov) {
  const ab = ov.about || {};
  const rows = [];
  if (ab.command) rows.push(["command", String(ab.command)]);
  if (ab.notebook) rows.push(["notebook", String(ab.notebook)]);
  if (ab.git) {
    const g = ab.git;
    const commit = g.commit ? String(g.commit).slice(0, 12) : "—";
    rows.push(["git", [commit, g.remote ? String(g.remote) : "no remote", g.dirty ? "dirty" : "clean"].join(" · ")]);
  }
  if (ab.host) rows.push(["host", String(ab.host)]);
  if (ab.trained_by) rows.push(["trained by", String(ab.trained_by)]);
  if (ab.created_by) rows.push(["created by", String(ab.created_by)]);
  if (ab.os) rows.push(["OS", String(ab.os)]);
  if (ab.python) rows.push(["Python", String(ab.python)]);
  rows.push(["hardware", hardware(ab)]);
  rows.push(["duration", `${fmtTime(ab.duration)} (runtime ${fmtTime(ov.runtime)})`]);
  return rows;
}

// The editable fields: name, tags (comma-separated), notes. They live outside the tables that
// each overview update rebuilds, so typing is never interrupted; a field the user is editing
// is not overwritten by updates.
function createEditor(model) {
  const el = h("div", { class: "nb-edit" });
  el.appendChild(h("h4", {}, "edit"));
  const inputs = {
    name: h("input", { type: "text", "data-edit": "name", "aria-label": "run name" }),
    tags: h("input", { type: "text", "data-edit": "tags", "aria-label": "tags", placeholder: "tags, comma-separated" }),
    notes: h("textarea", { "data-edit": "notes", "aria-label": "notes", placeholder: "notes", rows: "2" }),
  };
  for (const [field, input] of Object.entries(inputs)) {
    const row = h("label", { class: "nb-edit-row" });
    row.append(h("span", {}, field), input);
    el.appendChild(row);
    input.addEventListener("input", () => input.setAttribute("data-dirty", "1"));
    if (field !== "notes")
      input.addEventListener("keydown", (e) => {
        if (e.key === "Enter") save();
      });
  }
  const saveBtn = h("button", { "data-action": "save-edits" }, "Save");
  const status = h("span", { class: "nb-edit-status", "data-status": "" });
  const bar = h("div", { class: "nb-edit-bar" });
  bar.append(saveBtn, status);
  el.appendChild(bar);
  let req = Math.floor(Math.random() * 1e6);
  const waiting = new Map(); // req -> field

  function save() {
    const dirty = Object.entries(inputs).filter(([, i]) => i.getAttribute("data-dirty") === "1");
    if (!dirty.length) {
      status.setAttribute("data-status", "ok");
      status.textContent = "nothing changed";
      return;
    }
    for (const [field, input] of dirty) {
      const r = ++req;
      waiting.set(r, field);
      model.send({ action: "edit", req: r, field, value: input.value });
    }
    status.setAttribute("data-status", "pending");
    status.textContent = "saving…";
  }
  saveBtn.onclick = save;

  function onMessage(msg) {
    if (msg?.type !== "edited" || !waiting.has(msg.req)) return;
    const field = waiting.get(msg.req);
    waiting.delete(msg.req);
    if (msg.ok) inputs[field].removeAttribute("data-dirty");
    status.setAttribute("data-status", msg.ok ? "ok" : "error");
    status.textContent = String(msg.message ?? "");
    update();
  }
  model.on("msg:custom", onMessage);

  function update() {
    const ov = model.get("overview") || {};
    const values = { name: ov.name ?? "", tags: (ov.tags || []).join(", "), notes: ov.notes ?? "" };
    for (const [field, input] of Object.entries(inputs)) {
      if (input.getAttribute("data-dirty") === "1" || document.activeElement === input) continue;
      if (input.value !== values[field]) input.value = values[field];
    }
  }
  return { el, update, dispose: () => model.off("msg:custom", onMessage) };
}

// The alerts (`run.alert(...)`), newest last, coloured by level; text only.
function alertsBlock(alerts) {
  const box = h("div", { class: "nb-alerts" });
  box.appendChild(h("h4", {}, `alerts (${alerts.length})`));
  const list = h("ul", { class: "nb-alert-list" });
  for (const a of alerts.slice(-50)) {
    const level = String(a.level ?? "INFO");
    const li = h("li", { class: "nb-alert", "data-level": level });
    const when = typeof a.created === "number" ? new Date(a.created * 1000).toLocaleTimeString() : "";
    li.append(
      h("span", { class: "nb-alert-level" }, level),
      h("span", { class: "nb-alert-title" }, String(a.title ?? "")),
      h("span", { class: "nb-alert-text" }, String(a.text ?? "").slice(0, 500)),
      h("span", { class: "nb-alert-time" }, when),
    );
    list.appendChild(li);
  }
  box.appendChild(list);
  return box;
}

export function createOverview({ model, root }) {
  const head = h("div", { class: "nb-head" });
  const nameEl = h("span", { class: "nb-name" });
  const stateEl = h("span", { class: "nb-state" });
  const idEl = h("span", { class: "nb-id" });
  const stepEl = h("span", { class: "nb-step" });
  const progress = h("progress", { class: "nb-progress" });
  head.append(nameEl, stateEl, idEl, stepEl, progress);
  const noteEl = h("div", { class: "nb-note" });
  const errorEl = h("pre", { class: "nb-error" });
  const editor = createEditor(model);
  const blocksEl = h("div", { class: "nb-overview" });
  const tablesEl = h("div", { class: "nb-overview-wrap" });
  tablesEl.append(editor.el, blocksEl);

  function render() {
    const ov = model.get("overview") || {};
    const last = ov.last_step ?? null;
    nameEl.textContent = ov.name ?? "";
    stateEl.textContent = ov.state ?? "";
    stateEl.setAttribute("data-state", ov.state ?? "");
    root.setAttribute("data-run-id", ov.id ?? "");
    root.setAttribute("data-state", ov.state ?? "");
    idEl.textContent = `${ov.project ?? ""}/${ov.id ?? ""}`;
    stepEl.textContent = `last step ${fmt(last)} · ${fmtTime(ov.runtime)}`;
    stepEl.setAttribute("data-step", last === null ? "" : String(last));
    if (typeof ov.total === "number" && ov.total > 0) {
      progress.max = ov.total;
      progress.value = Math.min(ov.step ?? 0, ov.total);
      progress.style.display = "";
      progress.title = `${ov.step ?? 0} / ${ov.total}`;
    } else progress.style.display = "none";
    const info = [
      ["id", ov.id],
      ["state", ov.state],
      ["runtime", fmtTime(ov.runtime)],
      ["last step", fmt(last)],
      ["tags", (ov.tags || []).join(", ") || "—"],
      ["notes", fmt(ov.notes)],
    ];
    if (ov.group) info.push(["group", ov.group]);
    if (ov.job_type) info.push(["job_type", ov.job_type]);
    if (ov.forked_from) info.push(["forked from", `${ov.forked_from.run_id} at step ${ov.forked_from.step}`]);
    const blocks = [table("run", info, { class: "nb-info" }), table("system", aboutRows(ov), { class: "nb-about" })];
    if (ov.forked_from) {
      const diff = Object.entries(ov.config_diff || {}).map(([k, d]) => [k, `${fmt(d.from)} → ${fmt(d.to)}`]);
      blocks.push(
        table(`config changed vs parent ${ov.forked_from.run_id}`, diff, { class: "nb-config", "data-diff": "1" }),
      );
    } else {
      blocks.push(
        table(
          "config",
          Object.entries(ov.config || {}).map(([k, v]) => [k, fmt(v)]),
          { class: "nb-config" },
        ),
      );
    }
    blocks.push(
      table(
        "summary",
        Object.entries(ov.summary || {}).map(([k, v]) => [k, fmtSummary(v)]),
        { class: "nb-summary" },
      ),
    );
    if ((ov.children || []).length) {
      blocks.push(
        table(
          "forks",
          ov.children.map((c) => [c.id, `${c.name} · at step ${c.step} · ${c.state}`]),
          { class: "nb-children" },
        ),
      );
    }
    if ((ov.archives || []).length) {
      blocks.push(
        table(
          "archived segments",
          ov.archives.map((a) => [
            `#${a.index}`,
            `steps ${a.from_step}–${a.to_step} · ${a.rows ?? "?"} rows · ${a.reason}`,
          ]),
          { class: "nb-archives" },
        ),
      );
    }
    if ((ov.files || []).length) {
      const rows = ov.files.map((f) => [String(f.name), fmtBytes(f.size)]);
      if (ov.files_more) rows.push(["…", `${ov.files_more} more`]);
      blocks.push(table("files", rows, { class: "nb-files" }));
    }
    if ((ov.artifacts_out || []).length) {
      blocks.push(table("artifacts logged (out)", ov.artifacts_out.map(artifactRow), { class: "nb-artifacts-out" }));
    }
    if ((ov.artifacts_in || []).length) {
      blocks.push(table("artifacts used (in)", ov.artifacts_in.map(artifactRow), { class: "nb-artifacts-in" }));
    }
    if ((ov.alerts || []).length) blocks.push(alertsBlock(ov.alerts));
    blocksEl.replaceChildren(...blocks);
    editor.update();
    renderErrors();
  }

  // The front end's own errors (Vega did not load, ...), by key: they stay in view through
  // the kernel's renders until cleared (rule 72).
  /** @type {Map<string, string>} */
  const local = new Map();

  // The restore note (neutral: a fork or rewind snapped to a checkpoint, as designed), then
  // the training error, the widget's `error` trait and the front end's errors in the error box.
  function renderErrors() {
    const ov = model.get("overview") || {};
    noteEl.textContent = ov.restore_warning ? `note: ${ov.restore_warning}` : "";
    const parts = [];
    if (ov.training_error) parts.push(`training failed:\n${ov.training_error}`);
    if (model.get("error")) parts.push(model.get("error"));
    parts.push(...local.values());
    errorEl.textContent = parts.join("\n\n");
  }

  // An error of the front end itself, kept under `key` (its text by default) until
  // `reportError("", key)` clears it.
  function reportError(text, key = text) {
    if (text) local.set(key, text);
    else local.delete(key);
    renderErrors();
  }

  return { head, noteEl, errorEl, tablesEl, render, renderErrors, reportError, dispose: editor.dispose };
}
