#!/usr/bin/env bash
# A local PostgreSQL for the warehouse loads (target-postgres) and the pipeline tests.
#
#   ./scripts/postgres.sh            # install/initialise/start when needed; prints the DSN
#   eval "$(./scripts/postgres.sh --env)"   # exports TARGET_POSTGRES_* for meltano
#   ./scripts/postgres.sh --stop     # stops the server this script started
#
# - Installs Debian's `postgresql` package (apt-get) when no server binary exists.
# - Initialises its own cluster (never touches the system's clusters): in ./.postgres, or in
#   /tmp/exact-online-postgres when run as root (the server then runs as the `postgres` user,
#   which may not be able to reach the project directory).
# - Listens on 127.0.0.1 only, port $EXACT_PG_PORT (default 54329; when that port is taken by
#   something else and EXACT_PG_PORT is not set, a free port is used instead).
# - Creates the login $EXACT_PG_USER/$EXACT_PG_PASSWORD (exact/exact, allowed to create
#   databases) and the database $EXACT_PG_DATABASE (exact_warehouse). Idempotent, and fast
#   when the server already runs.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"

ACTION=dsn
case "${1:-}" in
  "" | --dsn) ACTION=dsn ;;
  --env) ACTION=env ;;
  --stop) ACTION=stop ;;
  -h | --help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "usage: $0 [--dsn|--env|--stop]" >&2; exit 2 ;;
esac

PG_USER="${EXACT_PG_USER:-exact}"
PG_PASSWORD="${EXACT_PG_PASSWORD:-exact}"
PG_DATABASE="${EXACT_PG_DATABASE:-exact_warehouse}"
PORT_REQUESTED="${EXACT_PG_PORT:-}"
DEFAULT_PORT=54329
if [ "$(id -u)" = 0 ]; then
  BASE="${EXACT_PG_DIR:-/tmp/exact-online-postgres}"
else
  BASE="${EXACT_PG_DIR:-$ROOT/.postgres}"
fi
DATA="$BASE/data"
SOCKETS="$BASE/run"
LOG="$BASE/server.log"

log() { echo "postgres.sh: $*" >&2; }

as_server_user() {
  # The server refuses to run as root: as root, run its tools as the `postgres` user.
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

find_bindir() {
  local candidate
  if [ -n "${EXACT_PG_BINDIR:-}" ]; then
    echo "$EXACT_PG_BINDIR"
    return 0
  fi
  # Debian/Ubuntu keep the server outside PATH: /usr/lib/postgresql/<major>/bin.
  for candidate in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5 -n -r); do
    if [ -x "$candidate/postgres" ] && [ -x "$candidate/initdb" ]; then
      echo "$candidate"
      return 0
    fi
  done
  candidate="$(command -v postgres 2>/dev/null || true)"
  if [ -n "$candidate" ] && [ -x "$(dirname "$candidate")/initdb" ]; then
    dirname "$candidate"
    return 0
  fi
  return 1
}

install_server() {
  log "no PostgreSQL server found; installing Debian's postgresql package"
  local sudo=""
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
      sudo="sudo"
    else
      log "not root and no sudo: install PostgreSQL yourself (apt-get install postgresql)"
      exit 1
    fi
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    log "no apt-get on this machine: install a PostgreSQL server and set EXACT_PG_BINDIR"
    exit 1
  fi
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
}

port_in_use() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

running_port() {
  # Our server runs when pg_ctl says so and it answers; its port is line 4 of postmaster.pid.
  [ -f "$DATA/postmaster.pid" ] || return 1
  local port
  port="$(sed -n 4p "$DATA/postmaster.pid")"
  as_server_user "$BINDIR/pg_ctl" status -D "$DATA" >/dev/null 2>&1 || return 1
  "$BINDIR/pg_isready" -q -h "$SOCKETS" -p "$port" -t 5 || return 1
  echo "$port"
}

