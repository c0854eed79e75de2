"""The front end's unit tests (``js/test/*.test.js``: the chart store's base/delta/resync
logic, what the charts draw from it, the shared formatting), run with node's built-in test
runner so they count in the project's test command."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_javascript_unit_tests_pass() -> None:
    node = shutil.which("node")
    assert node is not None, "node (>= 20) is needed for the front end's unit tests"
    proc = subprocess.run(
        [node, "--test", "js/test/"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"node --test js/test/ failed:\n{out}"
    ran = re.search(r"^# tests (\d+)$", out, re.MULTILINE)
    failed = re.search(r"^# fail (\d+)$", out, re.MULTILINE)
    assert ran is not None and int(ran.group(1)) >= 10, f"the JS unit tests did not run:\n{out}"
    assert failed is not None and int(failed.group(1)) == 0, out
