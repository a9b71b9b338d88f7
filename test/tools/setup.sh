#!/usr/bin/env bash
# Installs what the test suite needs that npm does not, then exits 0. Run by `npm run test:all`
# (the README's test command) and so by .ci/run, before vitest.
#
#   Debian packages: chromium   (web UI end-to-end tests, driven by playwright-core)
#                    nats-server (cluster-mode tests start their own JetStream servers)
#                    postgresql  (history tests start their own cluster with initdb)
#   helm + kubectl:  test/tools/install-helm.sh (chart and manifest tests)
#
# Quick when everything is already there: it looks for the binaries and returns without touching
# apt. Missing packages are installed with apt-get (as root, on Debian). Where that cannot work
# (not root, no apt-get) it stops at once with one line saying what to install, instead of letting
# the tests that need them fail one by one. Nothing here starts a service: each test starts the
# servers it needs on free loopback ports in temporary folders and stops them by PID.
set -euo pipefail
cd "$(dirname "$0")/../.."

chromium_bin="${CHROMIUM_PATH:-/usr/bin/chromium}"
missing=()
[ -x "$chromium_bin" ] || missing+=(chromium)
command -v nats-server >/dev/null 2>&1 || missing+=(nats-server)
# Debian puts the server binaries (initdb, postgres) outside PATH, one folder per major version.
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || command -v initdb >/dev/null 2>&1 || missing+=(postgresql)

if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "setup: the tests need ${missing[*]}: install them (Debian: sudo apt-get install -y --no-install-recommends ${missing[*]}) and run the test command again" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]} with apt-get" >&2
  log="$(mktemp)"
  if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
    tail -n 20 "$log" >&2
    echo "setup: apt-get could not install ${missing[*]} (output above)" >&2
    rm -f "$log"
    exit 1
  fi
  rm -f "$log"
fi

bash test/tools/install-helm.sh
