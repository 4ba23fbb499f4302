#!/usr/bin/env bash
# `npm stop`: stops the local cluster. Workers first, so they drain (releasing presence in Redis
# and announcing leaves through NATS) while NATS and Redis are still up; then everything else.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/sbin"
pm2=node_modules/.bin/pm2
"$pm2" delete "${CHATFABRIC_NAME:-chatfabric}-worker" || true
"$pm2" delete "${CHATFABRIC_NAME:-chatfabric}-tsc" >/dev/null 2>&1 || true  # npm run dev only
"$pm2" delete "${CHATFABRIC_NAME:-chatfabric}-tsc-web" >/dev/null 2>&1 || true  # npm run dev only
"$pm2" delete ecosystem.config.js || true
