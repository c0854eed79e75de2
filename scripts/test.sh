#!/usr/bin/env bash
# The test command: lint, format check and type check (Python: ruff, mypy; the front end's
# JavaScript: Biome and TypeScript's checkJs, from node_modules, which the install's `npm ci`
# fills), then the whole suite (unit, property,
# crash, notebook and real-browser tests). In CI (CI=true) a missing Chromium fails the browser
# tests instead of skipping them, and the property tests run the full Hypothesis profile ('ci').
set -euo pipefail
cd "$(dirname "$0")/.."
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
