#!/usr/bin/env bash
# The dashboard's tests: installs what they need when missing (Debian's chromium, npm
# packages), checks that the committed bundle matches dashboard/ sources, runs the Vitest
# unit and component tests, builds monitor-server and runs the end-to-end tests in real
# headless Chromium against it. Called by scripts/test.sh; runs on its own too.
#
#   scripts/test-dashboard.sh            everything
#   SKIP_E2E=1 scripts/test-dashboard.sh   no server build, no browser
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "test-dashboard: node/npm not found, installing with apt-get" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm
  else
    echo "test-dashboard: node and npm are needed (Node 20.19+)" >&2
    exit 1
  fi
fi

CHROMIUM=${CHROMIUM_PATH:-/usr/bin/chromium}
if [[ -z ${SKIP_E2E:-} && ! -x $CHROMIUM ]]; then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "test-dashboard: $CHROMIUM not found, installing Debian's chromium" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-liberation
  else
    echo "test-dashboard: $CHROMIUM not found; install Debian's chromium (apt-get install -y chromium)" >&2
    exit 1
  fi
fi

cd dashboard
# npm ci when node_modules is missing or older than the lockfile.
if [[ ! -d node_modules || package-lock.json -nt node_modules/.package-lock.json ]]; then
  npm ci --no-audit --no-fund
fi

echo "test-dashboard: stale-bundle check" >&2
npm run --silent check-bundle

echo "test-dashboard: typecheck and Vitest" >&2
npm run --silent typecheck
npx vitest run

if [[ -n ${SKIP_E2E:-} ]]; then
  echo "test-dashboard: SKIP_E2E set, not running the browser tests" >&2
  exit 0
fi

echo "test-dashboard: building monitor-server" >&2
(cd .. && cargo build -p monitor-server)
target_dir=${CARGO_TARGET_DIR:-$(cd .. && pwd)/target}
export MONITOR_SERVER_BIN=${MONITOR_SERVER_BIN:-$target_dir/debug/monitor-server}
export CHROMIUM_PATH=$CHROMIUM

echo "test-dashboard: end-to-end tests in headless Chromium" >&2
npm run --silent e2e
