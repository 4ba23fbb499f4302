// PM2 ecosystem for the local chatfabric cluster:  pm2 start ecosystem.config.js
// Workers in cluster mode (CHATFABRIC_WORKERS, default 2) on ports 9001, 9002, ...; an embedded
// nats-server and redis-server unless NATS_URL / REDIS_URL are given; nginx in front on 8080.
// Every knob is an environment variable read in scripts/cluster.js.
'use strict';
const path = require('node:path');
const cluster = require('./scripts/cluster');

const s = cluster.settings();
const d = cluster.dirs(s);
cluster.writeNginxConf(s, cluster.workerPorts(s, s.workers));

// Embedded servers only accept the credentials generated for this run directory.
const secrets = s.natsUrl && s.redisUrl ? null : cluster.secrets(s);
const natsUrl = s.natsUrl || `nats://127.0.0.1:${s.natsPort}`;
const redisUrl = s.redisUrl || `redis://:${secrets.redisPassword}@127.0.0.1:${s.redisPort}`;
const log = (name) => ({ out_file: path.join(d.logs, `${name}.out.log`), error_file: path.join(d.logs, `${name}.err.log`) });
const server = { interpreter: 'none', autorestart: true, max_restarts: 50, restart_delay: 500, merge_logs: true };

const apps = [];
if (!s.natsUrl) {
  apps.push({
    name: `${s.name}-nats`,
    script: cluster.binary('nats-server'),
    args: ['-c', secrets.natsConf, '-a', '127.0.0.1', '-p', String(s.natsPort), '-m', String(s.natsMonitorPort), '-n', `${s.name}-nats`],
    ...server,
    ...log('nats'),
  });
}
if (!s.redisUrl) {
  apps.push({
    name: `${s.name}-redis`,
    script: cluster.binary('redis-server'),
    // The configuration file (its password) first, as redis-server requires; noeviction: at
    // maxmemory writes fail with an error instead of presence claims vanishing silently.
    args: [
      secrets.redisConf,
      ...['--bind', '127.0.0.1', '--port', String(s.redisPort), '--dir', d.redis, '--save', '60 1', '--appendonly', 'no'],
      ...['--maxmemory', s.redisMaxMemory, '--maxmemory-policy', 'noeviction'],
    ],
    ...server,
    ...log('redis'),
  });
}
apps.push({
  name: `${s.name}-worker`,
  script: path.join(s.root, 'dist', 'src', 'main.js'),
  cwd: s.root,
  exec_mode: 'cluster',
  instances: s.workers,
  // Ready only once NATS and Redis are connected (main.ts sends "ready").
  wait_ready: true,
  listen_timeout: 30000,
  // Longer than the drain budget, so a draining worker is never killed mid-drain.
  kill_timeout: s.drainMs + 3000,
  max_memory_restart: s.maxMemory,
  node_args: s.semiSpaceMb > 0 ? [`--max-semi-space-size=${s.semiSpaceMb}`] : [],
  merge_logs: true,
  ...log('worker'),
  env: {
    NODE_ENV: 'production',
    HOST: '127.0.0.1',
    WORKER_PORT_BASE: String(s.workerPortBase),
    NATS_URL: natsUrl,
    ...(!s.natsUrl && { NATS_USER: secrets.natsUser, NATS_PASSWORD: secrets.natsPassword }),
    REDIS_URL: redisUrl,
    DRAIN_TIMEOUT_MS: String(s.drainMs),
    ALLOWED_ORIGINS: s.allowedOrigins,
  },
});
if (s.dev) {
  // npm run dev: recompile on every source change, and restart the workers when dist/ changes.
  const worker = apps[apps.length - 1];
  Object.assign(worker, { watch: [path.join(s.root, 'dist', 'src')], watch_delay: 500 });
  worker.env.LOG_PRETTY = 'true';
  worker.env.NODE_ENV = 'development';
  apps.push({
    name: `${s.name}-tsc`,
    script: path.join(s.root, 'node_modules', 'typescript', 'bin', 'tsc'),
    args: ['-p', 'tsconfig.json', '--watch', '--preserveWatchOutput'],
    cwd: s.root,
    autorestart: true,
    ...log('tsc'),
  });
  // The browser client: nginx serves dist/web from disk, so a page reload shows the change.
  apps.push({
    name: `${s.name}-tsc-web`,
    script: path.join(s.root, 'node_modules', 'typescript', 'bin', 'tsc'),
    args: ['-p', 'tsconfig.web.json', '--watch', '--preserveWatchOutput'],
    cwd: s.root,
    autorestart: true,
    ...log('tsc-web'),
  });
}
apps.push({
  name: `${s.name}-nginx`,
  script: cluster.binary('nginx'),
  args: [...cluster.nginxArgs(s), '-g', 'daemon off;'],
  ...server,
  ...log('nginx'),
});

module.exports = { apps };
