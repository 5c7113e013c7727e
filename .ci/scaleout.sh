#!/usr/bin/env bash
# Scale-out (issue #21): three instances of the server on one fresh PostgreSQL database behind
# a private HAProxy (Debian's package; installed if missing), one killed with SIGKILL mid-run
# and restarted (test/scaleout/scaleout.test.ts, `npm run test:scaleout`). The test starts
# HAProxy itself, in the foreground on its own config and a free port; Debian's service is
# disabled. The database is created here and dropped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

PGHOST=127.0.0.1
PGPORT=5432
export PGUSER=postgres
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"

if ! command -v haproxy >/dev/null && [ ! -x /usr/sbin/haproxy ]; then
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends haproxy
  # Debian enables its own service on install; ours runs on its own config and port only.
  $SUDO systemctl disable --now haproxy >/dev/null 2>&1 || true
fi
"$(command -v haproxy || echo /usr/sbin/haproxy)" -v | sed -n 1p

if ! pg_isready -h "$PGHOST" -p "$PGPORT" -q; then
  $SUDO pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
  for _ in $(seq 1 30); do pg_isready -h "$PGHOST" -p "$PGPORT" -q && break; sleep 1; done
fi

DB="latchkey_scaleout_$(date +%s)_$$"
cleanup() {
  status=$?
  psql -h "$PGHOST" -p "$PGPORT" -d postgres -q -c "DROP DATABASE IF EXISTS \"$DB\" WITH (FORCE)" || true
  exit "$status"
}
trap cleanup EXIT
psql -h "$PGHOST" -p "$PGPORT" -d postgres -v ON_ERROR_STOP=1 -q -c "CREATE DATABASE \"$DB\""

TEST_DATABASE_URL="postgres://$PGUSER@$PGHOST:$PGPORT/$DB" npm run test:scaleout -- "$@"
