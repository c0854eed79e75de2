"""The benchmark's quick mode runs end to end and produces a sane table (so bench/ cannot rot).

No thresholds: timings on a shared CI machine say nothing; this only checks that every
workload ran and produced positive numbers (none n/a: the chart row must find its payload
builder).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WORKLOAD_PREFIXES = ("1 log", "2 sustained", "3 read back", "4 fork", "5 chart", "6 import")
# Memory deltas that can legitimately be zero (no child process, nothing retained).
MAY_BE_ZERO = ("2 sustained: peak RSS of child processes", "2 sustained: RSS growth")


@pytest.mark.slow  # ~15 s: every workload in fresh processes
def test_quick_benchmark_produces_a_sane_table(tmp_path: Path) -> None:
    """``bench/run.py --quick`` exits 0, prints the table and writes consistent JSON."""
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--quick", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "workload (min / median)" in proc.stdout
    for prefix in WORKLOAD_PREFIXES:
        assert prefix in proc.stdout, f"{prefix!r} missing from the table"

    payload = json.loads((tmp_path / "latest-quick.json").read_text())
    assert payload["tools"] == ["nbrun"]
    assert payload["meta"]["cpus"] >= 1 and payload["meta"]["versions"]["nbrun"]
    rows = {row["label"]: row for row in payload["table"]}
    for prefix in WORKLOAD_PREFIXES:
        assert any(label.startswith(prefix) for label in rows), prefix
    for label, row in rows.items():
        cell = row["cells"]["nbrun"]
        assert "na" not in cell, f"{label}: {cell['na']}"
        floor_ok = cell["min"] >= 0 if label.startswith(MAY_BE_ZERO) else cell["min"] > 0
        assert floor_ok and cell["median"] >= cell["min"], (label, cell)
        assert "verdict" not in row, "quick mode must not judge targets"

    import_reps = payload["raw"]["import"]["nbrun"]
    assert import_reps and all("forbidden" in r for r in import_reps)
    chart = payload["raw"]["chart"]["nbrun"][0]  # the figure the README quotes
    assert chart["via"] == "nbrun.widgets._charts.lineage_frame", chart
    assert 0 < chart["points_per_series"] <= 2000, chart
    read = payload["raw"]["read"]["nbrun"][0]
    assert read["rows"] == read["expected_rows"] > 0, "read back lost or invented rows"
