#!/usr/bin/env bash
# The README's run command (`npm start`): set up, start a local nats-server and redis-server
# (on 14222 and 16379, so a NATS or Redis already on the standard ports is left alone) unless
# NATS_URL / REDIS_URL point elsewhere, then run one worker serving ws://127.0.0.1:8080/ws.
# Ctrl-C stops the worker, then the servers this script started (they run in their own
# session, so the terminal's Ctrl-C reaches only the worker, which drains first).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PATH:/usr/sbin"
run=.run
mkdir -p "$run/nats" "$run/redis" "$run/logs"
started=()
cleanup() {
  # One at a time, worker first: it drains (removing its presence) before Redis goes away.
  for pid in "${started[@]}"; do
    kill "$pid" 2>/dev/null || continue
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  done
  started=()
}
trap cleanup EXIT INT TERM

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() {
  for _ in $(seq 100); do port_open "$1" && return 0; sleep 0.1; done
  echo "chatfabric: $2 did not come up on port $1; see $run/logs" >&2
  exit 1
}

if [ -z "${NATS_URL:-}" ]; then
  nats_port=${CHATFABRIC_NATS_PORT:-14222}
  if port_open "$nats_port"; then
    echo "chatfabric: using the NATS already listening on 127.0.0.1:$nats_port"
  else
    setsid nats-server -a 127.0.0.1 -p "$nats_port" -m "${CHATFABRIC_NATS_MONITOR_PORT:-18222}" -sd "$run/nats" \
      >"$run/logs/nats.log" 2>&1 &
    started+=($!)
    wait_port "$nats_port" nats-server
  fi
  export NATS_URL="nats://127.0.0.1:$nats_port"
fi
if [ -z "${REDIS_URL:-}" ]; then
  redis_port=${CHATFABRIC_REDIS_PORT:-16379}
  if port_open "$redis_port"; then
    echo "chatfabric: using the Redis already listening on 127.0.0.1:$redis_port"
  else
    setsid redis-server --bind 127.0.0.1 --port "$redis_port" --dir "$PWD/$run/redis" --save 60 1 --appendonly no \
      >"$run/logs/redis.log" 2>&1 &
    started+=($!)
    wait_port "$redis_port" redis-server
  fi
  export REDIS_URL="redis://127.0.0.1:$redis_port"
fi

echo "chatfabric: serving ws://127.0.0.1:${PORT:-8080}/ws (NATS $NATS_URL, Redis $REDIS_URL); Ctrl-C stops"
node dist/src/main.js "$@" &
worker=$!
started=("$worker" "${started[@]}")
wait "$worker"
