// The host's theme (js/lib/hosttheme.js, rule 72): JupyterLab, VS Code and marimo signals.

import assert from "node:assert/strict";
import { test } from "node:test";

import { luminance, resolveTheme, THEME_CSS } from "../lib/hosttheme.js";

test("JupyterLab's theme attribute decides", () => {
  assert.equal(resolveTheme({ jpThemeLight: "false", classes: ["light"] }), "dark");
  assert.equal(resolveTheme({ jpThemeLight: "true", colorScheme: "dark" }), "light");
});

test("VS Code: the theme kind, else the body classes", () => {
  assert.equal(resolveTheme({ vscodeKind: "vscode-dark" }), "dark");
  assert.equal(resolveTheme({ vscodeKind: "vscode-high-contrast" }), "dark");
  assert.equal(resolveTheme({ vscodeKind: "vscode-high-contrast-light" }), "light");
  assert.equal(resolveTheme({ vscodeKind: "vscode-light", classes: ["dark"] }), "light");
  assert.equal(resolveTheme({ classes: ["vscode-body", "vscode-dark"] }), "dark");
  assert.equal(resolveTheme({ classes: ["vscode-high-contrast", "vscode-high-contrast-light"] }), "light");
  assert.equal(resolveTheme({ classes: ["vscode-light"] }), "light");
});

test("marimo: body.dark / .light, then the page's color-scheme", () => {
  assert.equal(resolveTheme({ classes: ["dark", "dark-theme"], colorScheme: "light" }), "dark");
  assert.equal(resolveTheme({ classes: ["light"], colorScheme: "dark" }), "light");
  assert.equal(resolveTheme({ colorScheme: "dark" }), "dark");
  assert.equal(resolveTheme({ colorScheme: "light dark" }), "light"); // both offered: not a choice
  assert.equal(resolveTheme({}), "light");
});

test("a host background colour says dark or light", () => {
  assert.equal(resolveTheme({ background: "#1e1e1e" }), "dark");
  assert.equal(resolveTheme({ background: "rgb(255, 255, 255)" }), "light");
  assert.equal(resolveTheme({ background: "var(--x)", colorScheme: "dark" }), "dark"); // unreadable
  assert.equal(luminance("#fff"), 1);
  assert.equal(luminance("#000000"), 0);
  assert.equal(luminance("rgba(0, 0, 0, 0.5)"), 0);
  assert.equal(luminance("blue"), null);
});

test("the dark fallbacks apply to every widget root marked dark", () => {
  for (const root of ["nbrun-dash", "nbrun-project", "nbrun-tree"]) assert.ok(THEME_CSS.includes(`.${root}`));
  assert.match(
    THEME_CSS,
    /\[data-nb-theme=dark\]\{--nb-fg:var\(--jp-ui-font-color1,var\(--vscode-editor-foreground,#e6e6e6\)\)/,
  );
  assert.match(THEME_CSS, /color-scheme:dark/);
});
