#!/usr/bin/env bash
# Side-by-side benchmark of issue 9: agent-monitor (memory, SQLite and PostgreSQL stores)
# against VictoriaMetrics and InfluxDB 1.x, on this machine, same workload, same run.
#
#   scripts/bench-peers.sh                      # the full run (1M events, ~15-30 min)
#   scripts/bench-peers.sh --events 100000 --combos 10000x4 --reps 20   # a quick look
#
# Extra arguments go to `monitor-bench run` (see `monitor-bench run --help`).
# What it does:
#   1. installs the peers from Debian's packages when missing (as root; `victoria-metrics`,
#      `influxdb`); a peer that cannot be had is left out and said so;
#   2. builds monitor-server and monitor-bench in release mode;
#   3. runs `monitor-bench run` under scripts/with-postgres.sh (a throwaway PostgreSQL
#      cluster for the PostgreSQL store and the raw COPY baseline). monitor-bench starts
#      every server itself, on a free 127.0.0.1 port with data in its own temp dir, and
#      stops it after its measurement;
#   4. writes the table to $BENCH_OUT (default target/bench/peers-<time>.md) with the
#      machine load before and after.
# It stops only what it started: on exit a trap signals the pids monitor-bench recorded,
# and only if they are still one of the three servers. Not part of CI (too long).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=${BENCH_OUT:-$TARGET_DIR/bench/peers-$STAMP.md}
WORK=$(mktemp -d /tmp/monitor-bench-peers.XXXXXX)
PIDS=$WORK/pids
POLICY=/usr/sbin/policy-rc.d
POLICY_ADDED=0

cleanup() {
  local pid
  if [[ -f $PIDS ]]; then
    while read -r pid; do
      [[ -n $pid ]] || continue
      if grep -qaE 'monitor-server|victoria-metrics|influxd' "/proc/$pid/cmdline" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
        kill -KILL "$pid" 2>/dev/null || true
      fi
    done <"$PIDS"
  fi
  if [[ $POLICY_ADDED == 1 ]]; then rm -f "$POLICY"; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { echo "bench-peers: $*" >&2; }

# Installs what is missing. Debian's packages would start system services on install:
# a temporary policy-rc.d (only if none exists) forbids that; we start our own copies.
install_peers() {
  local missing=()
  command -v victoria-metrics >/dev/null || missing+=(victoria-metrics)
  command -v influxd >/dev/null || missing+=(influxdb)
  ((${#missing[@]})) || return 0
  if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
    say "missing ${missing[*]} and cannot apt-get install them (not root): those peers are left out"
    return 0
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  if [[ ! -e $POLICY ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$POLICY" && chmod 755 "$POLICY" && POLICY_ADDED=1
  fi
  local pkg
  for pkg in "${missing[@]}"; do
    if apt-cache show "$pkg" >/dev/null 2>&1; then
      say "installing $pkg from Debian"
      timeout 600 apt-get install -y -qq --no-install-recommends "$pkg" >/dev/null || say "installing $pkg failed: left out"
    else
      say "$pkg is not in this Debian release: left out"
    fi
  done
}

install_peers
command -v psql >/dev/null || say "psql not found: the PostgreSQL store and the COPY baseline need scripts/with-postgres.sh's PostgreSQL"

say "building monitor-server and monitor-bench (release)"
cargo build --release -q -p monitor-server -p monitor-bench

PEERS=()
if command -v victoria-metrics >/dev/null; then
  # Defaults otherwise (result cache on; `nocache=1` bypasses it per query).
  PEERS+=(--peer "victoriametrics=victoria-metrics -httpListenAddr=127.0.0.1:{port} -storageDataPath={dir}/vm -loggerLevel=ERROR")
fi
if command -v influxd >/dev/null; then
  # The package's /etc/influxdb/influxdb.conf is not read (-config /dev/null); everything
  # that matters is set here, the rest are InfluxDB's defaults (WAL fsync on every write).
  PEERS+=(--peer "influxdb=exec env INFLUXDB_REPORTING_DISABLED=true INFLUXDB_BIND_ADDRESS=127.0.0.1:{port2} INFLUXDB_HTTP_BIND_ADDRESS=127.0.0.1:{port} INFLUXDB_HTTP_LOG_ENABLED=false INFLUXDB_DATA_QUERY_LOG_ENABLED=false INFLUXDB_META_DIR={dir}/meta INFLUXDB_DATA_DIR={dir}/data INFLUXDB_DATA_WAL_DIR={dir}/wal influxd run -config /dev/null")
fi

mkdir -p "$(dirname "$OUT")"
{
  echo "# bench-peers $STAMP"
  echo
  echo "- host: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB; commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
  echo "- peers (Debian package versions): victoria-metrics $(dpkg-query -W -f='${Version}' victoria-metrics 2>/dev/null || echo absent), influxdb $(dpkg-query -W -f='${Version}' influxdb 2>/dev/null || echo absent)"
  echo "- load before: $(uptime | sed 's/.*load average: //')"
  echo
} >"$WORK/head.md"

set +e
timeout 7200 scripts/with-postgres.sh "$TARGET_DIR/release/monitor-bench" run \
  --server-bin "$TARGET_DIR/release/monitor-server" \
  --pid-file "$PIDS" \
  --out "$WORK/table.md" \
  "${PEERS[@]}" "$@"
status=$?
set -e
if [[ -f $WORK/table.md ]]; then
  { cat "$WORK/head.md" "$WORK/table.md"; echo; echo "- load after: $(uptime | sed 's/.*load average: //')"; } >"$OUT"
  say "table written to $OUT"
fi
exit $status
