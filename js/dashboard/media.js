// nbrun dashboard media panels: one panel per media key (images, histograms, tables, plots,
// video, audio, HTML), showing the step selected on the charts (snapped to the nearest step at
// or before it that has media) with a slider over the steps that have media. Content is asked
// for per panel and step (never the whole run). Python side: nbrun/widgets/_media.py; CSS in
// ../dashboard.css.
// Safety: every run-provided string is set with textContent; image/video/audio sources are
// data: URLs built by Python; HTML goes only into <iframe sandbox=""> (no scripts, no
// same-origin); plot specs are rebuilt from a whitelist in Python.
import { h } from "../lib/dom.js";
import { vegaConfig } from "../lib/theme.js";
import { VEGA_LITE_SCHEMA } from "./chartembed.js";
import { snapStep } from "./snap.js";
import { loadVega } from "./vegaload.js";

function isDataUrl(s, prefix) {
  return typeof s === "string" && s.startsWith(prefix);
}

export function createMedia({ model }) {
  const el = h("div", { class: "nb-media" });
  const panels = new Map(); // key -> panel state
  let reqCounter = Math.floor(Math.random() * 1e6);
  const views = new Set();

  function request(p, step) {
    p.req = ++reqCounter;
    p.wanted = step;
    p.stepEl.textContent = `step ${step}`;
    p.root.setAttribute("data-loading", "1");
    model.send({
      action: "media",
      req: p.req,
      key: p.key,
      step,
      size: 160,
      dist: p.kind === "histogram" && !p.distShown,
    });
  }

  function show(p, step) {
    const idx = p.steps.indexOf(step);
    if (idx >= 0) p.slider.value = String(idx);
    if (p.shown === step && p.root.getAttribute("data-loading") !== "1") return;
    request(p, step);
  }

  function follow() {
    const sel = model.get("selected_step");
    for (const p of panels.values()) {
      const step = snapStep(p.steps, sel);
      if (step !== null) show(p, step);
    }
  }

  function sync() {
    const meta = model.get("media") || [];
    const keys = new Set(meta.map((m) => m.key));
    for (const [key, p] of panels) {
      if (!keys.has(key)) {
        p.root.remove();
        panels.delete(key);
      }
    }
    for (const m of meta) {
      let p = panels.get(m.key);
      if (!p) {
        const root = h("div", { class: "nb-mpanel", "data-media-key": m.key, "data-kind": m.kind });
        const head = h("div", { class: "nb-mhead" });
        const keyEl = h("span", { class: "nb-mkey" }, m.key);
        const stepEl = h("span", { class: "nb-mstep" });
        const slider = h("input", {
          type: "range",
          class: "nb-mslider",
          min: "0",
          step: "1",
          "data-action": "media-step",
        });
        head.append(keyEl, stepEl, slider);
        const dist = h("div", { class: "nb-mdist" });
        const body = h("div", { class: "nb-mbody" });
        root.append(head, dist, body);
        el.appendChild(root);
        p = {
          key: m.key,
          kind: m.kind,
          root,
          stepEl,
          slider,
          body,
          dist,
          steps: [],
          shown: null,
          req: 0,
          distShown: false,
        };
        slider.oninput = () => {
          const step = p.steps[Number(slider.value)];
          if (step !== undefined) request(p, step);
        };
        panels.set(m.key, p);
      }
      const grew = m.steps.length !== p.steps.length;
      p.steps = m.steps;
      p.slider.max = String(Math.max(0, p.steps.length - 1));
      p.slider.disabled = p.steps.length < 2;
      if (p.kind === "histogram" && grew) p.distShown = false;
      if (p.shown === null || (grew && model.get("selected_step") === null)) {
        const step = snapStep(p.steps, model.get("selected_step"));
        if (step !== null) show(p, step);
      }
    }
  }

  function onMsg(msg) {
    if (msg?.type !== "media") return;
    const p = panels.get(msg.key);
    if (!p || msg.req !== p.req) return; // an answer to an older request
    p.root.removeAttribute("data-loading");
    p.body.replaceChildren();
    if (msg.error) {
      p.body.appendChild(h("span", { class: "nb-mnote" }, msg.error));
      return;
    }
    p.shown = msg.step;
    p.root.setAttribute("data-step", String(msg.step));
    p.stepEl.textContent = `step ${msg.step}`;
    for (const item of msg.items || []) p.body.appendChild(renderItem(p.kind, item));
    if (msg.dist) {
      p.distShown = true;
      renderDist(p.dist, msg.dist);
    }
  }

  // the Vega views of the panels (histograms, plots) by their box, with their spec: embedded
  // again in the new colours when the theme changes (`retheme`)
  /** @type {Map<HTMLElement, { spec: any, view: any }>} */
  const embeds = new Map();
  function vegaInto(div, spec) {
    for (const [d, e] of embeds) {
      if (d.isConnected) continue;
      if (e.view) views.delete(e.view);
      e.view?.finalize();
      embeds.delete(d);
    }
    /** @type {{ spec: any, view: any }} */
    const entry = { spec, view: null };
    embeds.set(div, entry);
    loadVega(model)
      .then((V) => V.embed(div, spec, { actions: false, renderer: "svg", config: vegaConfig(el) }))
      .then((res) => {
        entry.view = res.view;
        views.add(res.view);
      })
      .catch((err) => div.appendChild(h("span", { class: "nb-mnote" }, String(err))));
  }

  function retheme() {
    for (const [div, e] of [...embeds]) {
      if (e.view) {
        views.delete(e.view);
        e.view.finalize();
      }
      if (div.isConnected) vegaInto(div, e.spec);
      else embeds.delete(div);
    }
  }

  function renderDist(div, dist) {
    div.replaceChildren();
    const values = (dist.rects || []).map(([step, lo, hi, c]) => ({ step, lo, hi, c }));
    if (!values.length) return;
    const box = h("div", { "data-role": "distribution" });
    div.appendChild(box);
    vegaInto(box, {
      $schema: VEGA_LITE_SCHEMA,
      data: { values },
      mark: "rect",
      width: 300,
      height: 120,
      encoding: {
        x: { field: "lo", type: "quantitative", title: "value" },
        x2: { field: "hi" },
        y: { field: "step", type: "ordinal", sort: "descending", axis: { labelOverlap: true } },
        color: { field: "c", type: "quantitative", legend: null, scale: { scheme: "blues" } },
      },
    });
  }

  function renderItem(kind, item) {
    const fig = h("figure", { "data-item": kind });
    const caption = () => {
      if (item.caption !== null && item.caption !== undefined)
        fig.appendChild(h("figcaption", {}, String(item.caption)));
    };
    if (item.error) {
      fig.appendChild(h("span", { class: "nb-mnote" }, item.error));
      return fig;
    }
    if (item.too_large) {
      fig.appendChild(
        h("span", { class: "nb-mnote" }, `${item.text}: ${item.too_large} bytes, open it from Python (.path)`),
      );
      return fig;
    }
    if (
      (kind === "image" || kind === "video") &&
      (isDataUrl(item.src, "data:image/png;base64,") || isDataUrl(item.src, "data:image/gif;base64,"))
    ) {
      const img = h("img", { alt: kind });
      img.src = item.src;
      if (item.width) img.title = `${item.width}x${item.height}`;
      fig.appendChild(img);
      caption();
    } else if (kind === "video" && isDataUrl(item.video, "data:video/")) {
      const v = h("video", { controls: "" });
      v.src = item.video;
      fig.appendChild(v);
      caption();
    } else if (kind === "audio" && isDataUrl(item.audio, "data:audio/")) {
      const a = h("audio", { controls: "" });
      a.src = item.audio;
      fig.appendChild(a);
      caption();
    } else if (kind === "html" && typeof item.html === "string") {
      const frame = document.createElement("iframe");
      frame.setAttribute("sandbox", ""); // no scripts, no same-origin, no forms, no popups
      frame.setAttribute("referrerpolicy", "no-referrer");
      frame.srcdoc = item.html;
      fig.appendChild(frame);
    } else if (kind === "histogram" && Array.isArray(item.counts)) {
      const values = item.counts.map((c, i) => ({ lo: item.bins[i], hi: item.bins[i + 1], c }));
      const box = h("div", { "data-role": "histogram" });
      fig.appendChild(box);
      vegaInto(box, {
        $schema: VEGA_LITE_SCHEMA,
        data: { values },
        mark: "rect",
        width: 300,
        height: 120,
        encoding: {
          x: { field: "lo", type: "quantitative", title: "value" },
          x2: { field: "hi" },
          y: { field: "c", type: "quantitative", title: "count" },
        },
      });
    } else if (kind === "table" && Array.isArray(item.columns)) {
      const table = h("table", { "data-role": "table" });
      const head = h("tr");
      for (const c of item.columns) head.appendChild(h("th", {}, String(c)));
      table.appendChild(head);
      for (const row of item.rows || []) {
        const tr = h("tr");
        for (const cell of row) {
          const td = h("td");
          if (cell && isDataUrl(cell.src, "data:image/png;base64,")) {
            const img = h("img", { alt: "image" });
            img.src = cell.src;
            if (cell.text) img.title = String(cell.text);
            td.appendChild(img);
          } else {
            td.textContent = cell && cell.text !== undefined && cell.text !== null ? String(cell.text) : "";
          }
          tr.appendChild(td);
        }
        table.appendChild(tr);
      }
      fig.appendChild(table);
      if (item.total > (item.rows || []).length)
        fig.appendChild(h("span", { class: "nb-mnote" }, `${item.rows.length} of ${item.total} rows`));
    } else if (kind === "plot" && item.spec) {
      const box = h("div", { "data-role": "plot" });
      fig.appendChild(box);
      const spec = { ...item.spec, data: { values: item.values || [] } };
      vegaInto(box, spec);
    } else {
      fig.appendChild(h("span", { class: "nb-mnote" }, item.text || kind));
      caption();
    }
    return fig;
  }

  model.on("change:media", sync);
  model.on("change:selected_step", follow);
  model.on("msg:custom", onMsg);
  sync();
  function dispose() {
    model.off("change:media", sync);
    model.off("change:selected_step", follow);
    model.off("msg:custom", onMsg);
    for (const v of views) v.finalize();
  }
  return { el, dispose, retheme };
}