clear_stale_pid() {
  # A server killed hard (or left a zombie) keeps postmaster.pid; a new one would refuse to
  # start next to it. Only called when nothing answers on the recorded port.
  if [ -f "$DATA/postmaster.pid" ]; then
    log "removing the stale $DATA/postmaster.pid of a server that no longer answers"
    as_server_user rm -f "$DATA/postmaster.pid"
  fi
  # Its socket lock files name the dead server's PID too (which may belong to another process now).
  as_server_user rm -f "$SOCKETS"/.s.PGSQL.* 2>/dev/null || true
}

pick_port() {
  local port="${PORT_REQUESTED:-$DEFAULT_PORT}"
  if port_in_use "$port"; then
    if [ -n "$PORT_REQUESTED" ]; then
      log "port $port (EXACT_PG_PORT) is already taken by another program"
      exit 1
    fi
    port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    log "port $DEFAULT_PORT is taken by another program; using $port"
  fi
  echo "$port"
}

init_cluster() {
  mkdir -p "$BASE"
  if [ "$(id -u)" = 0 ]; then
    chown postgres:postgres "$BASE"
    chmod 700 "$BASE"
  fi
  as_server_user mkdir -p "$SOCKETS"
  if [ ! -f "$DATA/PG_VERSION" ]; then
    log "initialising a cluster in $DATA"
    as_server_user "$BINDIR/initdb" -D "$DATA" -U postgres --auth-local=trust \
      --auth-host=scram-sha-256 --encoding=UTF8 --no-locale >/dev/null
  fi
}

start_server() {
  local port="$1"
  log "starting PostgreSQL on 127.0.0.1:$port (log: $LOG)"
  as_server_user "$BINDIR/pg_ctl" start -D "$DATA" -l "$LOG" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $SOCKETS -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
    >/dev/null
}

sql() {
  as_server_user "$BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -h "$SOCKETS" -p "$PORT" -U postgres \
    -d postgres -tA "$@"
}

ensure_database() {
  local quoted_password="${PG_PASSWORD//\'/\'\'}"
  # CREATEDB: tests make throwaway databases of their own (token stores, Meltano state).
  if [ "$(sql -c "SELECT 1 FROM pg_roles WHERE rolname = '$PG_USER'")" != 1 ]; then
    sql -c "CREATE ROLE \"$PG_USER\" LOGIN CREATEDB PASSWORD '$quoted_password'"
  else
    sql -c "ALTER ROLE \"$PG_USER\" LOGIN CREATEDB PASSWORD '$quoted_password'"
  fi
  if [ "$(sql -c "SELECT 1 FROM pg_database WHERE datname = '$PG_DATABASE'")" != 1 ]; then
    sql -c "CREATE DATABASE \"$PG_DATABASE\" OWNER \"$PG_USER\""
  fi
}

if ! BINDIR="$(find_bindir)"; then
  if [ "$ACTION" = stop ]; then
    exit 0
  fi
  install_server
  BINDIR="$(find_bindir)" || { log "the postgresql package installed no server binary"; exit 1; }
fi

if [ "$ACTION" = stop ]; then
  if running_port >/dev/null; then
    as_server_user "$BINDIR/pg_ctl" stop -D "$DATA" -m fast -w >/dev/null
    log "stopped the server in $DATA"
  fi
  exit 0
fi

if PORT="$(running_port)"; then
  :
else
  init_cluster
  clear_stale_pid
  PORT="$(pick_port)"
  start_server "$PORT"
fi
ensure_database

DSN="postgresql://$PG_USER:$PG_PASSWORD@127.0.0.1:$PORT/$PG_DATABASE"
if [ "$ACTION" = env ]; then
  cat <<EOF
export EXACT_PG_DSN='$DSN'
export TARGET_POSTGRES_HOST=127.0.0.1
export TARGET_POSTGRES_PORT=$PORT
export TARGET_POSTGRES_USER='$PG_USER'
export TARGET_POSTGRES_PASSWORD='$PG_PASSWORD'
export TARGET_POSTGRES_DATABASE='$PG_DATABASE'
EOF
else
  echo "$DSN"
fi
