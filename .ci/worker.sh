#!/usr/bin/env bash
# The worker in workerd (wrangler dev --local) on a fresh PostgreSQL database: the shared
# contract tests (test/contract) against two workers (default config; REFRESH_REUSE_GRACE=0),
# with a Node app on the same database for the cross-runtime password-hash test.
set -euo pipefail
cd "$(dirname "$0")/.."
PGHOST=127.0.0.1 PGPORT=5432
export PGUSER=postgres
DB="latchkey_ci_worker_$(date +%s)_$$"
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
  sleep 1
  for pid in "${PIDS[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || true; done
  psql -h "$PGHOST" -p "$PGPORT" -d postgres -q -c "DROP DATABASE IF EXISTS \"$DB\" WITH (FORCE)" || true
  rm -rf "$WORK"
}
trap cleanup EXIT
psql -h "$PGHOST" -p "$PGPORT" -d postgres -v ON_ERROR_STOP=1 -q -c "CREATE DATABASE \"$DB\""
export DATABASE_URL="postgres://postgres@$PGHOST:$PGPORT/$DB"
npm run -s db:migrate

# The test master secret (test/support/harness.ts): the Node app of the cross-runtime test
# opens the same signing keys. Plenty of sign-ups from one address.
export MASTER_SECRET='test-master-secret-0123456789-abcdefghijklmnopqrstuvwxyz'
export NODE_ENV=test ISSUER=http://localhost:3000 REGISTRATIONS_PER_IP=1000000
export ALLOWED_ORIGINS=https://app.example.com DATA_DIR="$WORK"
# Ports the system hands out (and takes back) rather than random guesses; each worker's
# inspector listens on its port + 10000 (scripts/dev-worker.mjs), so pick below 55535.
free_port() {
  node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{const p=s.address().port;s.close(()=>console.log(p))})'
}
PORT_MAIN=$(free_port); while [ "$PORT_MAIN" -gt 55000 ]; do PORT_MAIN=$(free_port); done
PORT_NO_GRACE=$(free_port); while [ "$PORT_NO_GRACE" -gt 55000 ] || [ "$PORT_NO_GRACE" = "$PORT_MAIN" ]; do PORT_NO_GRACE=$(free_port); done
setsid npm run -s dev:worker -- --port "$PORT_MAIN" >"$WORK/main.log" 2>&1 &
PIDS+=($!)
REFRESH_REUSE_GRACE=0 setsid npm run -s dev:worker -- --port "$PORT_NO_GRACE" >"$WORK/no-grace.log" 2>&1 &
PIDS+=($!)
for port in "$PORT_MAIN" "$PORT_NO_GRACE"; do
  for i in $(seq 1 60); do
    curl -sf "http://127.0.0.1:$port/health" >/dev/null && break
    if [ "$i" -eq 60 ]; then echo "worker on $port did not start"; cat "$WORK"/*.log; exit 1; fi
    sleep 1
  done
done
echo "workers ready on $PORT_MAIN and $PORT_NO_GRACE (workerd, PostgreSQL $DB)"
CONTRACT_WORKER_URL="http://127.0.0.1:$PORT_MAIN" \
  CONTRACT_WORKER_URL_NO_GRACE="http://127.0.0.1:$PORT_NO_GRACE" \
  CONTRACT_DATABASE_URL="$DATABASE_URL" \
  npx vitest run test/contract || { echo "worker logs:"; tail -50 "$WORK"/*.log; exit 1; }

# The Cron Trigger's handler (cleanup), as wrangler dev exposes it.
curl -sf "http://127.0.0.1:$PORT_MAIN/cdn-cgi/handler/scheduled?cron=*/5+*+*+*+*" >/dev/null
for _ in $(seq 1 20); do grep -q '"msg":"cleanup"' "$WORK/main.log" && break; sleep 0.5; done
grep -q '"msg":"cleanup"' "$WORK/main.log" || { echo "the scheduled cleanup did not run"; tail -30 "$WORK/main.log"; exit 1; }
echo "scheduled cleanup ran: $(grep -o '"deleted":{[^}]*}' "$WORK/main.log" | tail -1)"
