"""The family tree in a notebook executed by nbclient (rule 63): ``run.tree()`` shows the live
widget and, beside it, the tree as static SVG that a saved notebook keeps; a fork made in a
later cell is in the saved tree."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

CELLS = [
    """import nbrun
root = nbrun.init(project="t", name="root <i>x</i>")
for i in range(50):
    root.log({"loss": 1 / (i + 1)})
root.finish()
a = nbrun.init(project="t", name="a", fork_from=f"{root.id}?_step=20", reinit="create_new")
a.log({"loss": 0.01}, step=30)
a.finish()
tree = root.tree()
tree""",
    """b = nbrun.init(project="t", name="b", fork_from=f"{a.id}?_step=25", reinit="create_new")
b.log({"loss": 0.5}, step=40)
b.finish()""",
    "print(len(tree.layout['nodes']))",
]


@pytest.mark.slow  # a kernel: ~10 s
def test_rule63_saved_notebook_keeps_the_tree_as_svg(tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    NotebookClient(nb, timeout=300, resources={"metadata": {"path": str(tmp_path)}}).execute()
    outs = nb.cells[0].outputs
    assert not [o for o in outs if o.get("output_type") == "error"], outs
    assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in outs)
    (snap,) = [o for o in outs if "nbrun-snapshot" in str(o.get("data", {}).get("text/html", ""))]
    html = snap["data"]["text/html"]
    assert "<script" not in html
    (data,) = re.findall(
        r'class="nbrun-snap-tree"[^>]*src="data:image/svg\+xml;base64,([^"]+)"', html
    )
    svg = base64.b64decode(data).decode()
    # the tree as the family ended: the fork of the second cell is in it (updated after it)
    assert svg.count('class="nbrun-tree-node"') == 3, svg[:500]
    assert "root &lt;i&gt;x&lt;/i&gt;" in svg and "<i>" not in svg
    assert "nbrun family tree: 3 nodes, coloured by loss" in snap["data"]["text/plain"]
    assert nb.cells[2].outputs[0]["text"].strip() == "3"
