#!/usr/bin/env bash
# Create .venv if missing and install the homeserver, pinned by constraints.txt. Idempotent.
#   scripts/setup-env.sh            # runtime only, SQLite: no compiler needed
#   scripts/setup-env.sh postgres   # with the PostgreSQL driver (psycopg2 builds against libpq)
#   scripts/setup-env.sh test       # with the test tools and the PostgreSQL driver
set -euo pipefail
cd "$(dirname "$0")/.."

mode="${1:-}"
case "$mode" in
  "") extras="" ;;
  postgres) extras="[postgres]" ;;
  test) extras="[test,postgres]" ;;
  *) echo "usage: $0 [postgres|test]" >&2; exit 2 ;;
esac

need_apt=()
if [ -n "$extras" ]; then  # psycopg2 is built from source
  command -v pg_config >/dev/null 2>&1 || need_apt+=(libpq-dev)
  command -v gcc >/dev/null 2>&1 || need_apt+=(gcc)
  python3 -c "import sysconfig,os,sys; sys.exit(not os.path.exists(sysconfig.get_paths()['include'] + '/Python.h'))" \
    || need_apt+=(python3-dev)
fi
python3 -c "import venv, ensurepip" 2>/dev/null || need_apt+=(python3-venv)
# The web client's end-to-end tests drive Debian's Chromium (never a downloaded browser build).
[ "$mode" = "test" ] && ! [ -x /usr/bin/chromium ] && need_apt+=(chromium)
# The call tests relay media through a real TURN server: Debian's coturn, started by the tests on loopback.
[ "$mode" = "test" ] && ! command -v turnserver >/dev/null 2>&1 && ! [ -x /usr/sbin/turnserver ] && need_apt+=(coturn)
# Without a colour emoji font, reactions render as empty boxes in the browser tests' screenshots.
[ "$mode" = "test" ] && ! [ -f /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf ] && need_apt+=(fonts-noto-color-emoji)
if [ ${#need_apt[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "Installing Debian packages: ${need_apt[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "Please install: ${need_apt[*]} (as root: apt-get install ${need_apt[*]})" >&2
  fi
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
stamp=".venv/.installed${extras}"
if [ ! -f "$stamp" ] || [ setup.cfg -nt "$stamp" ] || [ constraints.txt -nt "$stamp" ]; then
  .venv/bin/pip install -q --disable-pip-version-check -c constraints.txt -e ".${extras}"
  touch "$stamp"
fi

# The federation tests with Synapse (tests/clients/test_federation_synapse.py) run this Synapse
# release from its own venv, .venv-synapse (its dependencies must not mix with ours). A failure here
# is reported, not fatal: those tests then fail with the reason, the rest still run.
SYNAPSE_VERSION=1.163.2
if [ "$mode" = "test" ]; then
  synapse_stamp=".venv-synapse/.installed-$SYNAPSE_VERSION"
  if [ ! -f "$synapse_stamp" ]; then
    { [ -x .venv-synapse/bin/python ] || python3 -m venv .venv-synapse; } \
      && .venv-synapse/bin/pip install -q --disable-pip-version-check "matrix-synapse==$SYNAPSE_VERSION" \
      && touch "$synapse_stamp" \
      || echo "installing matrix-synapse $SYNAPSE_VERSION into .venv-synapse failed: the Synapse tests will fail" >&2
  fi
fi

# The matrix-js-sdk end-to-end tests (tests/clients/test_js_sdk.py) need Node >= 20 and the exact
# packages of tests/clients/js/package-lock.json. npm writes node_modules/.package-lock.json on install.
# A failure here is reported, not fatal: those tests then fail with the reason, the rest still run.
js_dir=tests/clients/js
if [ "$mode" = "test" ]; then
  if ! command -v npm >/dev/null 2>&1; then
    echo "npm not found: the matrix-js-sdk tests will fail (install Node.js >= 20 with npm)" >&2
  elif [ ! -f "$js_dir/node_modules/.package-lock.json" ] \
      || [ "$js_dir/package-lock.json" -nt "$js_dir/node_modules/.package-lock.json" ]; then
    (cd "$js_dir" && npm ci --no-audit --no-fund --loglevel=error) \
      || echo "npm ci in $js_dir failed: the matrix-js-sdk tests will fail" >&2
  fi
fi
