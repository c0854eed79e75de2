// Theme: the widgets' colours follow JupyterLab's theme variables (--jp-ui-font-color*,
// --jp-layout-color*, --jp-border-color*; see the --nb-* variables in dashboard.css and
// project.css, with fallbacks outside JupyterLab). Vega does not read CSS, so each chart gets
// a config built from the computed colours of the widget's root, and is embedded again when
// the theme changes.

// The computed value of CSS variable `name` on `el`, or `fallback`.
function cssVar(el, name, fallback) {
  const v = getComputedStyle(el).getPropertyValue(name).trim();
  return v || fallback;
}

// A Vega / Vega-Lite config matching the theme at `el`: transparent background, text, axes,
// grid and legends in the theme's colours.
export function vegaConfig(el) {
  const fg = cssVar(el, "--nb-fg", getComputedStyle(el).color || "#222");
  const fg2 = cssVar(el, "--nb-fg2", fg);
  const line = cssVar(el, "--nb-border", "#999");
  const grid = cssVar(el, "--nb-border3", "#e5e5e5");
  return {
    background: "transparent",
    title: { color: fg, subtitleColor: fg2 },
    axis: {
      labelColor: fg2,
      titleColor: fg,
      domainColor: line,
      tickColor: line,
      gridColor: grid,
    },
    legend: { labelColor: fg2, titleColor: fg },
    header: { labelColor: fg2, titleColor: fg },
    view: { stroke: line },
    text: { color: fg },
  };
}

// A key of the theme's colours at `el` (to tell whether they changed).
export function themeKey(el) {
  return [cssVar(el, "--nb-fg", ""), cssVar(el, "--nb-bg", ""), getComputedStyle(el).color].join("|");
}

// Call `onChange()` whenever the theme's colours at `el` change: JupyterLab flips
// `data-jp-theme-*` attributes on <body> and loads the theme's CSS; outside JupyterLab the
// system's light / dark setting may change. Returns a function that stops watching.
export function watchTheme(el, onChange) {
  // the colours the charts are embedded with now (before the widget is attached to the
  // page they are the fallbacks: the first check after attaching embeds them again)
  let key = themeKey(el);
  const timers = new Set();
  const check = () => {
    if (!el.isConnected) return;
    const k = themeKey(el);
    if (k !== key) {
      key = k;
      onChange();
    }
  };
  const soon = () => {
    check();
    for (const ms of [100, 400, 1200]) {
      const t = setTimeout(() => {
        timers.delete(t);
        check();
      }, ms);
      timers.add(t);
    }
  };
  const obs = new MutationObserver(soon);
  obs.observe(document.body, {
    attributes: true,
    attributeFilter: ["data-jp-theme-light", "data-jp-theme-name", "class", "style"],
  });
  const mq = window.matchMedia ? window.matchMedia("(prefers-color-scheme: dark)") : null;
  if (mq?.addEventListener) mq.addEventListener("change", soon);
  requestAnimationFrame(check);
  return () => {
    obs.disconnect();
    if (mq?.removeEventListener) mq.removeEventListener("change", soon);
    for (const t of timers) clearTimeout(t);
  };
}

// While a live widget of run `runId` shows, hide the static snapshot that the kernel
// displayed beside it (the output holding `.nbrun-snapshot[data-nbrun-<kind>="<key>"]`); the
// snapshot is what a saved notebook shows without a kernel. Returns a function that undoes it.
export function hideSnapshot(kind, key) {
  const style = document.createElement("style");
  const sel = `.nbrun-snapshot[data-nbrun-${kind}="${CSS.escape(String(key))}"]`;
  style.textContent = `.jp-OutputArea-child:has(${sel}){display:none}`;
  style.setAttribute("data-nbrun-hide", `${kind}:${key}`);
  document.head.appendChild(style);
  return () => style.remove();
}
