// Pure helpers of the project view's run table (no DOM): summary cells, sort order, filter.
import { fmt as fmtDigits } from "./format.js";

const fmt = (v) => fmtDigits(v, 4);

// a summary cell: a number, a text, or {v, parts: [[name, number], ...]}
export function cellValue(c) {
  return c !== null && typeof c === "object" && !Array.isArray(c) ? c.v : c;
}
export function cellText(c) {
  if (c !== null && typeof c === "object" && Array.isArray(c.parts)) {
    return c.parts.map(([k, v]) => `${k} ${fmt(v)}`).join(" · ");
  }
  return c === undefined ? "" : fmt(c);
}

// the value a column sorts by
export function colValue(r, col) {
  if (col.startsWith("c:")) return r.config?.[col.slice(2)];
  if (col.startsWith("s:")) return cellValue(r.summary?.[col.slice(2)]);
  if (col === "tags") return (r.tags || []).join(",");
  return r[col];
}

// numbers before strings, missing values last (in both directions)
export function compare(a, b) {
  const na = a === null || a === undefined;
  const nb = b === null || b === undefined;
  if (na || nb) return na && nb ? 0 : na ? 1 : -1;
  const ta = typeof a === "number";
  const tb = typeof b === "number";
  if (ta && tb) return a - b;
  if (ta !== tb) return ta ? -1 : 1;
  return String(a).localeCompare(String(b));
}

export function matches(r, query) {
  const words = query.toLowerCase().split(/\s+/).filter(Boolean);
  if (!words.length) return true;
  const parts = [r.name, r.id, r.project, r.state, r.group, r.notes, r.sweep, ...(r.tags || [])];
  for (const [k, v] of Object.entries(r.config || {})) parts.push(`${k}=${fmt(v)}`);
  for (const [k, v] of Object.entries(r.summary || {})) parts.push(`${k}=${cellText(v)}`);
  const hay = parts
    .filter((p) => p !== null && p !== undefined)
    .join("\n")
    .toLowerCase();
  return words.every((w) => hay.includes(w));
}
