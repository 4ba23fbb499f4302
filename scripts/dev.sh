#!/usr/bin/env bash
# `npm run dev`: the local cluster with hot reload (tsc --watch rebuilds, PM2 restarts the
# workers when dist/ changes, pretty logs), then follows the logs. Ctrl-C stops following;
# `npm stop` stops the cluster.
set -euo pipefail
cd "$(dirname "$0")/.."
CHATFABRIC_DEV=1 bash scripts/start.sh
exec node_modules/.bin/pm2 logs
