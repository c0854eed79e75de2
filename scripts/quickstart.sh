#!/usr/bin/env bash
# Run the quickstart notebook top to bottom in a kernel and leave something to look at: the
# executed notebook saved with its outputs (each dashboard carries a static snapshot of its
# charts, so it shows without a kernel: JupyterLab, nbconvert, GitHub) and the project's runs as
# one self-contained HTML page (no network needed). Prints both paths.
set -euo pipefail
cd "$(dirname "$0")/.."
jupyter="${JUPYTER:-.venv/bin/jupyter}"
"$jupyter" execute --output=quickstart-executed notebooks/quickstart.ipynb
echo
echo "open $PWD/notebooks/nbrun/quickstart.html   (the runs and their charts, in any browser)"
echo "open $PWD/notebooks/quickstart-executed.ipynb   (the executed notebook: .venv/bin/jupyter lab notebooks/quickstart-executed.ipynb)"
