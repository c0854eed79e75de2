// A widget shown inside another (rule 72): the project view's opened dashboard, the family
// tree's. Through anywidget's `host.getWidget` where the front end gives one (anywidget 0.11 in
// JupyterLab and Notebook 7, marimo), else the widget manager's `create_view` (ipywidgets).

/**
 * Render the widget model `ref` (`IPY_MODEL_<id>` or `anywidget:<id>`) into `target`.
 * @param {{ host?: any, model: any, ref: string, target: HTMLElement }} opts
 * @returns {Promise<() => void>} removes the view again
 */
export async function renderChild({ host, model, ref, target }) {
  const id = ref.replace(/^(IPY_MODEL_|anywidget:)/, "");
  if (typeof host?.getWidget === "function") {
    const ctrl = new AbortController();
    const widget = await host.getWidget(`anywidget:${id}`);
    await widget.render({ el: target, signal: ctrl.signal });
    return () => {
      ctrl.abort();
      target.replaceChildren();
    };
  }
  const wm = model.widget_manager;
  if (typeof wm?.create_view !== "function") {
    throw new Error("this front end cannot show a widget inside another: display it on its own");
  }
  const view = await wm.create_view(await wm.get_model(id));
  target.appendChild(view.el);
  view.trigger?.("displayed");
  return () => view.remove();
}
