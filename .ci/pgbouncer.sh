#!/usr/bin/env bash
# The contract suite through PgBouncer in transaction mode, DATABASE_PREPARE=false: the
# topology most hosted PostgreSQL offers as its pooler (issue 15 §7). A private PgBouncer
# (Debian's package; installed if missing) listens on a free port in front of PostgreSQL at
# 127.0.0.1:5432; a fresh database is created and migrated directly, and each test file's
# database is reached through the pooler. Everything is stopped and dropped on exit.
#
#   bash .ci/pgbouncer.sh                 the contract suite and the PostgreSQL adapter tests
#   bash .ci/pgbouncer.sh test/http/x.ts  other test files through the same pooler
set -euo pipefail
cd "$(dirname "$0")/.."

PGHOST=127.0.0.1
PGPORT=5432
export PGUSER=postgres
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"

if ! command -v pgbouncer >/dev/null && [ ! -x /usr/sbin/pgbouncer ]; then
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends pgbouncer
  # Debian enables its own service on install; ours runs on its own config and port only.
  $SUDO systemctl disable --now pgbouncer >/dev/null 2>&1 || true
fi
PGBOUNCER=$(command -v pgbouncer || echo /usr/sbin/pgbouncer)

if ! pg_isready -h "$PGHOST" -p "$PGPORT" -q; then
  $SUDO pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
  for _ in $(seq 1 30); do pg_isready -h "$PGHOST" -p "$PGPORT" -q && break; sleep 1; done
fi

PORT=$(node -e "const s=require('node:net').createServer();s.listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")
DIR=$(mktemp -d "${TMPDIR:-/tmp}/latchkey-pgbouncer.XXXXXX")
DB="latchkey_pgbouncer_$(date +%s)_$$"
PID=""

cleanup() {
  status=$?
  if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
    kill "$PID" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
  fi
  psql -h "$PGHOST" -p "$PGPORT" -d postgres -q -c "DROP DATABASE IF EXISTS \"$DB\" WITH (FORCE)" || true
  if [ "$status" -ne 0 ] && [ -f "$DIR/pgbouncer.log" ]; then
    echo "--- pgbouncer.log (last lines)"
    tail -n 40 "$DIR/pgbouncer.log" || true
  fi
  $SUDO rm -rf "$DIR"
  exit "$status"
}
trap cleanup EXIT

# PgBouncer refuses to run as root: as root, it drops to the postgres user (-u), which must
# be able to read its config and write its log and pid file.
RUN_AS=()
if [ "$(id -u)" -eq 0 ]; then
  RUN_AS=(-u postgres)
  chown postgres "$DIR"
fi

# max_prepared_statements (PgBouncer >= 1.21) would let the pooler carry named statements
# across server connections; 0 keeps the strict behaviour of older versions (1.18 in Debian 12
# has no such setting and always behaves so).
VERSION=$("$PGBOUNCER" --version | awk 'NR==1 {print $2}')
EXTRA=""
if printf '1.21\n%s\n' "$VERSION" | sort -V -C; then EXTRA="max_prepared_statements = 0"; fi

cat >"$DIR/userlist.txt" <<EOF
"$PGUSER" ""
EOF
cat >"$DIR/pgbouncer.ini" <<EOF
[databases]
* = host=$PGHOST port=$PGPORT

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $PORT
unix_socket_dir =
auth_type = trust
auth_file = $DIR/userlist.txt
pool_mode = transaction
max_client_conn = 1000
default_pool_size = 10
logfile = $DIR/pgbouncer.log
pidfile = $DIR/pgbouncer.pid
ignore_startup_parameters = extra_float_digits
$EXTRA
EOF
[ "$(id -u)" -eq 0 ] && chown postgres "$DIR"/*

"$PGBOUNCER" -d "${RUN_AS[@]}" "$DIR/pgbouncer.ini"
for _ in $(seq 1 50); do [ -s "$DIR/pgbouncer.pid" ] && break; sleep 0.1; done
PID=$(cat "$DIR/pgbouncer.pid")
for _ in $(seq 1 50); do pg_isready -h 127.0.0.1 -p "$PORT" -q && break; sleep 0.1; done
echo "PgBouncer $VERSION (pid $PID) on 127.0.0.1:$PORT, transaction mode, in front of $PGHOST:$PGPORT"

# The pooler answers. (Not on $DB: the pooler would keep a server connection to it open, and
# each test file clones $DB, which PostgreSQL refuses while anyone is connected to it.)
psql -h 127.0.0.1 -p "$PORT" -d postgres -v ON_ERROR_STOP=1 -tAq -c "SELECT 'PostgreSQL through the pooler: ' || version()"
psql -h "$PGHOST" -p "$PGPORT" -d postgres -v ON_ERROR_STOP=1 -q -c "CREATE DATABASE \"$DB\""

FILES=("$@")
[ ${#FILES[@]} -eq 0 ] && FILES=(test/contract/contract.test.ts test/adapters/store-contract.test.ts test/postgres-prepared.test.ts test/postgres-answers.test.ts test/postgres-migrate.test.ts)
TEST_DATABASE_URL="postgres://$PGUSER@$PGHOST:$PGPORT/$DB" \
  TEST_DATABASE_POOLER_URL="postgres://$PGUSER@127.0.0.1:$PORT" \
  TEST_DATABASE_PREPARE=false \
  npx vitest run "${FILES[@]}"
