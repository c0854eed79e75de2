#!/usr/bin/env bash
# Set up a development environment from scratch: system packages (Node.js for the widget
# bundle, Chromium for the browser tests, PostgreSQL for the team-store tests, gcc for the
# optional C fast path of run.log), a virtual
# environment in .venv, and nbrun installed editable with its [dev] extras. The install runs `npm ci && npm run build`, which bundles
# Vega, Vega-Lite and vega-embed from the npm registry into nbrun/widgets/static/.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v npm >/dev/null 2>&1 || need_apt+=(nodejs npm)
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
# optional: a C compiler builds run.log's fast path (nbrun/_fastlog.c); without one the install
# warns and nbrun runs in pure Python
command -v cc >/dev/null 2>&1 || need_apt+=(gcc)
# the PostgreSQL store's tests start a real server from Debian's packages (initdb, pg_ctl)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need_apt+=(postgresql)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing ${need_apt[*]} with apt-get"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "setup: please install ${need_apt[*]} (Debian: sudo apt-get install ${need_apt[*]})" >&2
    command -v npm >/dev/null 2>&1 || exit 1
  fi
fi

# node_modules exactly as package-lock.json pins it (Vega for the bundle, and Biome and
# TypeScript for scripts/test.sh's JS checks), also where an older install is there
npm ci --no-audit --no-fund

python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# [dev] carries the browser tests' hosts too: JupyterLab, Notebook 7 and marimo (rule 72)
.venv/bin/python -m pip install -q -e ".[dev]"
echo "setup: done; activate with: source .venv/bin/activate"
