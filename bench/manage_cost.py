"""Cost of deleting a parent with ``detach_forks=True`` (its fork gets the inherited rows) and of
moving the fork to another project, against the parent's length (rule 40); checks the fork's
history reads the same before and after.

    python bench/manage_cost.py [ROWS ...]   (default: 10000 100000)
"""

from __future__ import annotations

import sys
import tempfile
import time

import nbrun


def measure(n: int) -> str:
    """One line: the seconds delete(detach_forks=True) and move take for a parent of n rows."""
    d = tempfile.mkdtemp()
    run = nbrun.init(project="m", id="par", dir=d, settings={"flush_interval": 0.05})
    for i in range(n):
        run.log({"loss": 1 / (i + 1), "acc": i / n})
    run.finish()
    kid = nbrun.init(project="m", fork_from=f"par?_step={n - 10}", dir=d)
    kid.log({"loss": 0.0})
    kid.finish()
    api = nbrun.Api(d)
    before = api.run(f"m/{kid.id}").history()
    t = time.perf_counter()
    api.run("m/par").delete(detach_forks=True)
    dt = time.perf_counter() - t
    assert before.equals(api.run(f"m/{kid.id}").history()), "the fork's history changed"
    t = time.perf_counter()
    api.run(f"m/{kid.id}").move("other")
    dm = time.perf_counter() - t
    return f"rows={n}: delete(detach_forks=True) {dt:.3f} s, move {dm:.3f} s, history identical"


if __name__ == "__main__":
    for arg in sys.argv[1:] or ["10000", "100000"]:
        print(measure(int(arg)))
