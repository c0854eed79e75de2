// DOM helpers shared by the widgets. Text goes in through textContent only: run data never
// becomes markup.

// An element with attributes ("class" sets className) and, optionally, its text.
export function h(tag, attrs = {}, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else e.setAttribute(k, v);
  }
  if (text !== undefined) e.textContent = text;
  return e;
}

// A titled two-column table of [key, value] text rows ("—" when there are none).
export function table(title, rows, attrs = {}) {
  const box = h("div", attrs);
  box.appendChild(h("h4", {}, title));
  const t = h("table");
  for (const [k, v] of rows) {
    const tr = h("tr");
    tr.append(h("td", {}, k), h("td", {}, v));
    t.appendChild(tr);
  }
  if (!rows.length) box.appendChild(h("div", {}, "—"));
  else box.appendChild(t);
  return box;
}
