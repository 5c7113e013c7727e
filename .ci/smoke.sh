#!/usr/bin/env bash
# Starts the real server (`npm start`) on a fresh PGlite data directory, walks
# register -> login -> me -> refresh, restarts it and checks the session and the signing
# key survived. Exits non-zero on the first surprise.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA_DIR="$(mktemp -d)"
PORT="${SMOKE_PORT:-3999}"
BASE="http://127.0.0.1:$PORT"
LOG="$DATA_DIR/server.log"
export DATA_DIR PORT NODE_ENV=development

json() { node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const v=JSON.parse(s)[process.argv[1]];if(v===undefined)process.exit(3);console.log(v)})' "$1"; }

start() {
  if curl -s "$BASE/health" >/dev/null 2>&1; then echo "port $PORT is already serving: refusing to test someone else's server"; return 1; fi
  # Its own session, so that stop() reaches npm, tsx and node together.
  setsid npm start >"$LOG" 2>&1 &
  PID=$!
  for _ in $(seq 1 120); do
    if curl -sf "$BASE/health" >/dev/null 2>&1; then return 0; fi
    sleep 0.5
  done
  echo "server did not become healthy"; cat "$LOG"; return 1
}
# A graceful stop: SIGTERM, then wait for the whole process group to exit (the server closes
# its database and releases the data-directory lock on the way out). SIGKILL only after 30 s.
stop() {
  [ -n "${PID:-}" ] || return 0
  kill -TERM -- "-$PID" 2>/dev/null || true
  ( sleep 30; kill -KILL -- "-$PID" 2>/dev/null ) &
  local timer=$!
  wait "$PID" 2>/dev/null || true
  for _ in $(seq 1 120); do pgrep -g "$PID" >/dev/null 2>&1 || break; sleep 0.25; done
  kill "$timer" 2>/dev/null || true
  PID=""
}
cleanup() {
  status=$?
  [ "$status" -eq 0 ] || { echo "smoke failed (exit $status); server log:"; cat "$LOG" 2>/dev/null; }
  stop 2>/dev/null || true
  rm -rf "$DATA_DIR"
}
trap cleanup EXIT

start
post() { curl -sf -X POST "$BASE$1" -H 'content-type: application/json' -d "$2"; }
post /v1/auth/register '{"email":"smoke@example.com","password":"correct horse battery"}' >/dev/null
PAIR=$(post /v1/auth/login '{"email":"smoke@example.com","password":"correct horse battery","device_name":"ci"}')
ACCESS=$(echo "$PAIR" | json access_token)
REFRESH=$(echo "$PAIR" | json refresh_token)
curl -sf "$BASE/v1/users/me" -H "authorization: Bearer $ACCESS" >/dev/null
KID_BEFORE=$(curl -sf "$BASE/.well-known/jwks.json" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).keys[0].kid))')
stop
[ ! -e "$DATA_DIR/latchkey.lock" ] || { echo "the server exited without releasing its data-directory lock"; exit 1; }

start
KID_AFTER=$(curl -sf "$BASE/.well-known/jwks.json" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).keys[0].kid))')
[ "$KID_BEFORE" = "$KID_AFTER" ] || { echo "signing key changed across a restart"; exit 1; }
curl -sf "$BASE/v1/users/me" -H "authorization: Bearer $ACCESS" >/dev/null
NEW=$(post /v1/auth/refresh "{\"refresh_token\":\"$REFRESH\"}" | json refresh_token)
[ -n "$NEW" ] && [ "$NEW" != "$REFRESH" ]
SESSIONS=$(curl -sf "$BASE/v1/sessions" -H "authorization: Bearer $ACCESS" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).sessions.length))')
[ "$SESSIONS" = "1" ] || { echo "expected 1 session, got $SESSIONS"; exit 1; }
echo "smoke: register, login, restart, refresh and sessions all passed on PGlite"
