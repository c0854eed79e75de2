"""Real-browser fixtures: one headless Chromium (Debian's, driven by Playwright) per session and
an isolated JupyterLab on 127.0.0.1 per test.

Without /usr/bin/chromium the browser tests skip locally but fail when ``CI`` is set.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests import resources

CHROMIUM = "/usr/bin/chromium"
#: seconds a test's JupyterLab may take to answer after it was started
LAB_START_S = 180
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
#: what an installed nbrun puts in etc/jupyter: it enables the server extension (rule 64)
SERVER_CONFIG = (
    Path(__file__).resolve().parents[2] / "jupyter-config/jupyter_server_config.d/nbrun.json"
)
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _need_browser() -> None:
    if Path(CHROMIUM).exists():
        return
    message = f"{CHROMIUM} is missing (apt-get install chromium)"
    if os.environ.get("CI"):
        pytest.fail(f"browser tests need Chromium in CI: {message}")
    pytest.skip(message)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One Chromium for the whole session (one sync_playwright() per process)."""
    _need_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        resources.count("Chromium")
        try:
            yield b
        finally:
            b.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Lab:
    """A running JupyterLab: its root folder, base URL and token."""

    root: Path
    url: str
    token: str
    log: Path
    proc: subprocess.Popen[bytes]
    extra: dict[str, Any] = field(default_factory=dict)

    def open_url(self, notebook: str) -> str:
        """URL that opens ``notebook`` (relative to the root) in the lab."""
        return f"{self.url}/lab/tree/{notebook}?token={self.token}"

    def log_text(self) -> str:
        """The server's log so far."""
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def _write_settings(settings: Path) -> None:
    for plugin, values in {
        "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
            "fetchNews": "false",
            "checkForUpdates": False,
        },
        "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    }.items():
        path = settings / plugin
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))


class LabStartError(RuntimeError):
    """JupyterLab exited or did not answer in time (the message carries its log)."""


@contextmanager
def start_lab(
    tmp: Path, start_s: float = LAB_START_S, *, server_extension: bool = True, app: str = "lab"
) -> Iterator[Lab]:
    """An isolated JupyterLab serving ``tmp / "root"`` (its settings, data and runtime under
    ``tmp / "jupyter"``; this checkout's nbrun in the kernel), stopped on exit. Raises
    :class:`LabStartError` when it exits or does not answer within ``start_s`` seconds.
    ``server_extension``: enable nbrun's server extension (rule 64) as an installed wheel
    does (its ``jupyter-config`` file); without it the widgets load their modules from the
    kernel. ``app="notebook"``: Notebook 7 (``jupyter notebook``) instead of JupyterLab, isolated
    alike (rule 72). Also used by ``bench/first_chart.py``."""
    root = tmp / "root"
    root.mkdir()
    home = tmp / "jupyter"
    settings = home / "settings"
    _write_settings(settings)
    config = home / "config" / "jupyter_server_config.d"
    config.mkdir(parents=True)
    if server_extension:
        shutil.copy(SERVER_CONFIG, config / SERVER_CONFIG.name)
    env = dict(os.environ)
    env.update(
        JUPYTER_CONFIG_DIR=str(home / "config"),
        JUPYTER_DATA_DIR=str(home / "data"),
        JUPYTER_RUNTIME_DIR=str(home / "runtime"),
        JUPYTER_PLATFORM_DIRS="1",
        NBRUN_DIR=str(root),
    )
    for var in ("NBRUN_PROJECT", "NBRUN_RUN_ID", "NBRUN_MODE", "NBRUN_RESUME"):
        env.pop(var, None)
    # the kernel must import this checkout's nbrun and find the venv's kernelspec
    repo = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = repo + os.pathsep + env.get("PYTHONPATH", "")
    port, token = _free_port(), secrets.token_hex(16)
    log = tmp / "jupyter.log"
    app_class = {"lab": "LabApp", "notebook": "JupyterNotebookApp"}[app]
    cmd = [
        sys.executable,
        "-m",
        "jupyter",
        app,
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={port}",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        f"--{app_class}.user_settings_dir={settings}",
        f"--{app_class}.workspaces_dir={home / 'ws'}",
        "--allow-root",
    ]
    if not server_extension:
        # also where the environment's etc/jupyter enables it (an installed nbrun)
        cmd.append("--ServerApp.jpserver_extensions=nbrun.widgets._server=False")
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=root)
    resources.count("JupyterLab server")
    url = f"http://127.0.0.1:{port}"
    lab = Lab(root, url, token, log, proc)
    try:
        # about 5 s on an idle machine; the lab runs node (yarn's configuration) while it
        # starts, and on 2 busy cores that start took over 60 s (4 tests of one stressed run)
        deadline = time.monotonic() + start_s
        while True:
            if proc.poll() is not None:
                raise LabStartError(f"jupyter lab exited with {proc.returncode}:\n{lab.log_text()}")
            try:
                with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise LabStartError(
                    f"jupyter lab did not answer within {start_s} s:\n{lab.log_text()}"
                )
            time.sleep(0.2)
        yield lab
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    """An isolated JupyterLab serving ``tmp_path / "root"``."""
    _need_browser()
    try:
        with start_lab(tmp_path) as lab:
            yield lab
    except LabStartError as exc:
        pytest.fail(str(exc))


@dataclass
class PageLog:
    """What the page said: console messages, page errors and non-local requests."""

    console: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    external: list[str] = field(default_factory=list)


@pytest.fixture
def page(browser: Any, lab: Lab, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh page; on failure a screenshot and the logs go to test-artifacts/."""
    context = browser.new_context(viewport={"width": 1400, "height": 1800})
    pg = context.new_page()
    pg.set_default_timeout(30_000)
    plog = PageLog()

    def on_request(req: Any) -> None:
        host = req.url.split("/")[2] if "://" in req.url else ""
        if req.url.startswith(("http://", "https://", "ws://", "wss://")) and not host.startswith(
            "127.0.0.1"
        ):
            plog.external.append(req.url)

    pg.on("console", lambda m: plog.console.append(f"{m.type}: {m.text}"))
    pg.on("pageerror", lambda e: plog.errors.append(str(e)))
    pg.on("request", on_request)
    pg.nbrun_log = plog  # type: ignore[attr-defined]
    yield pg
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        ARTIFACTS.mkdir(exist_ok=True)
        name = request.node.name.replace("/", "_")
        try:
            pg.screenshot(path=str(ARTIFACTS / f"{name}-failure.png"), full_page=True)
        except Exception as exc:  # pragma: no cover - best effort
            print(f"screenshot failed: {exc}")
        (ARTIFACTS / f"{name}-console.txt").write_text("\n".join(plog.console + plog.errors))
        shutil.copy(lab.log, ARTIFACTS / f"{name}-jupyter.log")
        print(lab.log_text()[-5000:])
    context.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Remember each phase's report on the item (the page fixture screenshots failures)."""
    outcome = yield
    rep = outcome.get_result()  # type: ignore[attr-defined]
    setattr(item, f"rep_{rep.when}", rep)
