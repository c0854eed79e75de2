// The pointer on a chart: the nearest-step read-out under it (hover), click a step to select
// it, drag to zoom x, shift-drag / shift-wheel / sideways wheel to pan, ctrl / alt / cmd-wheel
// (a trackpad pinch) to zoom about the pointer, double-click to reset. The decisions are pure
// functions (unit-tested in js/test/pointer.test.js); `bindPointer` wires them to a chart's
// elements and Vega view.
import { h } from "../lib/dom.js";
import { panRange, sig4, zoomRange } from "./chartmath.js";

export const DRAG_PX = 4; // a press that moves less than this is a click (it selects a step)

/**
 * @typedef {import("vega").View} View
 * @typedef {{ key: string, label: string, color: string, x: number, y: number, raw: number, step: number }} HoverItem
 * @typedef {{ deltaX: number, deltaY: number, ctrlKey: boolean, altKey: boolean, metaKey: boolean, shiftKey: boolean }} WheelLike
 */

/** Whether a press that moved `dx` pixels is a drag (not a click). @param {number} dx */
export function isDrag(dx) {
  return Math.abs(dx) > DRAG_PX;
}

/**
 * The step a click on Vega item `item` selects when it is a drawn, clickable point (its row
 * has `k` and a numeric `step`); null when the x under the pointer decides (a line's item is
 * only its first row).
 * @param {any} item
 * @returns {number | null}
 */
export function pointStep(item) {
  const isPoint = item?.mark && item.mark.marktype === "symbol";
  if (isPoint && item.datum?.k && typeof item.datum.step === "number") return item.datum.step;
  return null;
}

/**
 * The x range a drag from data x `a` to `b` zooms to, or null (no range).
 * @param {number | null} a
 * @param {number | null} b
 * @returns {number[] | null}
 */
export function dragRange(a, b) {
  if (a === null || b === null || a === b) return null;
  return [Math.min(a, b), Math.max(a, b)];
}

/**
 * Whether the chart takes a wheel event: with ctrl / alt / cmd, shift, or sideways; a plain
 * vertical wheel scrolls the notebook.
 * @param {WheelLike} e
 */
export function wheelTaken(e) {
  const sideways = Math.abs(e.deltaX) > Math.abs(e.deltaY);
  return e.ctrlKey || e.altKey || e.metaKey || e.shiftKey || sideways;
}

/**
 * The x range after a wheel event the chart takes (see `wheelTaken`) on range `dom`: shift
 * or sideways pans by the delta (500 px of wheel: one range), otherwise it zooms about `at`,
 * the data x under the pointer; null when nothing changes (no x under the pointer).
 * @param {WheelLike} e
 * @param {number[]} dom
 * @param {number | null} at
 * @returns {number[] | null}
 */
export function wheelRange(e, dom, at) {
  const sideways = Math.abs(e.deltaX) > Math.abs(e.deltaY);
  if (e.shiftKey || sideways) {
    const delta = sideways ? e.deltaX : e.deltaY;
    return panRange(dom, ((dom[1] - dom[0]) * delta) / 500);
  }
  if (at !== null) return zoomRange(dom, at, 1.0015 ** e.deltaY);
  return null;
}

/**
 * The read-out's first line at x `x` of step `step`: wall time, "step N" on a step chart,
 * else the axis name, x and step.
 * @param {string} axis the x axis chosen ("default", "_step", "_runtime", "_timestamp")
 * @param {string} chartX the chart's own x field
 * @param {string} axisTitle the chosen axis' title
 * @param {number} x
 * @param {number} step
 */
export function hoverHead(axis, chartX, axisTitle, x, step) {
  if (axis === "_timestamp") return new Date(x).toLocaleString();
  if (axis === "default" && chartX === "_step") return `step ${step}`;
  return `${axis === "default" ? chartX : axisTitle} ${sig4(x)} · step ${step}`;
}

/**
 * A read-out row's value: smoothed, with the raw value beside it when they differ.
 * @param {number} smooth
 * @param {{ y: number, raw: number }} t
 */
export function hoverValue(smooth, t) {
  return smooth > 0 && t.raw !== t.y ? `${sig4(t.y)} (raw ${sig4(t.raw)})` : sig4(t.y);
}

/**
 * Where the read-out box goes (px in the chart box): beside the pointer, kept inside the box.
 * @param {number} clientX
 * @param {number} clientY
 * @param {{ left: number, top: number, width: number }} outer the chart box' rectangle
 * @param {number} boxWidth
 */
export function hoverPosition(clientX, clientY, outer, boxWidth) {
  const left = clientX - outer.left + 14;
  return { left: Math.min(left, Math.max(0, outer.width - boxWidth - 4)), top: Math.max(0, clientY - outer.top + 14) };
}

/**
 * The read-out's rows (as elements).
 * @param {string} head
 * @param {HoverItem[]} items
 * @param {number} smooth
 */
