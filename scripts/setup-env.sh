#!/usr/bin/env bash
# Create .venv if missing and install the homeserver (with test extras when asked). Idempotent.
#   scripts/setup-env.sh          # runtime only
#   scripts/setup-env.sh test     # with the test tools
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v pg_config >/dev/null 2>&1 || need_apt+=(libpq-dev)   # psycopg2 builds against libpq
command -v gcc >/dev/null 2>&1 || need_apt+=(gcc)
python3 -c "import sysconfig,os,sys; sys.exit(not os.path.exists(sysconfig.get_paths()['include'] + '/Python.h'))" \
  || need_apt+=(python3-dev)
python3 -c "import venv, ensurepip" 2>/dev/null || need_apt+=(python3-venv)
if [ ${#need_apt[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "Installing Debian packages: ${need_apt[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "Please install: ${need_apt[*]} (as root: apt-get install ${need_apt[*]})" >&2
  fi
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
extras=""
[ "${1:-}" = "test" ] && extras="[test]"
stamp=".venv/.installed${extras}"
if [ ! -f "$stamp" ] || [ setup.cfg -nt "$stamp" ]; then
  .venv/bin/pip install -q --disable-pip-version-check -e ".${extras}"
  touch "$stamp"
fi
