"""System metrics and console output per run (issue 13): scripts, notebooks, launched runs,
rewind / fork lineage, kill -9, and the settings that turn them off."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import nbrun
from tests.conftest import python_env, wait_for

FAST = {"stats_interval": 0.05, "flush_interval": 0.05}
W_AND_B_NAMES = (
    "system.cpu",
    "system.proc.cpu.threads",
    "system.memory",
    "system.proc.memory.rssMB",
    "system.proc.memory.percent",
    "system.proc.memory.availableMB",
    "system.disk./.usagePercent",
    "system.disk./.usageGB",
    "system.network.sent",
    "system.network.recv",
)


def texts(view: object) -> list[str]:
    return list(view.logs()["text"])  # type: ignore[attr-defined]


SCRIPT = r"""
import sys, time
import nbrun

run = nbrun.init(project="con", dir=sys.argv[1], id="script",
                 settings={"stats_interval": 0.05, "flush_interval": 0.05})
print("starting")
for i in range(3):
    run.log({"loss": 1.0 / (i + 1)})
    print(f"epoch {i}")
for pct in range(0, 101, 10):
    sys.stderr.write(f"\r{pct:3d}%|{'#' * (pct // 10):10s}|")
    sys.stderr.flush()
sys.stderr.write("\n")
print("warning: something", file=sys.stderr)
print("done")
run.finish()
print("after finish")
"""


def test_script_prints_are_stored_in_order_with_stream_and_step(run_dir: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(run_dir)],
        capture_output=True,
        text=True,
        env=python_env(),
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    # the user still sees everything, as before
    assert proc.stdout.splitlines() == [
        "starting",
        "epoch 0",
        "epoch 1",
        "epoch 2",
        "done",
        "after finish",
    ]
    assert "100%|##########|" in proc.stderr and "warning: something" in proc.stderr
    run = nbrun.Api(run_dir).run("con/script")
    logs = run.logs()
    assert list(logs.columns) == ["time", "stream", "step", "text"]
    assert list(logs["text"]) == [
        "starting",
        "epoch 0",
        "epoch 1",
        "epoch 2",
        "100%|##########|",  # the progress bar collapsed to its last state
        "warning: something",
        "done",
    ]
    assert list(logs["stream"]) == ["stdout"] * 4 + ["stderr"] * 2 + ["stdout"]
    assert list(logs["step"]) == [-1, 0, 1, 2, 2, 2, 2]  # the last step written before it
    assert logs["time"].is_monotonic_increasing
    assert list(run.logs(last=2)["text"]) == ["warning: something", "done"]
    assert run.logs(last=0).empty
    with pytest.raises(nbrun.UsageError, match="last=-1"):
        run.logs(last=-1)
    # output.log, as W&B names it
    files = run.files()
    assert [f.name for f in files] == ["output.log"]
    body = "\n".join(logs["text"]) + "\n"
    assert files[0].size == len(body.encode())
    with files[0].download(root=run_dir / "dl") as fh:
        assert fh.read() == body
    with pytest.raises(ValueError, match="already exists"):
        files[0].download(root=run_dir / "dl")
    with nbrun.restore("output.log", run_path="con/script", root=run_dir / "r") as fh:
        assert fh.read() == body
    assert nbrun.restore("missing.txt", run_path="con/script", root=run_dir / "r") is None
    # system samples of the script, with W&B's names
    system = run.history(stream="system")
    for name in W_AND_B_NAMES:
        assert name in system.columns, name
    assert list(system.columns[-2:]) == ["_runtime", "_timestamp"]
    assert (system["system.proc.memory.rssMB"] > 1).all()
    assert system["system.memory"].between(0, 100).all()
    assert system["system.proc.cpu.threads"].min() >= 2  # main + writer (+ sampler)


def test_system_samples_of_a_live_run_with_wandb_names(run_dir: Path) -> None:
    run = nbrun.init(project="sys", settings=FAST)
    wait_for(lambda: len(run.history(stream="system")) >= 3)
    hist = run.history(stream="system")
    for name in W_AND_B_NAMES:
        assert name in hist.columns, name
    cores = [c for c in hist.columns if c.startswith("system.cpu.") and c.endswith("cpu_percent")]
    assert cores and "system.cpu.0.cpu_percent" in cores
    late = hist.iloc[1:]
    assert late["system.cpu"].between(0, 100).all()
    assert (hist["system.proc.memory.rssMB"] > 1).all()
    assert (hist["system.proc.memory.availableMB"] > 0).all()
    assert (hist["_runtime"] >= 0).all() and hist["_runtime"].is_monotonic_increasing
    assert abs(hist["_timestamp"].iloc[-1] - time.time()) < 60
    assert "_step" not in hist.columns  # W&B's system rows have no step
    run.finish()
    sampler = run._sampler
    assert sampler is not None and not sampler.alive  # stops with the run
    after = nbrun.Api(run_dir).run(f"sys/{run.id}").history(stream="system")
    assert len(after) >= len(hist)  # the last sample, taken at finish, is stored too


def test_history_stream_rejects_unknown_names(run_dir: Path) -> None:
    run = nbrun.init(project="sys", settings={"stats": False})
    with pytest.raises(nbrun.UsageError, match=r"stream 'gpu'.*'default', 'system'"):
        run.history(stream="gpu")


def test_two_launched_runs_get_their_own_threads_lines(run_dir: Path) -> None:
    def train(run: nbrun.Run) -> None:
        for i in range(5):
            run.log({"x": i})
            print(f"{run.config.tag} step {i}")
        print(f"{run.config.tag} warns", file=sys.stderr)

    a = nbrun.launch(train, project="two", config={"tag": "A"}, settings={"stats": False})
    b = nbrun.launch(train, project="two", config={"tag": "B"}, settings={"stats": False})
    main = nbrun.init(project="two", id="main", settings={"stats": False})
    print("main says hi")
    assert a.wait(30) and b.wait(30)
    main.finish()
    assert texts(a) == [*(f"A step {i}" for i in range(5)), "A warns"]
    assert texts(b) == [*(f"B step {i}" for i in range(5)), "B warns"]
    assert texts(main) == ["main says hi"]
    assert list(a.logs()["stream"])[-1] == "stderr"


def test_a_failed_launched_run_keeps_its_traceback_in_the_log(run_dir: Path) -> None:
    def train(run: nbrun.Run) -> None:
        run.log({"x": 1})
        print("about to fail")
        raise RuntimeError("boom at step 1")

    run = nbrun.launch(train, project="fail", settings={"stats": False})
    assert run.wait(30)
    lines = run.logs()
    assert lines["text"].iloc[0] == "about to fail"
    err = lines[lines["stream"] == "stderr"]
    assert any("RuntimeError: boom at step 1" in t for t in err["text"])


def test_rewind_resets_logs_and_archives_the_old_ones(run_dir: Path) -> None:
    run = nbrun.init(project="rw", id="r", settings={"stats_interval": 0.05})
    print("before any row")
    for i in range(10):
        run.log({"x": i})
        print(f"step {i}")
    run.finish()
    old_system = run.history(stream="system")
    assert len(old_system) >= 2
    again = nbrun.init(project="rw", resume_from="r?_step=4", settings={"stats": False})
    assert texts(again) == ["before any row", *(f"step {i}" for i in range(5))]
    print("again 5")
    again.log({"x": 50})
    again.finish()
    assert texts(again)[-1] == "again 5"
    (archive,) = again.archives()
    assert texts(archive) == [f"step {i}" for i in range(5, 10)]
    assert list(archive.logs()["step"]) == list(range(5, 10))
    # system samples taken after step 4 went with the archive; those before stayed
    kept = again.history(stream="system")
    moved = archive.history(stream="system")
    assert len(kept) + len(moved) == len(old_system)
    assert len(moved) >= 1  # at least the sample taken at finish, after step 9
    assert archive.files()[0].name == "output.log"


def test_fork_starts_its_own_logs_and_system_metrics(run_dir: Path) -> None:
    parent = nbrun.init(project="fk", id="p", settings={"stats_interval": 0.05})
    for i in range(5):
        parent.log({"x": i})
        print(f"parent {i}")
    parent.finish()
    fork = nbrun.init(project="fk", fork_from="p?_step=2", settings={"stats": False})
    assert fork.logs().empty
    assert fork.history(stream="system").empty
    assert fork.files() == []
    print("fork line")
    fork.finish()
    assert texts(fork) == ["fork line"]
    assert texts(parent) == [f"parent {i}" for i in range(5)]


def test_settings_off_record_nothing_and_leave_streams_alone(run_dir: Path) -> None:
    before = sys.stdout
    run = nbrun.init(project="off", settings=nbrun.Settings(stats=False, console="off"))
    assert "write" not in vars(sys.stdout) and sys.stdout is before
    print("not recorded")
    run.log({"x": 1})
    run.finish()
    assert run.logs().empty
    assert run.history(stream="system").empty
    assert run._sampler is None


def test_bad_settings_are_refused(run_dir: Path) -> None:
    with pytest.raises(nbrun.UsageError, match=r"console='loud'.*'auto'.*'off'"):
        nbrun.init(project="bad", settings={"console": "loud"})
    with pytest.raises(nbrun.UsageError, match="stats_interval=0"):
        nbrun.init(project="bad", settings={"stats_interval": 0})
    with pytest.raises(nbrun.UsageError, match="stats='yes'"):
        nbrun.init(project="bad", settings={"stats": "yes"})
    assert nbrun.Api(run_dir).runs("bad") == []


KILLED = r"""
import sys, time
import nbrun

