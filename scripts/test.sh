#!/usr/bin/env bash
# The test command: lint, format check and type check (Python: ruff, mypy --strict; the front
# end's JavaScript: Biome and TypeScript's checkJs, from node_modules, which the install's
# `npm ci` fills), then the whole suite (tests/unit, tests/property, tests/integration: real
# processes, PostgreSQL, Dask, notebooks, real W&B clients; tests/browser: JupyterLab and
# Chromium). In CI (CI=true) a missing Chromium fails the browser tests instead of skipping them,
# and the property tests run the full Hypothesis profile ('ci').
#
# `scripts/test.sh --fast` is the lane to run while developing (under a minute): ruff, then the
# unit and property tests that are not marked slow, on SQLite (the PostgreSQL variants, the
# integration and the browser tests run in the full suite).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "--fast" ]; then
  shift
  .venv/bin/python -m ruff check .
  exec .venv/bin/python -m pytest tests/unit tests/property -m "not slow" -k "not postgresql" "$@"
fi
.venv/bin/python -m ruff check .
.venv/bin/python -m ruff format --check .
.venv/bin/python -m mypy
if [ ! -x node_modules/.bin/biome ] || [ ! -x node_modules/.bin/tsc ]; then
  echo "test: the JS checks need Biome and TypeScript in node_modules: run npm ci" >&2
  exit 1
fi
npx --no-install biome ci
npx --no-install tsc -p jsconfig.json
.venv/bin/python -m pytest "$@"
