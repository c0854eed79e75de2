"""Saved notebooks stay small and clean (issue 25, rules 64-65): executed with nbclient, a
notebook carries a few KB of widget state per dashboard and no Vega; the server extension
serves the widgets' modules; nbconvert's export takes nothing from the internet for nbrun."""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

from nbrun.widgets._assets import ASSETS, STATIC, asset_version

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"
SERVER_CONFIG = REPO / "jupyter-config/jupyter_server_config.d/nbrun.json"
CDN = re.compile(r"unpkg\.com|jsdelivr|cdnjs|esm\.sh|skypack|jspm\.io|cdn\.", re.IGNORECASE)
#: text only the Vega bundle holds: it must not be in any saved notebook
VEGA_MARK = "vega-embed"


def execute(nb: Any, path: Path) -> Path:
    """Execute ``nb`` as ``jupyter execute`` does (nbclient, widget state stored) and save it
    under ``path / "executed.ipynb"``."""
    NotebookClient(nb, timeout=300, resources={"metadata": {"path": str(path)}}).execute()
    out = path / "executed.ipynb"
    nbformat.write(nb, out)
    return out


def widget_state(nb: Any) -> dict[str, Any]:
    """The widget models the notebook saved (model id -> model)."""
    widgets = nb.get("metadata", {}).get("widgets", {})
    return dict(widgets.get("application/vnd.jupyter.widget-state+json", {}).get("state", {}))


def nbrun_models(state: dict[str, Any]) -> dict[str, Any]:
    """The saved models of nbrun's widgets (and the layout models they name)."""
    mine = {
        k: m for k, m in state.items() if str(m["state"].get("_module", "")).startswith("nbrun/")
    }
    layouts = {str(m["state"].get("layout", "")).removeprefix("IPY_MODEL_") for m in mine.values()}
    return {**mine, **{k: state[k] for k in layouts if k in state}}


def assert_no_data(model: dict[str, Any]) -> None:
    """A saved nbrun model holds no run data: its data traits empty, none inline."""
    state = model["state"]
    if "_module" not in state:
        return  # a layout model
    assert state.get("_inline") == []
    for name in ("charts", "series", "system", "overview", "logs", "media", "runs", "overlay"):
        assert not state.get(name), (name, str(state.get(name))[:200])
    for buf in model.get("buffers", []):  # _base: the emptied JSON, no points
        assert base64.b64decode(buf["data"]) == b"{}", buf["path"]


def size(obj: Any) -> int:
    return len(json.dumps(obj))


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The quickstart, executed once."""
    path = tmp_path_factory.mktemp("quickstart")
    nb = nbformat.read(NOTEBOOKS / "quickstart.ipynb", as_version=4)
    return execute(nb, path)


# -- rule 64 ------------------------------------------------------------------------------------
@pytest.mark.slow  # a kernel: ~8 s
def test_rule64_executed_quickstart_is_small_and_holds_no_vega(quickstart: Path) -> None:
    text = quickstart.read_text(encoding="utf-8")
    nb = json.loads(text)
    state = widget_state(nb)
    mine = nbrun_models(state)
    assert mine, "the dashboard's model was not saved (JupyterLab would say 'model not found')"
    print(f"quickstart executed: {len(text.encode())} bytes, nbrun widget state {size(mine)}")
    assert len(text.encode()) < 200_000
    assert size(mine) < 150_000
    assert VEGA_MARK not in text
    for model in mine.values():  # the data traits are saved emptied (nbrun_saved messages)
        assert_no_data(model)
    # no output of the notebook references a CDN or loads a script
    outputs = json.dumps([c.get("outputs", []) for c in nb["cells"]])
    assert not CDN.search(outputs), CDN.search(outputs)
    assert "<script" not in outputs


FIVE = [
    "import nbrun",
    *[
        f"""run = nbrun.init(project="five", name="r{i}", config={{"lr": 0.{i + 1}}})
for s in range(3000):
    run.log({{"loss": 1 / (s + 1) + {i}, "acc": s / 3000, "lr": 0.{i + 1}}})
run.finish()
run.display()"""
        for i in range(5)
    ],
    # the last cell forks the last run: the snapshot after it draws the fork, and the data
    # this sends is emptied in nbclient's copy after it (rules 64-65)
    """fork = nbrun.init(project="five", fork_from=f"{run.id}?_step=1000")
for s in range(1001, 1500):
    fork.log({"loss": 0.25, "acc": 0.5, "lr": 0.9})
