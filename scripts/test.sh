#!/usr/bin/env bash
# The test command: lint, format check and type check, then the whole suite (unit, property,
# crash, notebook and real-browser tests). In CI (CI=true) a missing Chromium fails the browser
# tests instead of skipping them, and the property tests run the full Hypothesis profile ('ci').
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/python -m ruff check .
.venv/bin/python -m ruff format --check .
.venv/bin/python -m mypy
.venv/bin/python -m pytest "$@"
