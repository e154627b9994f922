#!/usr/bin/env bash
# The one command that runs every test: Rust unit, integration and conformance tests
# (PostgreSQL suite against a throwaway cluster), doctests, and the dashboard's
# component and browser tests.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo-nextest >/dev/null 2>&1; then
  echo "test: cargo-nextest not found, installing" >&2
  cargo install --locked cargo-nextest
fi

scripts/with-postgres.sh bash -c '
  set -euo pipefail
  cargo nextest run --workspace --no-fail-fast
  cargo test --workspace --doc
'
if [[ -f dashboard/package.json ]]; then
  scripts/test-dashboard.sh
fi
