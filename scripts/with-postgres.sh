#!/usr/bin/env bash
# Runs a command with DATABASE_URL pointing at a throwaway PostgreSQL cluster.
#
#   scripts/with-postgres.sh cargo test -p monitor-store-timescale
#
# The cluster lives in a temp dir, listens on 127.0.0.1 on a free port, is run as the
# `postgres` user when this script runs as root, and is stopped and removed on exit.
# PostgreSQL is installed with apt-get when it is missing and we are root.
# If DATABASE_URL is already set, the command runs against that server unchanged.
set -euo pipefail

if [[ -n "${DATABASE_URL:-}" ]]; then
  exec "$@"
fi

pg_bin() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  [[ -n "$dir" && -x "$dir/initdb" ]] && echo "$dir"
}

BIN=$(pg_bin || true)
if [[ -z "$BIN" ]]; then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    echo "with-postgres: installing PostgreSQL with apt-get" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq postgresql >/dev/null
    BIN=$(pg_bin)
  else
    echo "with-postgres: PostgreSQL server binaries not found and cannot install them (not root)" >&2
    exit 1
  fi
fi

RUN_AS=()
if [[ $(id -u) -eq 0 ]]; then
  RUN_AS=(runuser -u postgres --)
fi

DIR=$(mktemp -d /tmp/monitor-pg.XXXXXX)
chmod 755 "$DIR"
[[ $(id -u) -eq 0 ]] && chown postgres:postgres "$DIR"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

cleanup() {
  "${RUN_AS[@]}" "$BIN/pg_ctl" -D "$DIR/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$DIR"
}
trap cleanup EXIT

"${RUN_AS[@]}" "$BIN/initdb" -D "$DIR/data" -U postgres --auth=trust -E UTF8 --no-sync >/dev/null
cat >>"$DIR/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$DIR'
max_connections = 300
fsync = off
synchronous_commit = off
full_page_writes = off
shared_buffers = 256MB
max_locks_per_transaction = 256
CONF
"${RUN_AS[@]}" "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 start >/dev/null
export DATABASE_URL="postgres://postgres@127.0.0.1:$PORT/postgres"
export MONITOR_PG_BIN="$BIN" MONITOR_PG_DATA="$DIR/data" MONITOR_PG_RUN_AS="${RUN_AS[*]}"
echo "with-postgres: PostgreSQL $("$BIN/postgres" --version | awk '{print $3}') at $DATABASE_URL" >&2
set +e
"$@"
status=$?
set -e
exit $status