export function hoverRows(head, items, smooth) {
  const rows = [h("div", { class: "nb-hover-head" }, head)];
  for (const t of items) {
    const row = h("div", { class: "nb-hover-row", "data-series": t.key });
    const sw = h("span", { class: "nb-swatch" });
    sw.style.background = t.color;
    row.append(
      sw,
      h("span", { class: "nb-hover-label" }, t.label),
      h("span", { class: "nb-hover-value" }, hoverValue(smooth, t)),
    );
    rows.push(row);
  }
  return rows;
}

/**
 * The pointer's x in the chart's plot (px from the plot's left), or null before Vega drew.
 * @param {{ vdiv: HTMLElement, view: View | null }} entry
 * @param {number} clientX
 */
export function plotX(entry, clientX) {
  const svg = entry.vdiv.querySelector("svg");
  if (!svg || !entry.view) return null;
  const rect = svg.getBoundingClientRect();
  return clientX - rect.left - entry.view.origin()[0];
}

/**
 * The data x at plot px `px`, or null.
 * @param {{ view: View | null }} entry
 * @param {number} px
 * @returns {number | null}
 */
export function invertX(entry, px) {
  try {
    return /** @type {View} */ (entry.view).scale("x").invert(px);
  } catch {
    return null;
  }
}

/**
 * The chart's x range now: its zoom, else what Vega shows.
 * @param {{ view: View | null, xdom: number[] | null }} entry
 * @returns {number[]}
 */
export function currentX(entry) {
  return entry.xdom || /** @type {View} */ (entry.view).scale("x").domain();
}

/**
 * Wire the pointer to a chart: `showHover(clientX, clientY)` / `clearHover()` draw the
 * read-out, `setX(dom)` zooms (null resets). A press is remembered in `entry.dragged` so the
 * click that ends a drag does not select a step.
 * @param {{ vdiv: HTMLElement, div: HTMLElement, brushEl: HTMLElement, view: View | null, xdom: number[] | null, dragged: boolean, cleanups: (() => void)[] }} entry
 * @param {{ showHover(x: number, y: number): void, clearHover(): void, setX(dom: number[] | null): void }} on
 */
export function bindPointer(entry, on) {
  const el = entry.vdiv;
  /** @type {{ x0: number, px0: number, dom: number[], pan: boolean, moved: boolean } | null} */
  let press = null;
  /** @type {number | null} */
  let frame = null;
  /** @type {PointerEvent | null} */
  let last = null;
  el.addEventListener("pointermove", (e) => {
    if (press) {
      const dx = e.clientX - press.x0;
      if (isDrag(dx)) press.moved = true;
      if (!press.moved) return;
      if (press.pan) {
        const a = invertX(entry, press.px0);
        const b = invertX(entry, press.px0 + dx);
        if (a !== null && b !== null) on.setX(panRange(press.dom, a - b));
      } else {
        const outer = entry.div.getBoundingClientRect();
        const lo = Math.min(e.clientX, press.x0) - outer.left;
        entry.brushEl.style.display = "block";
        entry.brushEl.style.left = `${lo}px`;
        entry.brushEl.style.width = `${Math.abs(dx)}px`;
      }
      return;
    }
    last = e;
    if (frame === null) {
      frame = requestAnimationFrame(() => {
        frame = null;
        if (last) on.showHover(last.clientX, last.clientY);
      });
    }
  });
  el.addEventListener("pointerleave", () => {
    last = null;
    if (!press) on.clearHover();
  });
  el.addEventListener("pointerdown", (e) => {
    if (e.button !== 0 || !entry.view) return;
    entry.dragged = false;
    const px0 = plotX(entry, e.clientX);
    if (px0 === null) return;
    press = { x0: e.clientX, px0, dom: currentX(entry).slice(), pan: e.shiftKey, moved: false };
  });
  /** @param {PointerEvent} e */
  const release = (e) => {
    if (!press) return;
    const p = press;
    press = null;
    entry.brushEl.style.display = "none";
    if (!p.moved) return;
    entry.dragged = true; // the click that follows is not a selection
    if (!p.pan) {
      const dom = dragRange(invertX(entry, p.px0), invertX(entry, p.px0 + (e.clientX - p.x0)));
      if (dom) on.setX(dom);
    }
  };
  window.addEventListener("pointerup", release);
  entry.cleanups.push(() => window.removeEventListener("pointerup", release));
  // wheel with ctrl / alt / cmd (a trackpad pinch) zooms x about the pointer; with shift,
  // or sideways, it pans; a plain wheel scrolls the notebook
  el.addEventListener(
    "wheel",
    (e) => {
      if (!entry.view || !wheelTaken(e)) return;
      e.preventDefault();
      const px = plotX(entry, e.clientX);
      const at = px === null ? null : invertX(entry, px);
      const dom = wheelRange(e, currentX(entry), at);
      if (dom) on.setX(dom);
    },
    { passive: false },
  );
  el.addEventListener("dblclick", () => on.setX(null));
}
