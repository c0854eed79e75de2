// The family tree's layout as the kernel sends it (nbrun/widgets/_tree.py, `tree_layout`):
// nodes with their row, lane, colour and label, edges at their steps, the step axis and the
// colour legend, all in pixels. These helpers read it; they have no DOM (unit-tested in
// js/test/tree.test.js).

/**
 * @typedef {{ key: string, kind: string, run_id: string, name: string, state: string, parent: string | null,
 *   edge: string | null, at_step: number | null, first_step: number, last_step: number, depth: number, row: number,
 *   y: number, x0: number, x1: number, color: string, value: number | null, value_text: string, label: string,
 *   title: string, focus: boolean }} TreeNode
 * @typedef {{ from: string, to: string, kind: string, step: number, x: number, y0: number, y1: number,
 *   stub: number[] | null }} TreeEdge
 * @typedef {{ x: number, y: number, w: number, h: number, label: string, lo: string, hi: string, log: boolean,
 *   stops: [number, string][], missing: number, missing_color: string }} TreeLegend
 * @typedef {{ metric: string | null, metrics: string[], focus: string, more: number, width: number, height: number,
 *   row: number, axis: { y: number, x0: number, x1: number, title: string, ticks: { x: number, label: string }[] },
 *   nodes: TreeNode[], edges: TreeEdge[], legend: TreeLegend }} TreeLayout
 */

/**
 * Whether `layout` holds a family worth drawing (two nodes or more).
 * @param {Partial<TreeLayout> | null | undefined} layout
 * @returns {layout is TreeLayout}
 */
export function isFamily(layout) {
  return !!layout && Array.isArray(layout.nodes) && layout.nodes.length >= 2;
}

/**
 * The node with `key`, or null.
 * @param {TreeLayout} layout
 * @param {string} key
 * @returns {TreeNode | null}
 */
export function nodeByKey(layout, key) {
  return layout.nodes.find((n) => n.key === key) || null;
}

/**
 * What the selection line says about a node: [label, value] text pairs.
 * @param {TreeLayout} layout
 * @param {TreeNode} node
 * @returns {[string, string][]}
 */
export function nodeInfo(layout, node) {
  /** @type {[string, string][]} */
  const rows = [
    [node.kind === "archive" ? "archived segment" : "run", node.name],
    ["id", node.run_id],
    ["state", node.state],
  ];
  const start = node.kind === "archive" ? node.first_step + 1 : node.first_step;
  rows.push(["steps", node.last_step >= start ? `${start}-${node.last_step}` : "none"]);
  if (node.edge === "fork") rows.push(["forked", `from ${node.parent} at step ${node.at_step}`]);
  if (node.edge === "rewind") rows.push(["rewound", `at step ${node.at_step}`]);
  if (layout.metric) rows.push([layout.metric, node.value_text]);
  return rows;
}

/**
 * The text of the tree's heading.
 * @param {TreeLayout} layout
 */
export function heading(layout) {
  const runs = new Set(layout.nodes.map((n) => n.run_id)).size;
  const archived = layout.nodes.filter((n) => n.kind === "archive").length;
  const parts = [`family tree · ${runs} run${runs === 1 ? "" : "s"}`];
  if (archived) parts.push(`${archived} archived segment${archived === 1 ? "" : "s"}`);
  if (layout.more) parts.push(`${layout.more} more not shown`);
  return parts.join(" · ");
}

/**
 * The key to select after a click on `key` when `current` is selected: a second click clears.
 * @param {string} current
 * @param {string} key
 */
export function toggle(current, key) {
  return current === key ? "" : key;
}
