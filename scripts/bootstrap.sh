#!/bin/sh
# Entry point of every npm script: make sure npm dependencies (and with them the pinned
# Node.js 24) are installed, then run the given TypeScript file on that Node.
# Idempotent: npm is called only when package-lock.json changed since the last install.
set -eu
cd "$(dirname "$0")/.."
stamp=node_modules/.sovereign-cutover-lock
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -x node_modules/.bin/node ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "==> installing npm dependencies (pins Node.js 24)" >&2
  npm ci --no-audit --no-fund --loglevel=error >&2
  echo "$want" > "$stamp"
fi
script=$1
shift
exec node_modules/.bin/node "$script" "$@"
