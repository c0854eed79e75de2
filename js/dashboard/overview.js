// The dashboard's overview: the header (name, state, id, step, progress), the tables (run,
// config or its change against the parent, summary, forks, archived segments, saved files,
// artifacts in and out, alerts) and the error box. Every value is written as text.
import { h, table } from "../lib/dom.js";
import { fmt, fmtTime } from "../lib/format.js";

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

export function createOverview({ model, root }) {
  const head = h("div", { class: "nb-head" });
  const nameEl = h("span", { class: "nb-name" });
  const stateEl = h("span", { class: "nb-state" });
  const idEl = h("span", { class: "nb-id" });
  const stepEl = h("span", { class: "nb-step" });
  const progress = h("progress", { class: "nb-progress" });
  head.append(nameEl, stateEl, idEl, stepEl, progress);
  const errorEl = h("pre", { class: "nb-error" });
  const tablesEl = h("div", { class: "nb-overview" });

  function render() {
    const ov = model.get("overview") || {};
    nameEl.textContent = ov.name ?? "";
    stateEl.textContent = ov.state ?? "";
    stateEl.setAttribute("data-state", ov.state ?? "");
    root.setAttribute("data-run-id", ov.id ?? "");
    root.setAttribute("data-state", ov.state ?? "");
    idEl.textContent = `${ov.project ?? ""}/${ov.id ?? ""}`;
    stepEl.textContent = `step ${Math.max(0, (ov.step ?? 0) - 1)} · ${fmtTime(ov.runtime)}`;
    if (typeof ov.total === "number" && ov.total > 0) {
      progress.max = ov.total;
      progress.value = Math.min(ov.step ?? 0, ov.total);
      progress.style.display = "";
      progress.title = `${ov.step ?? 0} / ${ov.total}`;
    } else progress.style.display = "none";
    const info = [
      ["id", ov.id], ["state", ov.state], ["runtime", fmtTime(ov.runtime)],
      ["step", fmt(ov.step)], ["tags", (ov.tags || []).join(", ") || "—"], ["notes", fmt(ov.notes)],
    ];
    if (ov.group) info.push(["group", ov.group]);
    if (ov.job_type) info.push(["job_type", ov.job_type]);
    if (ov.forked_from) info.push(["forked from", `${ov.forked_from.run_id} at step ${ov.forked_from.step}`]);
    const blocks = [table("run", info, { class: "nb-info" })];
    if (ov.forked_from) {
      const diff = Object.entries(ov.config_diff || {}).map(([k, d]) => [k, `${fmt(d.from)} → ${fmt(d.to)}`]);
      blocks.push(table(`config changed vs parent ${ov.forked_from.run_id}`, diff, { class: "nb-config", "data-diff": "1" }));
    } else {
      blocks.push(table("config", Object.entries(ov.config || {}).map(([k, v]) => [k, fmt(v)]), { class: "nb-config" }));
    }
    blocks.push(table("summary", Object.entries(ov.summary || {}).map(([k, v]) => [k, fmt(v)]), { class: "nb-summary" }));
    if ((ov.children || []).length) {
      blocks.push(table("forks", ov.children.map((c) => [c.id, `${c.name} · at step ${c.step} · ${c.state}`]), { class: "nb-children" }));
    }
    if ((ov.archives || []).length) {
      blocks.push(table("archived segments", ov.archives.map((a) => [`#${a.index}`, `steps ${a.from_step}–${a.to_step} · ${a.rows ?? "?"} rows · ${a.reason}`]), { class: "nb-archives" }));
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
    if ((ov.alerts || []).length) {
      blocks.push(table("alerts", ov.alerts.map((a) => [String(a.level ?? ""), `${a.title ?? ""}: ${String(a.text ?? "").slice(0, 300)}`]), { class: "nb-alerts" }));
    }
    tablesEl.replaceChildren(...blocks);
    renderErrors();
  }

  // The restore warning, the training error and the widget's `error` trait, in that order.
  function renderErrors() {
    const ov = model.get("overview") || {};
    const parts = [];
    if (ov.restore_warning) parts.push(`note: ${ov.restore_warning}`);
    if (ov.training_error) parts.push(`training failed:\n${ov.training_error}`);
    if (model.get("error")) parts.push(model.get("error"));
    errorEl.textContent = parts.join("\n\n");
  }

  // An error of the front end itself (until the next render of the errors).
  function reportError(text) {
    errorEl.textContent = text;
  }

  return { head, errorEl, tablesEl, render, renderErrors, reportError };
}
