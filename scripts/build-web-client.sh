#!/usr/bin/env bash
# Build the bundled web client (clients/web -> clients/web/dist) when the build is missing or older
# than its sources; install its npm packages (npm ci) when package-lock.json changed. Idempotent.
#   scripts/build-web-client.sh          # build if needed
#   scripts/build-web-client.sh --force  # always rebuild
set -euo pipefail
cd "$(dirname "$0")/../clients/web"

if ! command -v npm >/dev/null 2>&1; then
  echo "npm not found: cannot build the web client (install Node.js >= 20 with npm)" >&2
  exit 1
fi

# npm writes node_modules/.package-lock.json on every install: older than the lock file = stale.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "Installing the web client's npm packages (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
fi

stale=""
if [ "${1:-}" = "--force" ] || [ ! -f dist/index.html ]; then
  stale=yes
elif [ -n "$(find src public index.html package-lock.json vite.config.ts tsconfig.json -newer dist/index.html \
      -print -quit 2>/dev/null)" ]; then
  stale=yes
fi
if [ -n "$stale" ]; then
  echo "Building the web client (npm run build)"
  npm run build --silent
fi
