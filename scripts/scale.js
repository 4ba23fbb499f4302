#!/usr/bin/env node
// `npm run scale -- N`: sets the number of workers to N without dropping anyone else's
// connection. Scales the PM2 cluster, waits for the new workers to be ready, then regenerates
// the nginx upstream list from the workers actually running and reloads nginx gracefully
// (nginx keeps its open WebSocket connections across a reload).
'use strict';
const { execFileSync } = require('node:child_process');
const path = require('node:path');
const cluster = require('./cluster');

const s = cluster.settings();
const n = Number(process.argv[2]);
if (!Number.isInteger(n) || n < 1 || n > 64) {
  console.error('usage: npm run scale -- <workers 1-64>');
  process.exit(2);
}
const pm2 = path.join(cluster.ROOT, 'node_modules', '.bin', 'pm2');
const name = `${s.name}-worker`;

function runningPorts() {
  const list = JSON.parse(execFileSync(pm2, ['jlist'], { encoding: 'utf8' }));
  return list
    .filter((p) => p.name === name && p.pm2_env.status === 'online')
    .map((p) => s.workerPortBase + Number(p.pm2_env.NODE_APP_INSTANCE))
    .sort((a, b) => a - b);
}

async function ready(port) {
  try {
    return (await fetch(`http://127.0.0.1:${port}/readyz`)).ok;
  } catch {
    return false;
  }
}

async function main() {
  execFileSync(pm2, ['scale', name, String(n)], { stdio: 'inherit' });
  const deadline = Date.now() + 60_000;
  let ports = runningPorts();
  while (Date.now() < deadline) {
    ports = runningPorts();
    if (ports.length === n && (await Promise.all(ports.map(ready))).every(Boolean)) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  if (ports.length !== n) throw new Error(`expected ${n} workers online, found ${ports.length}`);
  cluster.writeNginxConf(s, ports);
  cluster.reloadNginx(s);
  console.log(`chatfabric: ${n} worker(s) on ports ${ports.join(', ')}; nginx reloaded`);
}

main().catch((err) => {
  console.error(`chatfabric: scale failed: ${err.message}`);
  process.exit(1);
});
