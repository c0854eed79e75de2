// The host's light / dark theme (rule 72). The widgets' colours are the --nb-* variables over
// JupyterLab's --jp-* ones (dashboard.css, project.css, tree.css); where a host defines no
// --jp-* variables (marimo, VS Code), their fallbacks are the light ones unless the widget's
// root says `data-nb-theme="dark"`, which this module sets from the host page's signals:
// JupyterLab's `data-jp-theme-light`, VS Code's `data-vscode-theme-kind` and
// `body.vscode-dark` / `body.vscode-light`, marimo's `body.dark` / `.light`, the page's CSS
// `color-scheme`, and the lightness of the host's background variables. A widget in marimo sits
// in a shadow root: the signals are read on the host document (`document`), never on the
// shadow root.

/**
 * What a host page says about its theme (all optional; read by {@link hostSignals}).
 * @typedef {object} ThemeSignals
 * @property {string | null} [jpThemeLight] `<body data-jp-theme-light>`: "true" / "false"
 * @property {string | null} [vscodeKind] `<body data-vscode-theme-kind>`, e.g. "vscode-dark"
 * @property {string[]} [classes] the classes of `<html>` and `<body>`
 * @property {string} [colorScheme] the computed CSS `color-scheme` of `<body>` (or `<html>`)
 * @property {string} [background] a host background colour: `--jp-layout-color1`, else
 *   `--vscode-editor-background` (any CSS colour text)
 */

/**
 * The relative luminance (0 black … 1 white) of a CSS colour in `#rgb`, `#rrggbb` or
 * `rgb()/rgba()` form; null for anything else.
 * @param {string} color @returns {number | null}
 */
export function luminance(color) {
  const c = color.trim().toLowerCase();
  /** @type {number[] | null} */
  let rgb = null;
  const hex = /^#([0-9a-f]{3}|[0-9a-f]{6})([0-9a-f]{2})?$/.exec(c);
  if (hex) {
    const d = hex[1].length === 3 ? [...hex[1]].map((x) => x + x) : [0, 2, 4].map((i) => hex[1].slice(i, i + 2));
    rgb = d.map((x) => Number.parseInt(x, 16));
  } else {
    const m = /^rgba?\(\s*([\d.]+)[\s,]+([\d.]+)[\s,]+([\d.]+)/.exec(c);
    if (m) rgb = [m[1], m[2], m[3]].map(Number);
  }
  if (!rgb || rgb.some((x) => !Number.isFinite(x))) return null;
  const [r, g, b] = rgb.map((v) => {
    const x = Math.min(255, Math.max(0, v)) / 255;
    return x <= 0.03928 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

/**
 * The theme the signals say, strongest first: JupyterLab's theme attribute, VS Code's theme
 * kind and body classes, marimo's `dark` / `light` class, the host's background colour, the
 * page's `color-scheme`; "light" when none says anything.
 * @param {ThemeSignals} sig @returns {"dark" | "light"}
 */
export function resolveTheme(sig) {
  if (sig.jpThemeLight === "true") return "light";
  if (sig.jpThemeLight === "false") return "dark";
  const kind = sig.vscodeKind || "";
  if (kind) return /dark|high-contrast$/.test(kind) && !kind.endsWith("-light") ? "dark" : "light";
  const classes = new Set(sig.classes || []);
  if (classes.has("vscode-dark") || classes.has("vscode-high-contrast")) {
    return classes.has("vscode-high-contrast-light") ? "light" : "dark";
  }
  if (classes.has("vscode-light")) return "light";
  if (classes.has("dark") || classes.has("dark-theme")) return "dark";
  if (classes.has("light") || classes.has("light-theme")) return "light";
  const lum = sig.background ? luminance(sig.background) : null;
  if (lum !== null) return lum < 0.2 ? "dark" : "light";
  const scheme = (sig.colorScheme || "").trim().split(/\s+/);
  if (scheme.length === 1 && scheme[0] === "dark") return "dark";
  return "light";
}

/**
 * Read the signals of document `doc` (the host page: a widget in a shadow root reads the page
 * it is in, not its root).
 * @param {Document} doc @returns {ThemeSignals}
 */
export function hostSignals(doc) {
  const body = doc.body;
  const html = doc.documentElement;
  if (!body || !html) return {};
  const view = doc.defaultView;
  const style = view ? view.getComputedStyle(body) : null;
  const rootStyle = view ? view.getComputedStyle(html) : null;
  const v = (/** @type {string} */ name) => (style?.getPropertyValue(name) || "").trim();
  return {
    jpThemeLight: body.getAttribute("data-jp-theme-light"),
    vscodeKind: body.getAttribute("data-vscode-theme-kind") || html.getAttribute("data-vscode-theme-kind"),
    classes: [...html.classList, ...body.classList],
    colorScheme: (style?.colorScheme || "").trim() || (rootStyle?.colorScheme || "").trim(),
    background: v("--jp-layout-color1") || v("--vscode-editor-background"),
  };
}

/**
 * Mark `root` with the host's theme (`data-nb-theme`) now and whenever the host changes it
 * (attributes of `<html>` / `<body>`, the system's colour scheme). Returns a function that
 * stops following.
 * @param {HTMLElement} root @returns {() => void}
 */
export function followHostTheme(root) {
  if (typeof document === "undefined") return () => {};
  const apply = () => {
    const theme = resolveTheme(hostSignals(document));
    if (root.getAttribute("data-nb-theme") !== theme) root.setAttribute("data-nb-theme", theme);
  };
  apply();
  const obs = new MutationObserver(apply);
  const attributeFilter = ["class", "style", "data-jp-theme-light", "data-jp-theme-name", "data-vscode-theme-kind"];
  obs.observe(document.documentElement, { attributes: true, attributeFilter });
  if (document.body) obs.observe(document.body, { attributes: true, attributeFilter });
  const mq =
    typeof window !== "undefined" && window.matchMedia ? window.matchMedia("(prefers-color-scheme: dark)") : null;
  mq?.addEventListener?.("change", apply);
  return () => {
    obs.disconnect();
    mq?.removeEventListener?.("change", apply);
  };
}

/** The dark theme's fallbacks where the host has no --jp-* variables (VS Code's if it has them). */
const DARK = {
  "--nb-fg": "var(--jp-ui-font-color1,var(--vscode-editor-foreground,#e6e6e6))",
  "--nb-fg2": "var(--jp-ui-font-color2,var(--vscode-descriptionForeground,#bdbdbd))",
  "--nb-fg3": "var(--jp-ui-font-color3,#9e9e9e)",
  "--nb-bg": "var(--jp-layout-color1,var(--vscode-editor-background,#1e1e1e))",
  "--nb-bg2": "var(--jp-layout-color2,#2f2f2f)",
  "--nb-bg0": "var(--jp-layout-color0,#181818)",
  "--nb-border": "var(--jp-border-color1,#6b6b6b)",
  "--nb-border2": "var(--jp-border-color2,#4a4a4a)",
  "--nb-border3": "var(--jp-border-color3,#383838)",
  "--nb-err": "var(--jp-error-color1,#ff7b72)",
  "--nb-warn": "var(--jp-warn-color1,#f0a040)",
  "color-scheme": "dark",
};

/** The style sheet a widget root adds beside its own: the dark fallbacks (rule 72). */
export const THEME_CSS = `:is(.nbrun-dash,.nbrun-project,.nbrun-tree,.nbrun-chart)[data-nb-theme=dark]{${Object.entries(
  DARK,
)
  .map(([k, v]) => `${k}:${v}`)
  .join(";")}}`;
