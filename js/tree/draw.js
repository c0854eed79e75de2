// The family tree drawn as SVG from the kernel's layout (tree/layout.js): the same picture as
// the static snapshot (nbrun/widgets/_tree.py, `tree_svg`). Text goes in through textContent
// only: run data never becomes markup. Colours: lanes and marks in their node's colour (the
// metric's scale), text and connectors in the theme's (tree.css).

const NS = "http://www.w3.org/2000/svg";

/**
 * An SVG element with attributes and, optionally, its text.
 * @param {string} tag
 * @param {Record<string, string | number>} [attrs]
 * @param {string} [text]
 * @returns {SVGElement}
 */
export function s(tag, attrs = {}, text) {
  const e = /** @type {SVGElement} */ (document.createElementNS(NS, tag));
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

let gradients = 0;

/**
 * The tree as an <svg>; `onPick(key)` is called when a node is clicked (or chosen with Enter).
 * @param {import("./layout.js").TreeLayout} layout
 * @param {string} selected the selected node's key ("" for none)
 * @param {(key: string) => void} onPick
 * @returns {SVGSVGElement}
 */
export function drawTree(layout, selected, onPick) {
  const { width, height, axis, row } = layout;
  const svg = /** @type {SVGSVGElement} */ (
    s("svg", { width, height, viewBox: `0 0 ${width} ${height}`, class: "nb-tree-svg", role: "group" })
  );
  svg.appendChild(s("line", { x1: axis.x0, x2: axis.x1, y1: axis.y, y2: axis.y, class: "nb-tree-axis" }));
  svg.appendChild(s("text", { x: axis.x1 + 8, y: axis.y + 4, class: "nb-tree-tick" }, axis.title));
  for (const t of axis.ticks) {
    svg.appendChild(s("line", { x1: t.x, x2: t.x, y1: axis.y - 3, y2: height - 46, class: "nb-tree-grid" }));
    svg.appendChild(s("text", { x: t.x, y: axis.y - 6, "text-anchor": "middle", class: "nb-tree-tick" }, t.label));
  }
  for (const e of layout.edges) {
    if (e.stub) {
      svg.appendChild(s("line", { x1: e.stub[0], x2: e.stub[1], y1: e.y0, y2: e.y0, class: "nb-tree-stub" }));
    }
    const d = `M${e.x},${e.y0} V${e.y1 - 5} Q${e.x},${e.y1} ${e.x + 5},${e.y1}`;
    svg.appendChild(s("path", { d, class: "nb-tree-edge", "data-kind": e.kind, "data-step": e.step }));
  }
  for (const n of layout.nodes) svg.appendChild(drawNode(n, width, row, n.key === selected, onPick));
  svg.appendChild(drawLegend(layout));
  return svg;
}

/**
 * One node: a row-wide hit area, its lane, its mark and its label.
 * @param {import("./layout.js").TreeNode} n
 * @param {number} width
 * @param {number} row
 * @param {boolean} isSelected
 * @param {(key: string) => void} onPick
 */
function drawNode(n, width, row, isSelected, onPick) {
  const archived = n.kind === "archive";
  const g = s("g", {
    class: "nb-tree-node",
    "data-key": n.key,
    "data-run-id": n.run_id,
    "data-kind": n.kind,
    "data-selected": isSelected ? "1" : "0",
    "data-focus": n.focus ? "1" : "0",
    tabindex: 0,
    role: "button",
  });
  g.appendChild(s("title", {}, n.title));
  g.appendChild(s("rect", { x: 0, y: n.y - row / 2, width, height: row, class: "nb-tree-hit" }));
  const lane = { x1: n.x0, x2: n.x1, y1: n.y, y2: n.y, stroke: n.color, class: "nb-tree-lane" };
  g.appendChild(
    s("line", {
      ...lane,
      "stroke-width": n.focus ? 3.5 : 2.5,
      ...(archived ? { "stroke-dasharray": "3 2", "stroke-opacity": 0.6 } : {}),
    }),
  );
  g.appendChild(
    s("circle", {
      cx: n.x1,
      cy: n.y,
      r: n.focus || isSelected ? 5 : 4,
      fill: archived ? "none" : n.color,
      stroke: n.color,
      "stroke-width": 1.5,
      class: "nb-tree-mark",
    }),
  );
  g.appendChild(s("text", { x: n.x1 + 9, y: n.y + 4, class: "nb-tree-label" }, n.label));
  g.addEventListener("click", () => onPick(n.key));
  g.addEventListener("keydown", (ev) => {
    const key = /** @type {KeyboardEvent} */ (ev).key;
    if (key === "Enter" || key === " ") {
      ev.preventDefault();
      onPick(n.key);
    }
  });
  return g;
}

/**
 * The colour legend: the metric, a gradient bar with its low and high values, "no value".
 * @param {import("./layout.js").TreeLayout} layout
 */
function drawLegend(layout) {
  const lg = layout.legend;
  const g = s("g", { class: "nb-tree-legend" });
  if (!lg.label) {
    g.appendChild(s("text", { x: lg.x, y: lg.y + 9 }, "no numeric metric to colour by"));
    return g;
  }
  const id = `nb-tree-grad-${++gradients}`;
  const grad = s("linearGradient", { id });
  for (const [offset, color] of lg.stops) grad.appendChild(s("stop", { offset, "stop-color": color }));
  const defs = s("defs");
  defs.appendChild(grad);
  g.appendChild(defs);
  g.appendChild(s("text", { x: lg.x, y: lg.y - 3 }, `colour: ${lg.label}${lg.log ? " (log scale)" : ""}`));
  g.appendChild(s("rect", { x: lg.x, y: lg.y, width: lg.w, height: lg.h, fill: `url(#${id})` }));
  g.appendChild(s("text", { x: lg.x, y: lg.y + lg.h + 11, class: "nb-tree-lo" }, lg.lo));
  g.appendChild(s("text", { x: lg.x + lg.w, y: lg.y + lg.h + 11, "text-anchor": "end", class: "nb-tree-hi" }, lg.hi));
  if (lg.missing) {
    g.appendChild(s("circle", { cx: lg.x + lg.w + 20, cy: lg.y + lg.h / 2, r: 4, fill: lg.missing_color }));
    g.appendChild(s("text", { x: lg.x + lg.w + 28, y: lg.y + lg.h / 2 + 4 }, "no value"));
  }
  return g;
}