run = nbrun.init(project="kill", dir=sys.argv[1], id="k",
                 settings={"stats_interval": 0.05, "flush_interval": 0.05})
for i in range(20):
    run.log({"x": i})
    print(f"line {i}")
sys.stderr.write("\r 50%")
while run._sampler.samples < 1:  # the sample taken at start
    time.sleep(0.01)
run.flush()
open(sys.argv[2], "w").write("flushed")
time.sleep(60)
"""


def test_kill_9_keeps_lines_and_samples_flushed_before_it(run_dir: Path) -> None:
    marker = run_dir / "flushed"
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED, str(run_dir), str(marker)],
        env=python_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(marker.exists, timeout=60)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    run = nbrun.Api(run_dir).run("kill/k")
    assert run.state == "crashed"
    lines = run.logs()
    assert list(lines["text"]) == [*(f"line {i}" for i in range(20)), " 50%"]
    assert not run.history(stream="system").empty
    # a resumed run continues the log; the unfinished line of the dead process stays
    again = nbrun.init(project="kill", id="k", resume="allow", settings={"stats": False})
    print("resumed")
    again.finish()
    assert texts(again)[-2:] == [" 50%", "resumed"]


NOTEBOOK_CELLS = [
    "import nbrun\nrun = nbrun.init(project='nb', id='nb', settings={'stats_interval': 0.05})",
    "for i in range(3):\n    run.log({'x': i})\n    print(f'cell line {i}')",
    "import sys\nprint('to stderr', file=sys.stderr)",
    "run.finish()",
]


@pytest.mark.slow
def test_notebook_prints_are_captured_and_still_shown(run_dir: Path) -> None:
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in NOTEBOOK_CELLS]
    env_path = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = python_env()["PYTHONPATH"]
    try:
        NotebookClient(nb, timeout=120, resources={"metadata": {"path": str(run_dir)}}).execute()
    finally:
        if env_path is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = env_path
    shown = [
        (out.get("name"), out.get("text"))
        for cell in nb.cells
        for out in cell.get("outputs", [])
        if out.get("output_type") == "stream"
    ]
    assert ("stdout", "cell line 0\ncell line 1\ncell line 2\n") in shown
    assert ("stderr", "to stderr\n") in shown
    run = nbrun.Api(run_dir).run("nb/nb")
    logs = run.logs()
    assert list(logs["text"]) == ["cell line 0", "cell line 1", "cell line 2", "to stderr"]
    assert list(logs["stream"]) == ["stdout"] * 3 + ["stderr"]
    assert not run.history(stream="system").empty


def test_dashboard_system_and_logs_sections(run_dir: Path) -> None:
    from nbrun.widgets import Dashboard

    run = nbrun.init(project="dash", settings=FAST)
    for i in range(3):
        run.log({"loss": 1.0 / (i + 1)})
        print(f"<b>line {i}</b>")  # markup stays text: the browser writes textContent
    print("oops", file=sys.stderr)
    wait_for(lambda: len(run.history(stream="system")) >= 2)
    dash = Dashboard(run, start=False)
    try:
        charts = [c["metric"] for c in dash.system["charts"]]
        assert charts[:3] == ["system.cpu", "system.memory", "system.proc.memory.rssMB"]
        spec = dash.system["charts"][0]["spec"]
        assert spec["data"] == {"name": "rows"}  # fed by the browser, like the metric charts
        rss = dash.system["points"]["system.proc.memory.rssMB"]
        assert len(rss) >= 2 and all(y > 1 for _x, y in rss)
        assert [line[3] for line in dash.logs["lines"]] == [
            *(f"<b>line {i}</b>" for i in range(3)),
            "oops",
        ]
        assert [line[1] for line in dash.logs["lines"]][-1] == "stderr"
        assert dash.logs["state"] == "running" and dash.logs["more"] is False
        print("after the dashboard")
        run.finish()
        dash.poll()
        dash._last_side = 0.0
        dash.poll()
        assert dash.logs["lines"][-1][3] == "after the dashboard"
        assert dash.logs["state"] == "finished"
    finally:
        dash.close()


def test_restore_needs_a_run_or_a_run_path(run_dir: Path) -> None:
    with pytest.raises(nbrun.UsageError, match=r"no active run.*run_path"):
        nbrun.restore("output.log")
    with pytest.raises(nbrun.UsageError, match="name 5"):
        nbrun.restore(5)  # type: ignore[arg-type]
    run = nbrun.init(project="rs", settings={"stats": False})
    print("kept in output.log")
    with nbrun.restore("output.log") as fh:  # the current run, into its files folder
        assert fh.read() == "kept in output.log\n"
    assert (Path(run.dir) / "files" / "output.log").exists()
    print("printed after the restore")
    (log,) = run.files(names=["output.log"])  # the live lines, not the restored copy
    assert log.read().decode().splitlines()[-1] == "printed after the restore"
    run.finish()
