// The dashboard's actions: the toolbar (selected step, Fork / Rewind / Stop, status), the
// fork config editor and the rewind confirmation. Each action is one message
// `{action, req, ...}`; Python answers through the `result` trait with the same `req`.
import { h } from "../lib/dom.js";
import { selectionText } from "./chartstate.js";

export function createActions({ model }) {
  const toolbar = h("div", { class: "nb-toolbar" });
  const selEl = h("span", { class: "nb-selected", "data-selected-step": "" }, "click a point");
  const forkBtn = h("button", { "data-action": "fork", title: "fork a new run from the selected step" }, "Fork");
  const rewindBtn = h("button", { "data-action": "rewind", title: "rewind this run to the selected step" }, "Rewind");
  const stopBtn = h("button", { "data-action": "stop", title: "stop the running run" }, "Stop");
  const statusEl = h("span", { class: "nb-status", "data-status": "" });
  toolbar.append(selEl, forkBtn, rewindBtn, stopBtn, statusEl);
  const panel = h("div", { class: "nb-panel" });

  let reqCounter = Math.floor(Math.random() * 1e6);
  let pending = null;
  let stopping = false; // a stop was accepted: the status says so until the run has ended

  function updateButtons() {
    const ov = model.get("overview") || {};
    const step = model.get("selected_step");
    const busy = pending !== null;
    const has = step !== null && step !== undefined;
    forkBtn.disabled = busy || !has;
    rewindBtn.disabled = busy || !has;
    const live = ov.state === "running" || ov.state === "preempting";
    stopBtn.disabled = busy || !live;
    if (stopping && !live && ov.state) {
      stopping = false;
      setStatus("ok", `stopped: ${ov.id} ended as ${ov.state} at step ${ov.last_step ?? "—"}`);
    }
  }

  // the step last clicked on a chart, and the selection it gave (the checkpoint at or before
  // it): the toolbar says both while that selection stands (issue 25)
  let lastClick = { clicked: null, selected: null };
  function clicked(step) {
    lastClick = { clicked: step, selected: model.get("selected_step") };
  }

  // "step 200 → continues from the checkpoint at step 189" above the Fork / Rewind panel
  // when the clicked step is not the selected one
  function snapNote(step) {
    const from = lastClick.selected === step ? lastClick.clicked : null;
    if (from === null || from === step) return [];
    return [h("div", { class: "nb-snap-note", "data-snap-note": "1" }, selectionText(from, step))];
  }

  function showSelection() {
    const step = model.get("selected_step");
    const has = step !== null && step !== undefined;
    const from = has && lastClick.selected === step ? lastClick.clicked : null;
    selEl.textContent = selectionText(from, step);
    selEl.setAttribute("data-selected-step", has ? String(step) : "");
    selEl.setAttribute("data-clicked-step", from === null ? "" : String(from));
    updateButtons();
  }

  function setStatus(kind, text) {
    statusEl.setAttribute("data-status", kind);
    statusEl.textContent = text;
  }

  function send(action, extra, what) {
    const req = ++reqCounter;
    pending = { req, action, what };
    model.send({ action, req, ...extra });
    setStatus("pending", `${what}: sent…`);
    updateButtons();
    setTimeout(() => {
      if (pending && pending.req === req) {
        setStatus(
          "queued",
          `${what}: queued, the kernel is busy (a cell is running); it happens when the cell finishes`,
        );
      }
    }, 800);
  }

  function onResult() {
    const r = model.get("result") || {};
    if (!pending || r.req !== pending.req) return;
    pending = null;
    setStatus(r.ok ? "ok" : "error", r.message || (r.ok ? "done" : "failed"));
    if (r.ok && r.run_id) statusEl.setAttribute("data-run-id", r.run_id);
    stopping = Boolean(r.ok && r.action === "stop");
    panel.replaceChildren();
    updateButtons();
  }

  function configEditor(step) {
    const ov = model.get("overview") || {};
    const config = ov.config || {};
    panel.replaceChildren();
    panel.setAttribute("data-panel", "fork");
    panel.append(...snapNote(step));
    panel.appendChild(h("div", {}, `Fork from step ${step}: edit the config of the new run`));
    const fields = h("div", { class: "nb-fields" });
    const inputs = [];
    for (const [k, v] of Object.entries(config)) {
      const row = h("div", { class: "nb-field" });
      const id = `nbf-${reqCounter}-${inputs.length}`;
      row.appendChild(h("label", { for: id }, k));
      let input;
      if (typeof v === "boolean") {
        input = h("input", { type: "checkbox", id, "data-key": k });
        input.checked = v;
      } else if (typeof v === "number") {
        input = h("input", { type: "number", step: "any", id, "data-key": k });
        input.value = String(v);
      } else if (typeof v === "string") {
        input = h("input", { type: "text", id, "data-key": k });
        input.value = v;
      } else {
        input = h("input", { type: "text", id, "data-key": k, "data-json": "1" });
        input.value = JSON.stringify(v);
      }
      inputs.push([k, input]);
      row.appendChild(input);
      fields.appendChild(row);
    }
    const area = h("textarea", { class: "nb-json", "data-key": "__json__" });
    area.value = JSON.stringify(config, null, 2);
    area.style.display = "none";
    const toggle = h("button", { "data-action": "toggle-json" }, "edit as JSON");
    let jsonMode = false;
    toggle.onclick = () => {
      jsonMode = !jsonMode;
      area.style.display = jsonMode ? "" : "none";
      fields.style.display = jsonMode ? "none" : "";
      toggle.textContent = jsonMode ? "edit as fields" : "edit as JSON";
    };
    const msg = h("div", { class: "nb-status", "data-status": "" });
    const ok = h("button", { "data-action": "confirm-fork" }, `Fork at step ${step}`);
    const cancel = h("button", { "data-action": "cancel" }, "Cancel");
    cancel.onclick = () => panel.replaceChildren();
    ok.onclick = () => {
      let out;
      try {
        if (jsonMode) {
          out = JSON.parse(area.value);
          if (typeof out !== "object" || out === null || Array.isArray(out))
            throw new Error("the config must be a JSON object");
        } else {
          out = {};
          for (const [k, input] of inputs) {
            if (input.type === "checkbox") out[k] = input.checked;
            else if (input.type === "number") {
              const n = Number(input.value);
              if (input.value.trim() === "" || !Number.isFinite(n))
                throw new Error(`${k}: ${JSON.stringify(input.value)} is not a number`);
              out[k] = n;
            } else if (input.getAttribute("data-json")) {
              try {
                out[k] = JSON.parse(input.value);
              } catch {
                throw new Error(`${k}: not valid JSON`);
              }
            } else out[k] = input.value;
          }
        }
      } catch (e) {
        msg.setAttribute("data-status", "error");
        msg.textContent = e instanceof Error ? e.message : String(e);
        return;
      }
      send("fork", { step, config: out }, `fork at step ${step}`);
    };
    const buttons = h("div", { class: "nb-toolbar" });
    buttons.append(ok, cancel, toggle);
    panel.append(fields, area, buttons, msg);
  }

  function rewindConfirm(step) {
    const ov = model.get("overview") || {};
    panel.replaceChildren();
    panel.setAttribute("data-panel", "rewind");
    panel.append(...snapNote(step));
    panel.appendChild(
      h(
        "div",
        {},
        `Rewind run ${ov.id} to step ${step}? Its rows after step ${step} move to an archived segment (kept, drawn faded) and the run continues at step ${step + 1}.`,
      ),
    );
    const ok = h("button", { "data-action": "confirm-rewind" }, `Rewind to step ${step}`);
    const cancel = h("button", { "data-action": "cancel" }, "Cancel");
    cancel.onclick = () => panel.replaceChildren();
    ok.onclick = () => send("rewind", { step }, `rewind to step ${step}`);
    const buttons = h("div", { class: "nb-toolbar" });
    buttons.append(ok, cancel);
    panel.appendChild(buttons);
  }

  forkBtn.onclick = () => configEditor(model.get("selected_step"));
  rewindBtn.onclick = () => rewindConfirm(model.get("selected_step"));
  stopBtn.onclick = () => send("stop", {}, "stop");

  return { toolbar, panel, showSelection, clicked, updateButtons, onResult };
}
