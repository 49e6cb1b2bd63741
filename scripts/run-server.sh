#!/usr/bin/env bash
# Set up (once) and run the homeserver on http://localhost:8008 with SQLite under ./data/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-env.sh
# The web client served at / (a missing npm only costs the client, not the server).
scripts/build-web-client.sh || echo "The web client could not be built; the server runs without it." >&2
if [ ! -f homeserver.yaml ]; then
  .venv/bin/homeserver generate-config --server-name localhost --config-path homeserver.yaml --data-dir data
  echo "Create a user with: .venv/bin/homeserver register-user -c homeserver.yaml"
fi
exec .venv/bin/homeserver run -c homeserver.yaml
