#!/usr/bin/env bash
# The README's run command (`npm start`): set up, then start the whole local fabric under PM2
# (pm2 start ecosystem.config.js): nats-server, redis-server, the workers in cluster mode and
# nginx on 8080. Waits until chat is served through nginx, then shows the process list.
# `npm stop` stops all of it. Knobs: see ecosystem.config.js and docs/operations.md.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PATH:/usr/sbin"
# The PM2 daemon is the cluster master; with the default round-robin scheduling it accepts every
# connection and passes it to a worker (a core's worth of work in a connect storm). With "none"
# each worker accepts from the shared socket itself. Read when the daemon starts.
export NODE_CLUSTER_SCHED_POLICY=none
pm2=node_modules/.bin/pm2
"$pm2" start ecosystem.config.js
port=${CHATFABRIC_PORT:-8080}
# Ready: every worker's /readyz on its own port, and nginx passing /ws to a worker (a plain GET
# gets the worker's 426; nginx itself serves only the browser client, never /readyz).
ready='
  const c = require("./scripts/cluster");
  const s = c.settings();
  const is = (url, ok) => fetch(url).then(ok, () => false);
  Promise.all([
    is(`http://127.0.0.1:${s.publicPort}/ws`, (r) => r.status === 426),
    ...c.workerPorts(s, s.workers).map((p) => is(`http://127.0.0.1:${p}/readyz`, (r) => r.ok)),
  ]).then((all) => process.exit(all.every(Boolean) ? 0 : 1));
'
for _ in $(seq 150); do
  if node -e "$ready"; then
    "$pm2" ls
    echo "chatfabric: chat at http://127.0.0.1:$port/ (WebSocket ws://127.0.0.1:$port/ws) through nginx; logs: npx pm2 logs; stop: npm stop"
    exit 0
  fi
  sleep 0.2
done
echo "chatfabric: not ready after 30 s; see npx pm2 logs and .run/logs/" >&2
exit 1
