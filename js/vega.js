// Vega, Vega-Lite and vega-embed as one ES module of their own (static/vega.js), loaded by the
// dashboard only when a chart needs Vega (dashboard/vegaload.js): the dashboard's own module
// stays small, so its first charts are drawn before this one is even parsed.
export { default as embed, vega } from "vega-embed";
