#!/usr/bin/env bash
# pm2 from the project's node_modules with its state inside the project (.pm2), so it never
# touches ~/.pm2 or a global install. Usage: scripts/pm2.sh start ecosystem.config.js | status |
# logs vidaio-miner | stop all | kill. Installed by `make setup` (npm install, package.json).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PM2="$ROOT/node_modules/.bin/pm2"
if [ ! -x "$PM2" ]; then
  echo "pm2 is not installed in $ROOT/node_modules: run 'make setup' (needs node and npm)" >&2
  exit 127
fi
export PM2_HOME="${PM2_HOME:-$ROOT/.pm2}"
cd "$ROOT"
exec "$PM2" "$@"
