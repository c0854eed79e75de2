// Value formatting shared by the widgets (pure: no DOM).

// A config / summary value as short text: numbers to `digits` significant digits.
export function fmt(v, digits = 6) {
  if (v === null || v === undefined) return "—";
  if (typeof v === "number") {
    if (Number.isInteger(v)) return String(v);
    return String(Number(v.toPrecision(digits)));
  }
  if (typeof v === "string") return v;
  return JSON.stringify(v);
}

// Seconds as "12.3 s", "4m 05s" or "2h 03m".
export function fmtTime(s) {
  if (typeof s !== "number") return "—";
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(Math.floor(s % 60)).padStart(2, "0")}s`;
  return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, "0")}m`;
}

// A summary value as text: define_metric's summaries (`{min: 0.231, last: 0.245}`) as
// "min 0.231 · last 0.245", anything else as fmt does.
export function fmtSummary(v, digits = 6) {
  if (v && typeof v === "object" && !Array.isArray(v)) {
    const parts = Object.entries(v).map(([k, x]) => `${k} ${fmt(x, digits)}`);
    return parts.length ? parts.join(" · ") : "{}";
  }
  return fmt(v, digits);
}