fork.finish()""",
]


@pytest.mark.slow  # a kernel: ~10 s
def test_rule64_five_dashboards_keep_the_saved_state_small(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in FIVE]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    monkeypatch.setenv("NBRUN_DIR", str(tmp_path))
    out = execute(nb, tmp_path)
    saved = json.loads(out.read_text(encoding="utf-8"))
    mine = nbrun_models(widget_state(saved))
    dashboards = [
        m for m in mine.values() if m["state"].get("_module", "").endswith("/dashboard.js")
    ]
    assert len(dashboards) == 5
    for model in mine.values():
        assert_no_data(model)
    print(f"five dashboards: nbrun widget state {size(mine)} bytes")
    assert size(mine) < 150_000
    assert VEGA_MARK not in out.read_text(encoding="utf-8")
    # each run is in the notebook as its snapshot instead
    snaps = [
        o
        for c in saved["cells"]
        for o in c.get("outputs", [])
        if "nbrun-snapshot" in "".join(o.get("data", {}).get("text/html", ""))
    ]
    assert len(snaps) == 5
    last = "".join(snaps[-1]["data"]["text/html"])
    assert "at step 1000" in last  # the fork made in the last cell is in the saved snapshot


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> tuple[int, bytes, str]:
    """Status, body and content type (status 0: nothing answered yet)."""
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read(), r.headers.get("Content-Type", "")
    except urllib.error.HTTPError as err:
        return err.code, b"", ""
    except OSError:
        return 0, b"", ""


@pytest.mark.slow  # a Jupyter server: ~3 s
def test_rule64_server_extension_serves_the_modules_under_base_url(tmp_path: Path) -> None:
    """The config file nbrun installs enables the extension; it serves each asset at
    ``{base_url}nbrun/static/<version>/<name>``, and nothing else."""
    config = tmp_path / "config" / "jupyter_server_config.d"
    config.mkdir(parents=True)
    (config / "nbrun.json").write_text(SERVER_CONFIG.read_text())
    env = dict(
        os.environ,
        JUPYTER_CONFIG_DIR=str(tmp_path / "config"),
        JUPYTER_DATA_DIR=str(tmp_path / "data"),
        JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
        JUPYTER_PLATFORM_DIRS="1",
        PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""),
    )
    port, token = _free_port(), secrets.token_hex(8)
    log = tmp_path / "server.log"
    cmd = [sys.executable, "-m", "jupyter", "server", "--no-browser", "--ip=127.0.0.1"]
    cmd += [f"--port={port}", f"--IdentityProvider.token={token}", "--ServerApp.base_url=/hub/x/"]
    cmd += [f"--ServerApp.root_dir={tmp_path}", "--allow-root"]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{port}/hub/x/"
    try:
        deadline = time.monotonic() + 120
        while _get(f"{base}api/status?token={token}")[0] != 200:
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        for name in ASSETS:
            status, body, kind = _get(f"{base}nbrun/static/{asset_version()}/{name}")
            assert status == 200, (name, log.read_text()[-3000:])
            assert body == (STATIC / name).read_bytes()
            assert "javascript" in kind
        # another version (a kernel with other files) and other files: 404
        assert _get(f"{base}nbrun/static/0000000000000000/vega.js")[0] == 404
        assert _get(f"{base}nbrun/static/{asset_version()}/boot.js")[0] == 404
        assert _get(f"{base}nbrun/static/{asset_version()}/..%2F_assets.py")[0] == 404
        assert "nbrun: serving the widgets' modules" in log.read_text()
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


# -- rule 65 ------------------------------------------------------------------------------------
@pytest.mark.slow  # nbconvert: ~3 s
def test_rule65_nbconvert_export_takes_nothing_from_the_internet_for_nbrun(
    quickstart: Path,
) -> None:
    """nbrun's outputs in the HTML export are the snapshots (no script); the only remote
    scripts are nbconvert's template's own in the page head (require.js and MathJax always, and
    the widget manager it adds to any notebook with widget state), and with the widget state
    cleared the widget manager is gone too."""
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    cmd = [sys.executable, "-m", "jupyter", "nbconvert", "--to", "html", str(quickstart)]
    subprocess.run([*cmd, "--output=plain"], check=True, env=env, timeout=120)
    html = (quickstart.parent / "plain.html").read_text(encoding="utf-8")
    assert "nbrun-snapshot" in html
    assert VEGA_MARK not in html
    body = html[html.index("<body") :]
    remote = re.findall(r"<script[^>]*src=[\"']?(https?://[^\"' >]+)", body)
    assert remote == [], remote  # nothing in the notebook's body loads a remote script
    head = html[: html.index("<body")]
    for url in re.findall(r"<script[^>]*src=[\"']?(https?://[^\"' >]+)", head):
        assert re.search("require|html-manager|mathjax", url), url  # nbconvert's template
    assert "html-manager" in head  # (the saved state of the dashboard's small loader)
    # exported without the saved widget state, no widget manager is loaded
    cleared = [*cmd, "--ClearMetadataPreprocessor.enabled=True", "--output=clean"]
    subprocess.run(cleared, check=True, env=env, timeout=120)
    clean = (quickstart.parent / "clean.html").read_text(encoding="utf-8")
    assert "nbrun-snapshot" in clean
    assert "html-manager" not in clean
